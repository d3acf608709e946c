"""Capture: record live LLM traffic into the store.

- ``capture(store, ...)`` (this module is callable: ``llmops_nb.capture(store)``, see
  :func:`llmops_nb.capture._capture.capture`) records every litellm call made by your code (completion, acompletion,
  streaming, embedding) as a span with model, provider, messages, tool calls, tokens, cost and
  errors, on the OpenTelemetry SDK (the same spans can go to any OTLP backend too).
- :func:`span` records your own steps (tool, retriever, chain, agent, ...) and nests the LLM
  calls inside them into one trace; :func:`attributes` attaches a session, user, tags or metadata.
- :class:`Collector` (and ``llmops-nb collect``) receives OTLP/HTTP traces from any
  OpenTelemetry-instrumented app into the store.

Example:
    >>> import llmops_nb as lo
    >>> with lo.span("chain", name="noop") as s:   # no capture active: nothing is recorded
    ...     s.set_output("ok")
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__all__ = ["capture", "Capture", "span", "Span", "SpanHandle", "attributes", "Collector", "StoreSpanExporter"]

_NAMES = {
    "Capture": "llmops_nb.capture._capture",
    "span": "llmops_nb.capture._span",
    "Span": "llmops_nb.capture._span",
    "SpanHandle": "llmops_nb.capture._span",
    "attributes": "llmops_nb.capture._context",
    "Collector": "llmops_nb.capture._collector",
    "StoreSpanExporter": "llmops_nb.capture._exporter",
}


def __getattr__(name: str) -> Any:
    if name == "capture":  # ``llmops_nb.capture`` is always this (callable) module
        return sys.modules[__name__]
    if name in _NAMES:
        import importlib

        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'llmops_nb.capture' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.capture._capture import Capture, capture
    from llmops_nb.capture._collector import Collector
    from llmops_nb.capture._context import attributes
    from llmops_nb.capture._exporter import StoreSpanExporter
    from llmops_nb.capture._span import Span, SpanHandle, span


class _CallableModule(types.ModuleType):
    """``llmops_nb.capture`` is both this package and the capture function: importing the
    package binds it as ``llmops_nb.capture``, so calling the module starts a capture."""

    def __call__(
        self,
        store: Any = None,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        metadata: Any = None,
        tags: Any = None,
        exporter: Any = None,
        set_global: bool = False,
        service_name: str = "llmops_nb",
    ) -> Capture:
        """Record every litellm call and :func:`span` step into ``store``; see :func:`capture`."""
        from llmops_nb.capture._capture import capture as _capture

        return _capture(store, session_id=session_id, user_id=user_id, metadata=metadata, tags=tags,
                        exporter=exporter, set_global=set_global, service_name=service_name)


sys.modules[__name__].__class__ = _CallableModule
