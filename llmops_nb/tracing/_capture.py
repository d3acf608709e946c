"""Record every litellm call made by user code as an OpenTelemetry span, written into the store.

How: while a capture is active, ``litellm.completion / acompletion / embedding / aembedding``
(on the ``litellm`` package and on ``litellm.main``) are wrapped. A wrapper opens a span in the
caller's OpenTelemetry context (so the call nests under the user's :func:`span` steps, per asyncio
task), runs the call, and writes OpenInference attributes: model, provider, input and output
messages with tool calls, tokens, cost from litellm's price map, errors. A streaming response
keeps its span open until the stream is consumed (or closed), then records the assembled output.
A context flag makes nested litellm calls (``acompletion`` runs ``completion`` in a thread)
record once. Wrapping rather than litellm callbacks keeps the span in the caller's context
and finished when the call returns, so ``stop()`` can flush deterministically.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_nb.tracing._context import (
    _CAPTURE,
    _STACK,
    _STACK_LOCK,
    SpanAttrs,
    current_attrs,
    current_capture,
)
from llmops_nb.tracing._otel import (
    as_dict,
    invocation_parameters,
    json_value,
    message_attributes,
)

if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.tracing._exporter import StoreSpanExporter

__all__ = ["Capture", "capture"]

log = logging.getLogger("llmops_nb.capture")

_IN_CALL: contextvars.ContextVar[bool] = contextvars.ContextVar("llmops_nb_in_llm_call", default=False)
_PATCH_LOCK = threading.RLock()
_PATCHED: dict[tuple[str, str], Any] = {}  # (module, attr) -> original function
_FUNCS = {"completion": "llm", "acompletion": "llm", "embedding": "embedding", "aembedding": "embedding"}
_SCOPE = "llmops_nb.capture"


def capture(
    store: Any = None,
    *,
    session_id: str | None = None,
    user_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    tags: Sequence[str] | None = None,
    exporter: Any = None,
    set_global: bool = False,
    service_name: str = "llmops_nb",
) -> Capture:
    """Record every litellm call (and every :func:`span` step) into ``store`` as spans.

    Use it as a context manager, or call ``start()`` and later ``stop()`` (for example in two
    notebook cells). ``store`` is a :class:`Store`, a path, or None for the default store.
    ``session_id``, ``user_id``, ``metadata`` and ``tags`` apply to every span recorded.
    ``exporter`` is an extra OpenTelemetry ``SpanExporter`` (or a list) that receives the same
    spans, for example ``OTLPSpanExporter`` to another backend. The capture uses its own
    ``TracerProvider``; ``set_global=True`` also makes it OpenTelemetry's global provider.

    Example:
        >>> import llmops_nb as lo, litellm, tempfile  # doctest: +SKIP
        >>> store = lo.Store(tempfile.mkdtemp())  # doctest: +SKIP
        >>> with lo.capture(store, session_id="s1") as cap:  # doctest: +SKIP
        ...     with lo.span("chain", name="answer"):
        ...         litellm.completion(model="gpt-4o-mini", mock_response="hi",
        ...                            messages=[{"role": "user", "content": "hello"}])
        >>> cap.spans()[["name", "kind", "model"]]  # doctest: +SKIP
    """
    return Capture(store, session_id=session_id, user_id=user_id, metadata=metadata, tags=tags,
                   exporter=exporter, set_global=set_global, service_name=service_name)


def _old_module_attribute(name: str) -> Any:
    """``lo.capture.<name>`` as it worked while ``lo.capture`` was the (callable) package:
    the same object called through, with a DeprecationWarning naming ``lo.tracing.<name>``."""
    from llmops_nb._compat import warn_deprecated

    def call(*args: Any, **kwargs: Any) -> Any:
        import llmops_nb.tracing as tracing

        warn_deprecated(f"lo.capture.{name}", f"lo.tracing.{name}")
        return getattr(tracing, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"Deprecated: use ``lo.tracing.{name}`` (this alias goes away in the next release)."
    return call


for _name in ("Capture", "span", "Span", "SpanHandle", "attributes", "Collector", "StoreSpanExporter"):
    setattr(capture, _name, _old_module_attribute(_name))
del _name


class Capture:
    """An active (or ready) recording of litellm calls and user spans into a store.

    Build it with :func:`capture`. Settings are stored by the constructor; ``start()`` sets up
    the OpenTelemetry provider and wraps litellm, ``stop()`` unwraps it and flushes every span
    into the store (one segment per batch, not per span).

    Example:
        >>> import tempfile
        >>> cap = Capture(tempfile.mkdtemp())
        >>> cap  # doctest: +ELLIPSIS
        Capture(stopped, store=..., spans=0, traces=0)
    """

    def __init__(
        self,
        store: Any = None,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        exporter: Any = None,
        set_global: bool = False,
        service_name: str = "llmops_nb",
        schedule_delay_ms: int = 5000,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.user_id = user_id
        self.metadata = dict(metadata or {})
        self.tags = list(tags or [])
        self.exporter = exporter
        self.set_global = set_global
        self.service_name = service_name
        self.schedule_delay_ms = schedule_delay_ms
        self.active = False
        self.trace_ids: list[str] = []
        self._seen: set[str] = set()
        self._provider: Any = None
        self._tracer: Any = None
        self._store_exporter: StoreSpanExporter | None = None
        self._token: contextvars.Token[Any] | None = None
        self._streams: weakref.WeakSet[Any] = weakref.WeakSet()
        self._defaults = SpanAttrs().merged(session_id, user_id, self.tags, self.metadata)
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Capture:
        """Start recording; returns self."""
        if self.active:
            return self
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import SpanLimits, TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from llmops_nb.store import Store
        from llmops_nb.tracing._exporter import StoreSpanExporter

        if self.store is None or isinstance(self.store, (str, Path)):
            self.store = Store(self.store)
        provider = TracerProvider(
            resource=Resource({"service.name": self.service_name}),
            span_limits=SpanLimits(max_span_attributes=100_000, max_events=1_000, max_event_attributes=1_000,
                                   max_attribute_length=None),
        )
        self._store_exporter = StoreSpanExporter(self.store, "capture", on_export=self._remember)
        provider.add_span_processor(BatchSpanProcessor(
            self._store_exporter, max_queue_size=1_000_000, schedule_delay_millis=self.schedule_delay_ms,
            max_export_batch_size=10_000))
        extra = self.exporter if isinstance(self.exporter, (list, tuple)) else [self.exporter] if self.exporter else []
        for ex in extra:
            provider.add_span_processor(BatchSpanProcessor(ex))
        if self.set_global:
            from opentelemetry import trace

            trace.set_tracer_provider(provider)
        self._provider = provider
        self._tracer = provider.get_tracer(_SCOPE)
        self.active = True
        with _STACK_LOCK:
            _STACK.append(self)
        _patch_litellm()
        _stop_at_exit()
        return self

    def stop(self) -> None:
        """Stop recording and write every pending span into the store."""
        if not self.active:
            return
        for rec in list(self._streams):  # streams never consumed to the end
            rec.finish(incomplete=True)
        _wait_for_callbacks(self)
        self.active = False
        with _STACK_LOCK:
            if self in _STACK:
                _STACK.remove(self)
            last = not _STACK
        if last:
            _unpatch_litellm()
        self._provider.force_flush()
        self._provider.shutdown()

    def flush(self) -> None:
        """Write the spans finished so far into the store (recording goes on)."""
        if self._provider is not None:
            self._provider.force_flush()

    def __enter__(self) -> Capture:
        self.start()
        self._token = _CAPTURE.set(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._token is not None:
            try:
                _CAPTURE.reset(self._token)
            except ValueError:  # exited in another context
                _CAPTURE.set(None)
            self._token = None
        self.stop()

    async def __aenter__(self) -> Capture:
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__(*exc)

    # ------------------------------------------------------------------ results
    def _remember(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            for r in rows:
                t = r["trace_id"]
                if t not in self._seen:
                    self._seen.add(t)
                    self.trace_ids.append(t)

    @property
    def n_spans(self) -> int:
        """Spans written into the store so far."""
        return self._store_exporter.exported if self._store_exporter else 0

    def spans(self) -> Any:
        """The stored spans of the traces this capture recorded (one row per span)."""
        from llmops_nb.schema import SPANS, empty_frame

        self.flush()
        if not self.trace_ids:
            return empty_frame(SPANS)
        return self.store.spans(trace_id=list(self.trace_ids))

    def traces(self) -> Any:
        """The traces this capture recorded (one row per trace)."""
        from llmops_nb.traces import to_traces

        return to_traces(self.spans())

    def __repr__(self) -> str:
        state = "recording" if self.active else "stopped"
        return f"Capture({state}, store={self.store!r}, spans={self.n_spans}, traces={len(self.trace_ids)})"

    def _repr_html_(self) -> str:
        import html

        state = "recording" if self.active else "stopped"
        return (f"<div><b>llmops_nb capture</b> ({state}) into <code>{html.escape(str(self.store))}</code>: "
                f"{self.n_spans:,} spans in {len(self.trace_ids):,} traces</div>")

    # ------------------------------------------------------------------ LLM spans
    def _start_llm_span(self, fn: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, context: Any = None,
                        start_time: int | None = None, attrs: SpanAttrs | None = None) -> tuple[Any, dict[str, Any]]:
        kind = _FUNCS[fn]
        model = kwargs.get("model", args[0] if args else None)
        info: dict[str, Any] = {"fn": fn, "kind": kind, "model_arg": model, "t0": time.perf_counter()}
        a: dict[str, Any] = {"openinference.span.kind": "LLM" if kind == "llm" else "EMBEDDING",
                             "llmops.litellm.function": fn}
        short, provider = _model_provider(model, kwargs)
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
        attrs = attrs if attrs is not None else current_attrs(self)
        user = kwargs.get("user")
        attrs = attrs.merged(None, user if attrs.user_id is None and isinstance(user, str) else None, None,
                             {k: v for k, v in (call_meta or {}).items() if isinstance(k, str)})
        a.update(attrs.otel())
        span = self._tracer.start_span(f"litellm.{fn}", context=context, attributes=a, start_time=start_time)
        return span, info

    def _finish_llm_span(self, span: Any, info: dict[str, Any], resp: Any, *, usage_estimated: bool = False,
                         extra: Mapping[str, Any] | None = None, end_time: int | None = None) -> None:
        try:
            span.set_attributes(_response_attributes(resp, info, usage_estimated))
            if extra:
                span.set_attributes(dict(extra))
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.OK))
        except Exception as e:  # never break the user's call
            log.debug("llmops_nb: could not record an LLM response: %s", e)
        span.end(end_time=end_time)

    def _fail_llm_span(self, span: Any, e: BaseException, end_time: int | None = None) -> None:
        from opentelemetry.trace import Status, StatusCode

        try:
            span.record_exception(e)
            span.set_status(Status(StatusCode.ERROR, f"{type(e).__name__}: {e}"[:4000]))
        finally:
            span.end(end_time=end_time)


_AT_EXIT = False


def _stop_at_exit() -> None:
    """Flush captures still recording when the interpreter exits (a script that never called stop())."""
    global _AT_EXIT
    if _AT_EXIT:
        return
    import atexit

    def _stop_all() -> None:
        with _STACK_LOCK:
            caps = list(_STACK)
        for cap in reversed(caps):
            try:
                cap.stop()
            except Exception as e:  # pragma: no cover - best effort at exit
                log.warning("llmops_nb: could not flush a capture at exit: %s", e)

    atexit.register(_stop_all)
    _AT_EXIT = True


# ---------------------------------------------------------------------------------- responses

def _model_provider(model: Any, kwargs: Mapping[str, Any]) -> tuple[str | None, str | None]:
    if not isinstance(model, str):
        return None, None
    try:
        import litellm

        short, provider, _, _ = litellm.get_llm_provider(
            model=model, custom_llm_provider=kwargs.get("custom_llm_provider"), api_base=kwargs.get("api_base"))
        return short, provider
    except Exception:
        if "/" in model:
            p, _, m = model.partition("/")
            return m, p
        return model, None


def _cost(resp: Any, info: Mapping[str, Any]) -> float | None:
    """Cost from litellm's price map, or None when the model is not priced."""
    try:
        import litellm

        c = litellm.completion_cost(completion_response=resp, model=info.get("model"),
                                    custom_llm_provider=info.get("provider"))
        return None if c is None else float(c)
    except Exception:
        pass
    try:  # the name the provider answered with
        import litellm

        c = litellm.completion_cost(completion_response=resp)
        return None if c is None else float(c)
    except Exception:
        return None


