"""Tracing: record live LLM traffic into the store.

- :func:`capture` (``lo.capture(store)``) records every litellm call made by your code
  (completion, acompletion, streaming, embedding) as a span with model, provider, messages, tool
  calls, tokens, cost and errors, on the OpenTelemetry SDK (the same spans can go to any OTLP
  backend too).
- :func:`span` (``lo.span``) records your own steps (tool, retriever, chain, agent, ...) and
  nests the LLM calls inside them into one trace; :func:`attributes` attaches a session, user,
  tags or metadata.
- :class:`Collector` (and ``llmops-nb collect``) receives OTLP/HTTP traces from any
  OpenTelemetry-instrumented app into the store.

The package is called ``tracing`` (it was ``capture``) so that it never shadows the verb
``lo.capture``; ``llmops_nb.capture`` is a deprecated alias module for one release.

Example:
    >>> import llmops_nb as lo
    >>> with lo.span("chain", name="noop") as s:   # no capture active: nothing is recorded
    ...     s.set_output("ok")
    >>> lo.tracing.capture is lo.capture
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["capture", "Capture", "span", "Span", "SpanHandle", "attributes", "Collector", "StoreSpanExporter"]

_NAMES = {
    "capture": "llmops_nb.tracing._capture",
    "Capture": "llmops_nb.tracing._capture",
    "span": "llmops_nb.tracing._span",
    "Span": "llmops_nb.tracing._span",
    "SpanHandle": "llmops_nb.tracing._span",
    "attributes": "llmops_nb.tracing._context",
    "Collector": "llmops_nb.tracing._collector",
    "StoreSpanExporter": "llmops_nb.tracing._exporter",
}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        import importlib

        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'llmops_nb.tracing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.tracing._capture import Capture, capture
    from llmops_nb.tracing._collector import Collector
    from llmops_nb.tracing._context import attributes
    from llmops_nb.tracing._exporter import StoreSpanExporter
    from llmops_nb.tracing._span import Span, SpanHandle, span
