"""The callback fallback, for litellm calls the wrappers never see.

Code that imported a litellm function before the capture started (``from litellm import
completion``) holds the unwrapped function. A litellm callback catches those calls: the parent
context is taken when litellm calls ``log_pre_api_call`` (in the caller's context), the span is
written with litellm's own start and end times when the success or failure event arrives.
Calls that went through a wrapper are skipped (the in-call flag is set in their context)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llmops_nb.tracing._context import IN_CALL, current_attrs, current_capture
from llmops_nb.tracing._llm_spans import FUNCS, fail_llm_span, finish_llm_span, start_llm_span

if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.tracing._capture import Capture

__all__ = ["register_callback", "unregister_callback", "wait_for_callbacks"]

log = logging.getLogger("llmops_nb.capture")

_PENDING: dict[str, dict[str, Any]] = {}
_PENDING_LOCK = threading.Lock()
_CALLBACK: Any = None
_CALLBACK_LISTS = ("callbacks", "input_callback", "success_callback", "failure_callback",
                   "_async_input_callback", "_async_success_callback", "_async_failure_callback")


def _ns(t: Any) -> int | None:
    try:
        return int(t.timestamp() * 1e9) if t is not None else None
    except Exception:
        return None


def _make_callback() -> Any:
    from litellm.integrations.custom_logger import CustomLogger

    class _LlmopsCallback(CustomLogger):  # type: ignore[misc]
        """Records litellm calls that did not go through the capture's wrappers."""

        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            if IN_CALL.get():
                return
            cap = current_capture()
            cid = kwargs.get("litellm_call_id") if isinstance(kwargs, Mapping) else None
            if cap is None or not cap.active or not cid:
                return
            from opentelemetry import context as otel_context

            with _PENDING_LOCK:
                _PENDING.setdefault(cid, {"cap": cap, "ctx": otel_context.get_current(), "attrs": current_attrs(cap),
                                          "t0": time.time_ns(), "kwargs": kwargs})

        def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            _callback_done(kwargs, response_obj, start_time, end_time, None)

        async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            _callback_done(kwargs, response_obj, start_time, end_time, None)

        def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            _callback_done(kwargs, None, start_time, end_time, kwargs.get("exception") or RuntimeError("litellm call failed"))

        async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
            _callback_done(kwargs, None, start_time, end_time, kwargs.get("exception") or RuntimeError("litellm call failed"))

    return _LlmopsCallback()


def _callback_done(kwargs: Any, response_obj: Any, start_time: Any, end_time: Any, error: BaseException | None,
                   entry: dict[str, Any] | None = None) -> None:
    try:
        if entry is None:
            cid = kwargs.get("litellm_call_id")
            with _PENDING_LOCK:
                entry = _PENDING.pop(cid, None) if cid else None
        if entry is None:
            return
        cap: Capture = entry["cap"]
        if cap._tracer is None:
            return
        call_type = str(kwargs.get("call_type") or "completion")
        fn = call_type if call_type in FUNCS else ("embedding" if "embed" in call_type else "completion")
        provider = kwargs.get("custom_llm_provider")
        model = kwargs.get("model")
        call: dict[str, Any] = dict(kwargs.get("optional_params") or {})
        call.update({"model": f"{provider}/{model}" if provider and model and not str(model).startswith(f"{provider}/") else model,
                     "custom_llm_provider": provider, "stream": kwargs.get("stream")})
        if FUNCS[fn] == "llm":
            call["messages"] = kwargs.get("messages")
        else:
            call["input"] = kwargs.get("input")
        t_start = _ns(start_time) or entry.get("t0")
        span, info = start_llm_span(cap, fn, (), call, context=entry["ctx"], start_time=t_start, attrs=entry["attrs"])
        span.set_attribute("llmops.captured_by", "litellm_callback")
        if error is None and response_obj is None and end_time is None:  # litellm never reported an outcome
            span.set_attribute("llmops.incomplete", True)
            span.end()
            return
        if error is not None:
            fail_llm_span(span, error, end_time=_ns(end_time))
            return
        resp = kwargs.get("complete_streaming_response") or response_obj
        finish_llm_span(span, info, resp, end_time=_ns(end_time))
    except Exception as e:  # a callback must never break the user's call
        log.debug("llmops_nb: litellm callback failed: %s", e)


def register_callback(litellm: Any) -> None:
    global _CALLBACK
    try:
        if _CALLBACK is None:
            _CALLBACK = _make_callback()
        if _CALLBACK not in litellm.callbacks:
            litellm.callbacks.append(_CALLBACK)
    except Exception as e:  # older litellm without CustomLogger: wrappers still work
        log.debug("llmops_nb: could not register the litellm callback: %s", e)


def unregister_callback(litellm: Any) -> None:
    if _CALLBACK is None:
        return
    for name in _CALLBACK_LISTS:
        lst = getattr(litellm, name, None)
        if isinstance(lst, list):
            while _CALLBACK in lst:
                lst.remove(_CALLBACK)


def wait_for_callbacks(cap: Capture, timeout: float = 3.0) -> None:
    """Wait (briefly) for litellm's success/failure events of calls this capture is owed; calls
    still without an outcome are recorded with their inputs and ``llmops.incomplete``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _PENDING_LOCK:
            if not any(e["cap"] is cap for e in _PENDING.values()):
                return
        time.sleep(0.01)
    with _PENDING_LOCK:
        left = [(k, _PENDING.pop(k)) for k, e in list(_PENDING.items()) if e["cap"] is cap]
    for _, entry in left:
        _callback_done(entry["kwargs"], None, None, None, None, entry=entry)

