"""The span of one litellm call: started once here (by the wrappers and by the callback
fallback alike), finished with what the response says, or failed with the exception."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmops_nb.tracing._context import SpanAttrs, current_attrs
from llmops_nb.tracing._otel import invocation_parameters, json_value, message_attributes
from llmops_nb.tracing._response import model_provider, response_attributes

if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.tracing._capture import Capture

__all__ = ["FUNCS", "start_llm_span", "finish_llm_span", "fail_llm_span"]

log = logging.getLogger("llmops_nb.capture")

FUNCS = {"completion": "llm", "acompletion": "llm", "embedding": "embedding", "aembedding": "embedding"}


def start_llm_span(cap: Capture, fn: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], *, context: Any = None,
                   start_time: int | None = None, attrs: SpanAttrs | None = None) -> tuple[Any, dict[str, Any]]:
    """Open the span of a call to litellm's ``fn`` with these arguments; returns it and what
    its finish needs (kind, model, provider, messages, start clock)."""
    kind = FUNCS[fn]
    model = kwargs.get("model", args[0] if args else None)
    info: dict[str, Any] = {"fn": fn, "kind": kind, "model_arg": model, "t0": time.perf_counter()}
    a: dict[str, Any] = {"openinference.span.kind": "LLM" if kind == "llm" else "EMBEDDING",
                         "llmops.litellm.function": fn}
    short, provider = model_provider(model, kwargs)
    info["model"], info["provider"] = short, provider
    if kind == "llm":
        if short:
            a["llm.model_name"] = short
        messages = kwargs.get("messages", args[1] if len(args) > 1 else None)
        info["messages"] = messages
        a.update(message_attributes("llm.input_messages", messages or []))
        for i, tool in enumerate(kwargs.get("tools") or []):
            a[f"llm.tools.{i}.tool.json_schema"] = json_value(tool)
    else:
        if short:
            a["embedding.model_name"] = short
        inp = kwargs.get("input", args[1] if len(args) > 1 else None)
        a["input.value"] = json_value(inp)
    if provider:
        a["llm.provider"] = provider
    params = invocation_parameters(kwargs)
    if params:
        a["llm.invocation_parameters"] = params
    if kwargs.get("stream"):
        a["llmops.stream"] = True
    if kwargs.get("mock_response") is not None:
        a["llmops.mock_response"] = True
    call_meta = kwargs.get("metadata") if isinstance(kwargs.get("metadata"), Mapping) else None
    attrs = attrs if attrs is not None else current_attrs(cap)
    user = kwargs.get("user")
    attrs = attrs.merged(None, user if attrs.user_id is None and isinstance(user, str) else None, None,
                         {k: v for k, v in (call_meta or {}).items() if isinstance(k, str)})
    a.update(attrs.otel())
    span = cap._tracer.start_span(f"litellm.{fn}", context=context, attributes=a, start_time=start_time)
    return span, info


def finish_llm_span(span: Any, info: dict[str, Any], resp: Any, *, usage_estimated: bool = False,
                    extra: Mapping[str, Any] | None = None, end_time: int | None = None) -> None:
    """End the span with what the response says (recording never breaks the user's call)."""
    try:
        span.set_attributes(response_attributes(resp, info, usage_estimated))
        if extra:
            span.set_attributes(dict(extra))
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.OK))
    except Exception as e:  # never break the user's call
        log.debug("llmops_nb: could not record an LLM response: %s", e)
    span.end(end_time=end_time)


def fail_llm_span(span: Any, e: BaseException, end_time: int | None = None) -> None:
    """End the span as failed with this exception."""
    from opentelemetry.trace import Status, StatusCode

    try:
        span.record_exception(e)
        span.set_status(Status(StatusCode.ERROR, f"{type(e).__name__}: {e}"[:4000]))
    finally:
        span.end(end_time=end_time)