def _response_attributes(resp: Any, info: Mapping[str, Any], usage_estimated: bool) -> dict[str, Any]:
    a: dict[str, Any] = {}
    d_model = getattr(resp, "model", None)
    if d_model:
        a["llm.response.model"] = str(d_model)
    rid = getattr(resp, "id", None)
    if rid and info["kind"] == "llm":
        a["llm.response.id"] = str(rid)
    if info["kind"] == "llm":
        choices = getattr(resp, "choices", None) or []
        msgs = []
        finish = []
        for ch in choices:
            msg = getattr(ch, "message", None)
            if msg is None and isinstance(ch, Mapping):
                msg = ch.get("message")
            msgs.append(msg)
            fr = getattr(ch, "finish_reason", None)
            if fr:
                finish.append(str(fr))
        a.update(message_attributes("llm.output_messages", msgs))
        if finish:
            a["llm.finish_reasons"] = finish
    usage = as_dict(getattr(resp, "usage", None))
    pt, ct, tt = usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens")
    if pt is not None:
        a["llm.token_count.prompt"] = int(pt)
    if ct is not None:
        a["llm.token_count.completion"] = int(ct)
    if tt is not None:
        a["llm.token_count.total"] = int(tt)
    elif pt is not None:
        a["llm.token_count.total"] = int(pt) + int(ct or 0)
    pdet = as_dict(usage.get("prompt_tokens_details"))
    if pdet.get("cached_tokens"):
        a["llm.token_count.prompt_details.cache_read"] = int(pdet["cached_tokens"])
    cdet = as_dict(usage.get("completion_tokens_details"))
    if cdet.get("reasoning_tokens"):
        a["llm.token_count.completion_details.reasoning"] = int(cdet["reasoning_tokens"])
    if usage_estimated and pt is not None:
        a["llmops.usage_estimated"] = True
    cost = _cost(resp, info)
    if cost is not None:
        a["llm.cost.total"] = cost
    return a


