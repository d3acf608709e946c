"""Wrapping litellm's functions while a capture is active.

``litellm.completion / acompletion / embedding / aembedding`` (on the ``litellm`` package and on
``litellm.main``) are replaced by wrappers that record the call in the caller's OpenTelemetry
context (so it nests under the user's :func:`span` steps, per asyncio task). Every recorded
call goes through :func:`_recording`: the in-call flag (nested litellm calls record once), the
span started (never breaking the call when it cannot be), failed on an exception, finished with
the response, a stream's span left open until the stream is consumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from llmops_nb.tracing._callbacks import register_callback, unregister_callback
from llmops_nb.tracing._context import IN_CALL, current_capture
from llmops_nb.tracing._llm_spans import FUNCS, fail_llm_span, finish_llm_span, start_llm_span
from llmops_nb.tracing._streams import wrap_stream

if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.tracing._capture import Capture

__all__ = ["patch_litellm", "unpatch_litellm"]

log = logging.getLogger("llmops_nb.capture")

_PATCH_LOCK = threading.RLock()
_PATCHED: dict[tuple[str, str], Any] = {}  # (module, attr) -> original function


class _Call:
    """One recorded litellm call: its span, and whether the call has returned."""

    def __init__(self, cap: Capture, span: Any, info: dict[str, Any], kwargs: Mapping[str, Any]) -> None:
        self.cap, self.span, self.info, self.kwargs = cap, span, info, kwargs
        self.returned = False

    def fail(self, e: BaseException) -> None:
        fail_llm_span(self.span, e)

    def finish(self, resp: Any) -> Any:
        """After the call returned: a stream is wrapped (its span ends when it is consumed), any
        other response ends the span now. Returns what the caller gets."""
        self.returned = True
        if self.kwargs.get("stream"):
            return wrap_stream(self.cap, self.span, self.info, resp)
        finish_llm_span(self.span, self.info, resp)
        return resp


@contextlib.contextmanager
def _recording(cap: Capture, fn: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[_Call | None]:
    """The one way a wrapped call is recorded: yields the call (None when its span could not be
    started: the call then runs unrecorded), fails its span if the call raises."""
    token = IN_CALL.set(True)
    try:
        try:
            call: _Call | None = _Call(cap, *start_llm_span(cap, fn, args, kwargs), kwargs)
        except Exception as e:  # recording must never break the call
            log.debug("llmops_nb: could not start an LLM span: %s", e)
            call = None
        try:
            yield call
        except BaseException as e:
            if call is not None and not call.returned:
                call.fail(e)
            raise
    finally:
        IN_CALL.reset(token)


def _make_wrapper(fn: str, orig: Any) -> Any:
    if fn.startswith("a"):
        @functools.wraps(orig)
        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            cap = current_capture()
            if cap is None or not cap.active or IN_CALL.get():
                return await orig(*args, **kwargs)
            with _recording(cap, fn, args, kwargs) as call:
                resp = await orig(*args, **kwargs)
                return resp if call is None else call.finish(resp)

        awrapper._llmops_original = orig  # type: ignore[attr-defined]
        return awrapper

    @functools.wraps(orig)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cap = current_capture()
        if cap is None or not cap.active or IN_CALL.get():
            return orig(*args, **kwargs)
        if kwargs.get("acompletion") or kwargs.get("aembedding"):
            # an async call whose acompletion / aembedding was not wrapped (imported before the
            # capture started): this inner call returns the coroutine that does the work
            return _record_inner_async(cap, "acompletion" if fn == "completion" else "aembedding", orig, args, kwargs)
        with _recording(cap, fn, args, kwargs) as call:
            resp = orig(*args, **kwargs)
            return resp if call is None else call.finish(resp)

    wrapper._llmops_original = orig  # type: ignore[attr-defined]
    return wrapper


def _record_inner_async(cap: Capture, fn: str, orig: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    with _recording(cap, fn, args, kwargs) as call:
        result = orig(*args, **kwargs)
        if call is None:
            return result
        if not asyncio.iscoroutine(result):
            return call.finish(result)
        call.returned = True  # the coroutine does the work: its outcome ends the span
    assert call is not None
    rec = call

    async def traced() -> Any:
        tok = IN_CALL.set(True)  # litellm's callback must not record this call again
        try:
            resp = await result
        except BaseException as e:
            rec.fail(e)
            raise
        finally:
            IN_CALL.reset(tok)
        return rec.finish(resp)

    return traced()


def patch_litellm() -> None:
    """Wrap litellm's functions (once, however many captures are active) and register the callback."""
    import litellm
    import litellm.main

    with _PATCH_LOCK:
        for mod in (litellm, litellm.main):
            for fn in FUNCS:
                key = (mod.__name__, fn)
                if key in _PATCHED:
                    continue
                orig = getattr(mod, fn, None)
                if orig is None or getattr(orig, "_llmops_original", None) is not None:
                    continue
                _PATCHED[key] = orig
                setattr(mod, fn, _make_wrapper(fn, orig))
        register_callback(litellm)


def unpatch_litellm() -> None:
    """Put litellm's own functions back (those still holding our wrapper) and drop the callback."""
    with _PATCH_LOCK:
        for (modname, fn), orig in list(_PATCHED.items()):
            mod = sys.modules.get(modname)
            if mod is not None and getattr(getattr(mod, fn, None), "_llmops_original", None) is orig:
                setattr(mod, fn, orig)
            del _PATCHED[(modname, fn)]
        litellm = sys.modules.get("litellm")
        if litellm is not None:
            unregister_callback(litellm)
