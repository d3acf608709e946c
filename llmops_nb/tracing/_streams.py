"""Streamed responses: litellm's stream object keeps its class's behaviour (``isinstance``
checks too) but reports every chunk to a recorder, which ends the call's span with the
assembled output when the stream is consumed, fails or is closed (or the capture stops)."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from llmops_nb.tracing._llm_spans import fail_llm_span, finish_llm_span

if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.tracing._capture import Capture

__all__ = ["StreamRecorder", "wrap_stream"]

log = logging.getLogger("llmops_nb.capture")


class StreamRecorder:
    """Collects the chunks of one streamed response and ends its span when the stream ends."""

    def __init__(self, span: Any, info: dict[str, Any]) -> None:
        self.span = span
        self.info = info
        self.chunks: list[Any] = []
        self.first_token_ms: float | None = None
        self.done = False
        self.lock = threading.Lock()

    def add(self, chunk: Any) -> None:
        if self.first_token_ms is None:
            self.first_token_ms = (time.perf_counter() - self.info["t0"]) * 1000
        self.chunks.append(chunk)

    def finish(self, incomplete: bool = False) -> None:
        with self.lock:
            if self.done:
                return
            self.done = True
        extra: dict[str, Any] = {"llmops.stream_chunks": len(self.chunks)}
        if self.first_token_ms is not None:
            extra["llmops.time_to_first_token_ms"] = round(self.first_token_ms, 3)
        if incomplete:
            extra["llmops.stream_incomplete"] = True
        resp = None
        estimated = True
        if self.chunks:
            try:
                import litellm

                estimated = not any(getattr(getattr(c, "usage", None), "prompt_tokens", None) for c in self.chunks)
                resp = litellm.stream_chunk_builder(self.chunks, messages=self.info.get("messages"))
            except Exception as e:
                log.debug("llmops_nb: could not assemble a streamed response: %s", e)
        if resp is None:
            from opentelemetry.trace import Status, StatusCode

            self.span.set_attributes(extra)
            if incomplete:
                self.span.set_status(Status(StatusCode.UNSET))
            self.span.end()
            return
        finish_llm_span(self.span, self.info, resp, usage_estimated=estimated, extra=extra)

    def fail(self, e: BaseException) -> None:
        with self.lock:
            if self.done:
                return
            self.done = True
        self.span.set_attribute("llmops.stream_chunks", len(self.chunks))
        fail_llm_span(self.span, e)


_TRACED_CLASSES: dict[type, type] = {}


def _traced_stream_class(base: type) -> type:
    """A subclass of litellm's stream wrapper that reports chunks to its recorder (so
    ``isinstance`` checks and every other attribute keep working)."""
    if base in _TRACED_CLASSES:
        return _TRACED_CLASSES[base]

    class Traced(base):  # type: ignore[misc, valid-type]
        def __next__(self) -> Any:
            rec = self.__dict__.get("_llmops_rec")
            try:
                chunk = super().__next__()
            except StopIteration:
                if rec is not None:
                    rec.finish()
                raise
            except Exception as e:
                if rec is not None:
                    rec.fail(e)
                raise
            if rec is not None:
                rec.add(chunk)
            return chunk

        async def __anext__(self) -> Any:
            rec = self.__dict__.get("_llmops_rec")
            try:
                chunk = await super().__anext__()
            except StopAsyncIteration:
                if rec is not None:
                    rec.finish()
                raise
            except Exception as e:
                if rec is not None:
                    rec.fail(e)
                raise
            if rec is not None:
                rec.add(chunk)
            return chunk

        def close(self) -> None:
            rec = self.__dict__.get("_llmops_rec")
            try:
                super().close()
            finally:
                if rec is not None:
                    rec.finish(incomplete=True)

        async def aclose(self) -> None:
            rec = self.__dict__.get("_llmops_rec")
            try:
                await super().aclose()
            finally:
                if rec is not None:
                    rec.finish(incomplete=True)

    Traced.__name__ = base.__name__
    Traced.__qualname__ = base.__qualname__
    Traced.__module__ = base.__module__
    _TRACED_CLASSES[base] = Traced
    return Traced


def wrap_stream(cap: Capture, span: Any, info: dict[str, Any], resp: Any) -> Any:
    """What the caller gets for a stream: the same object, whose span ends when it is consumed
    (or closed), with the assembled output; a response that is not an iterator ends it now."""
    if not (hasattr(resp, "__next__") or hasattr(resp, "__anext__")):
        finish_llm_span(span, info, resp)
        return resp
    rec = StreamRecorder(span, info)
    try:
        resp.__class__ = _traced_stream_class(type(resp))
        resp.__dict__["_llmops_rec"] = rec
    except TypeError:  # not a plain Python object: record what we know now
        finish_llm_span(span, info, None, extra={"llmops.stream_untraced": True})
        return resp
    cap._streams.add(rec)
    return resp