# ---------------------------------------------------------------------------------- streams

class _StreamRecorder:
    """Collects the chunks of one streamed response and ends its span when the stream ends."""

    def __init__(self, cap: Capture, span: Any, info: dict[str, Any]) -> None:
        self.cap = cap
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
        self.cap._finish_llm_span(self.span, self.info, resp, usage_estimated=estimated, extra=extra)

    def fail(self, e: BaseException) -> None:
        with self.lock:
            if self.done:
                return
            self.done = True
        self.span.set_attribute("llmops.stream_chunks", len(self.chunks))
        self.cap._fail_llm_span(self.span, e)


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


def _wrap_stream(cap: Capture, span: Any, info: dict[str, Any], resp: Any) -> Any:
    if not (hasattr(resp, "__next__") or hasattr(resp, "__anext__")):
        cap._finish_llm_span(span, info, resp)
        return resp
    rec = _StreamRecorder(cap, span, info)
    try:
        resp.__class__ = _traced_stream_class(type(resp))
        resp.__dict__["_llmops_rec"] = rec
    except TypeError:  # not a plain Python object: record what we know now
        cap._finish_llm_span(span, info, None, extra={"llmops.stream_untraced": True})
        return resp
    cap._streams.add(rec)
    return resp


# ---------------------------------------------------------------------------------- patching

def _make_wrapper(fn: str, orig: Any) -> Any:
    is_async = fn.startswith("a")

    if is_async:
        @functools.wraps(orig)
        async def awrapper(*args: Any, **kwargs: Any) -> Any:
            cap = current_capture()
            if cap is None or not cap.active or _IN_CALL.get():
                return await orig(*args, **kwargs)
            token = _IN_CALL.set(True)
            try:
                try:
                    span, info = cap._start_llm_span(fn, args, kwargs)
                except Exception as e:  # recording must never break the call
                    log.debug("llmops_nb: could not start an LLM span: %s", e)
                    return await orig(*args, **kwargs)
                try:
                    resp = await orig(*args, **kwargs)
                except BaseException as e:
                    cap._fail_llm_span(span, e)
                    raise
                return _finish_call(cap, span, info, kwargs, resp)
            finally:
                _IN_CALL.reset(token)

        awrapper._llmops_original = orig  # type: ignore[attr-defined]
        return awrapper

    @functools.wraps(orig)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        cap = current_capture()
        if cap is None or not cap.active or _IN_CALL.get():
            return orig(*args, **kwargs)
        if kwargs.get("acompletion") or kwargs.get("aembedding"):
            # an async call whose acompletion / aembedding was not wrapped (imported before the
            # capture started): this inner call returns the coroutine that does the work
            return _record_inner_async(cap, "acompletion" if fn == "completion" else "aembedding", orig, args, kwargs)
        token = _IN_CALL.set(True)
        try:
            try:
                span, info = cap._start_llm_span(fn, args, kwargs)
            except Exception as e:  # recording must never break the call
                log.debug("llmops_nb: could not start an LLM span: %s", e)
                return orig(*args, **kwargs)
            try:
                resp = orig(*args, **kwargs)
            except BaseException as e:
                cap._fail_llm_span(span, e)
                raise
            return _finish_call(cap, span, info, kwargs, resp)
        finally:
            _IN_CALL.reset(token)

    wrapper._llmops_original = orig  # type: ignore[attr-defined]
    return wrapper


def _finish_call(cap: Capture, span: Any, info: dict[str, Any], kwargs: Mapping[str, Any], resp: Any) -> Any:
    """After a call returned: a stream is wrapped (its span ends when it is consumed), any
    other response ends the span now. Returns what the caller gets."""
    if kwargs.get("stream"):
        return _wrap_stream(cap, span, info, resp)
    cap._finish_llm_span(span, info, resp)
    return resp


def _record_inner_async(cap: Capture, fn: str, orig: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    token = _IN_CALL.set(True)
    try:
        try:
            span, info = cap._start_llm_span(fn, args, kwargs)
        except Exception as e:  # recording must never break the call
            log.debug("llmops_nb: could not start an LLM span: %s", e)
            return orig(*args, **kwargs)
        try:
            result = orig(*args, **kwargs)
        except BaseException as e:
            cap._fail_llm_span(span, e)
            raise
    finally:
        _IN_CALL.reset(token)
    if not asyncio.iscoroutine(result):
        return _finish_call(cap, span, info, kwargs, result)

    async def traced() -> Any:
        tok = _IN_CALL.set(True)  # litellm's callback must not record this call again
        try:
            resp = await result
        except BaseException as e:
            cap._fail_llm_span(span, e)
            raise
        finally:
            _IN_CALL.reset(tok)
        return _finish_call(cap, span, info, kwargs, resp)

    return traced()


def _patch_litellm() -> None:
    import litellm
    import litellm.main

    with _PATCH_LOCK:
        for mod in (litellm, litellm.main):
            for fn in _FUNCS:
                key = (mod.__name__, fn)
                if key in _PATCHED:
                    continue
                orig = getattr(mod, fn, None)
                if orig is None or getattr(orig, "_llmops_original", None) is not None:
                    continue
                _PATCHED[key] = orig
                setattr(mod, fn, _make_wrapper(fn, orig))
        _register_callback(litellm)


def _unpatch_litellm() -> None:
    import sys

    with _PATCH_LOCK:
        for (modname, fn), orig in list(_PATCHED.items()):
            mod = sys.modules.get(modname)
            if mod is not None and getattr(getattr(mod, fn, None), "_llmops_original", None) is orig:
                setattr(mod, fn, orig)
            del _PATCHED[(modname, fn)]
        litellm = sys.modules.get("litellm")
        if litellm is not None:
            _unregister_callback(litellm)


# ---------------------------------------------------------------------------------- callback fallback
# Code that imported a litellm function before the capture started (``from litellm import
# completion``) holds the unwrapped function. A litellm callback catches those calls: the parent
# context is taken when litellm calls ``log_pre_api_call`` (in the caller's context), the span is
# written with litellm's own start and end times when the success or failure event arrives.
# Calls that went through a wrapper are skipped (the in-call flag is set in their context).

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
            if _IN_CALL.get():
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
        fn = call_type if call_type in _FUNCS else ("embedding" if "embed" in call_type else "completion")
        provider = kwargs.get("custom_llm_provider")
        model = kwargs.get("model")
        call: dict[str, Any] = dict(kwargs.get("optional_params") or {})
        call.update({"model": f"{provider}/{model}" if provider and model and not str(model).startswith(f"{provider}/") else model,
                     "custom_llm_provider": provider, "stream": kwargs.get("stream")})
        if _FUNCS[fn] == "llm":
            call["messages"] = kwargs.get("messages")
        else:
            call["input"] = kwargs.get("input")
        t_start = _ns(start_time) or entry.get("t0")
        span, info = cap._start_llm_span(fn, (), call, context=entry["ctx"], start_time=t_start, attrs=entry["attrs"])
        span.set_attribute("llmops.captured_by", "litellm_callback")
        if error is None and response_obj is None and end_time is None:  # litellm never reported an outcome
            span.set_attribute("llmops.incomplete", True)
            span.end()
            return
        if error is not None:
            cap._fail_llm_span(span, error, end_time=_ns(end_time))
            return
        resp = kwargs.get("complete_streaming_response") or response_obj
        cap._finish_llm_span(span, info, resp, end_time=_ns(end_time))
    except Exception as e:  # a callback must never break the user's call
        log.debug("llmops_nb: litellm callback failed: %s", e)


def _register_callback(litellm: Any) -> None:
    global _CALLBACK
    try:
        if _CALLBACK is None:
            _CALLBACK = _make_callback()
        if _CALLBACK not in litellm.callbacks:
            litellm.callbacks.append(_CALLBACK)
    except Exception as e:  # older litellm without CustomLogger: wrappers still work
        log.debug("llmops_nb: could not register the litellm callback: %s", e)


def _unregister_callback(litellm: Any) -> None:
    if _CALLBACK is None:
        return
    for name in _CALLBACK_LISTS:
        lst = getattr(litellm, name, None)
        if isinstance(lst, list):
            while _CALLBACK in lst:
                lst.remove(_CALLBACK)


def _wait_for_callbacks(cap: Capture, timeout: float = 3.0) -> None:
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
