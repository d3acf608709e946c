"""``span``: a decorator and context manager that records one step of the user's application
(tool, retriever, chain, agent, ...) as an OpenTelemetry span, with its inputs, outputs and
errors. Spans nest through OpenTelemetry's context (contextvars), so the LLM calls made inside a
step, in any asyncio task, become its children in one trace.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, overload

from llmops_nb.tracing._context import _ATTRS, SpanAttrs, current_attrs, current_capture
from llmops_nb.tracing._otel import document_attributes, json_value

__all__ = ["span", "Span", "SpanHandle"]

F = TypeVar("F", bound=Callable[..., Any])

_KINDS = ("chain", "tool", "retriever", "agent", "llm", "embedding", "reranker", "guardrail", "evaluator", "unknown")


class SpanHandle:
    """The open span inside a ``with span(...) as s:`` block: set its output, documents and more.

    Example:
        >>> import llmops_nb as lo
        >>> with lo.span("retriever", name="search") as s:
        ...     s.set_input("refund policy")
        ...     s.set_documents([{"id": "d1", "content": "Refunds take 5 days.", "score": 0.9}])
    """

    def __init__(self, otel_span: Any, kind: str, name: str) -> None:
        self.otel_span = otel_span
        self.kind = kind
        self.name = name
        self._output_set = False
        self._documents_set = False

    @property
    def trace_id(self) -> str | None:
        """The trace id (32 hex chars), or None when nothing records."""
        ctx = self.otel_span.get_span_context()
        return format(ctx.trace_id, "032x") if ctx.is_valid else None

    @property
    def span_id(self) -> str | None:
        """The span id (16 hex chars), or None when nothing records."""
        ctx = self.otel_span.get_span_context()
        return format(ctx.span_id, "016x") if ctx.is_valid else None

    def set_input(self, value: Any) -> None:
        """The step's input (text stays text, anything else is stored as JSON)."""
        self.otel_span.set_attribute("input.value", json_value(value))
        self.otel_span.set_attribute("input.mime_type", "text/plain" if isinstance(value, str) else "application/json")
        if self.kind == "tool" and not isinstance(value, str):
            self.otel_span.set_attribute("tool_call.function.arguments", json_value(value))

    def set_output(self, value: Any) -> None:
        """The step's output (text stays text, anything else is stored as JSON)."""
        self._output_set = True
        self.otel_span.set_attribute("output.value", json_value(value))
        self.otel_span.set_attribute("output.mime_type", "text/plain" if isinstance(value, str) else "application/json")

    def set_documents(self, documents: Iterable[Any]) -> None:
        """Retrieved documents: strings, dicts with id/content/score/metadata, or objects with
        those attributes (``page_content`` works too)."""
        self._documents_set = True
        self.otel_span.set_attributes(document_attributes(list(documents)))

    def set_metadata(self, **metadata: Any) -> None:
        """Add application metadata (merged over what the outer contexts gave)."""
        cur = current_attrs().merged(metadata=metadata)
        self.otel_span.set_attribute("metadata", json_value(dict(cur.metadata)))

    def set_attribute(self, key: str, value: Any) -> None:
        """Set any raw span attribute (an OTel attribute value: str, bool, number or a list of them)."""
        self.otel_span.set_attribute(key, value)

    def record_error(self, error: BaseException | str) -> None:
        """Mark the step as failed without raising."""
        from opentelemetry.trace import Status, StatusCode

        if isinstance(error, BaseException):
            self.otel_span.record_exception(error)
            msg = f"{type(error).__name__}: {error}"
        else:
            msg = str(error)
        self.otel_span.set_status(Status(StatusCode.ERROR, msg[:4000]))

    def __repr__(self) -> str:
        return f"SpanHandle({self.kind!r}, {self.name!r}, trace_id={self.trace_id!r}, span_id={self.span_id!r})"


class Span:
    """A span definition, used as a decorator (sync or async function) or a context manager
    (``with`` / ``async with``). Build it with :func:`span`.

    Example:
        >>> with Span("tool", name="search") as s:   # no capture active: nothing is recorded
        ...     s.set_output("3 results")
    """

    def __init__(self, kind: str = "chain", name: str | None = None, *, session_id: str | None = None,
                 user_id: str | None = None, metadata: Mapping[str, Any] | None = None,
                 tags: Sequence[str] | None = None, capture_input: bool = True, capture_output: bool = True,
                 attributes: Mapping[str, Any] | None = None) -> None:
        kind = (kind or "chain").lower()
        if kind not in _KINDS:
            raise ValueError(f"span kind {kind!r} is not valid; valid kinds: {list(_KINDS)}")
        self.kind = kind
        self.name = name
        self.session_id = session_id
        self.user_id = user_id
        self.metadata = dict(metadata or {})
        self.tags = list(tags or [])
        self.capture_input = capture_input
        self.capture_output = capture_output
        self.attributes = dict(attributes or {})
        self._open: list[tuple[SpanHandle, Any, Any]] = []

    # ------------------------------------------------------------------ core
    def _start(self, name: str) -> tuple[SpanHandle, SpanAttrs]:
        """Open the span (not yet current) and work out the attributes it passes down."""
        from opentelemetry import trace

        cap = current_capture()
        tracer = cap._tracer if cap is not None and cap.active else trace.get_tracer("llmops_nb.capture")
        attrs = current_attrs(cap).merged(self.session_id, self.user_id, self.tags, self.metadata)
        a: dict[str, Any] = {"openinference.span.kind": self.kind.upper(), **attrs.otel(), **self.attributes}
        if self.kind == "tool":
            a["tool.name"] = name
        otel_span = tracer.start_span(name, attributes=a)
        return SpanHandle(otel_span, self.kind, name), attrs

    @staticmethod
    def _activate(handle: SpanHandle, attrs: SpanAttrs) -> tuple[Any, Any]:
        """Make the span current (OTel context and passed-down attributes); returns the tokens."""
        from opentelemetry import context as otel_context
        from opentelemetry import trace

        return otel_context.attach(trace.set_span_in_context(handle.otel_span)), _ATTRS.set(attrs)

    @staticmethod
    def _deactivate(tokens: tuple[Any, Any]) -> None:
        from opentelemetry import context as otel_context

        with contextlib.suppress(ValueError):
            _ATTRS.reset(tokens[1])
        with contextlib.suppress(Exception):
            otel_context.detach(tokens[0])

    def _begin(self, name: str) -> tuple[SpanHandle, Any, Any]:
        handle, attrs = self._start(name)
        ctx_token, attrs_token = self._activate(handle, attrs)
        return handle, ctx_token, attrs_token

    @staticmethod
    def _end(handle: SpanHandle, ctx_token: Any, attrs_token: Any, exc: BaseException | None) -> None:
        from opentelemetry import context as otel_context
        from opentelemetry.trace import Status, StatusCode

        try:
            if isinstance(exc, GeneratorExit):  # a generator closed before its end
                handle.otel_span.set_attribute("llmops.generator_closed", True)
            elif exc is not None:
                handle.otel_span.record_exception(exc)
                handle.otel_span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:4000]))
            elif getattr(getattr(handle.otel_span, "status", None), "status_code", None) == StatusCode.UNSET:
                handle.otel_span.set_status(Status(StatusCode.OK))
        finally:
            handle.otel_span.end()
            if ctx_token is not None:
                with contextlib.suppress(ValueError):
                    _ATTRS.reset(attrs_token)
                with contextlib.suppress(Exception):
                    otel_context.detach(ctx_token)

    def _record_call(self, handle: SpanHandle, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not self.capture_input:
            return
        try:
            bound = inspect.signature(func).bind_partial(*args, **kwargs)
            params = dict(bound.arguments)
        except (TypeError, ValueError):
            params = {"args": list(args), **kwargs}
        for first in ("self", "cls"):
            params.pop(first, None)
        sig_kwargs = [k for k, p in _params(func).items() if p.kind is inspect.Parameter.VAR_KEYWORD]
        for k in sig_kwargs:  # flatten **kwargs into the arguments
            params.update(params.pop(k, {}) or {})
        if len(params) == 1 and isinstance(next(iter(params.values())), str) and self.kind != "tool":
            handle.set_input(next(iter(params.values())))
        else:
            handle.set_input(params)

    def _record_result(self, handle: SpanHandle, result: Any) -> None:
        if self.kind == "retriever" and not handle._documents_set and isinstance(result, (list, tuple)):
            handle.set_documents(result)
        if self.capture_output and not handle._output_set:
            handle.set_output(result)

    # ------------------------------------------------------------------ decorator
    def __call__(self, func: F) -> F:
        qual = getattr(func, "__qualname__", "") or ""
        name: str = self.name or (qual if qual and "<locals>" not in qual else str(getattr(func, "__name__", "step")))

        if inspect.isasyncgenfunction(func):
            return self._wrap_async_gen(func, name)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):
            return self._wrap_gen(func, name)  # type: ignore[return-value]

        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def awrapped(*args: Any, **kwargs: Any) -> Any:
                handle, ct, at = self._begin(name)
                try:
                    self._record_call(handle, func, args, kwargs)
                    result = await func(*args, **kwargs)
                    self._record_result(handle, result)
                except BaseException as e:
                    self._end(handle, ct, at, e)
                    raise
                self._end(handle, ct, at, None)
                return result

            return awrapped  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            handle, ct, at = self._begin(name)
            try:
                self._record_call(handle, func, args, kwargs)
                result = func(*args, **kwargs)
                self._record_result(handle, result)
            except BaseException as e:
                self._end(handle, ct, at, e)
                raise
            self._end(handle, ct, at, None)
            return result

        return wrapped  # type: ignore[return-value]

    def _gen_result(self, handle: SpanHandle, items: list[Any], closed: bool) -> None:
        out: Any = "".join(items) if items and all(isinstance(x, str) for x in items) else items
        self._record_result(handle, out)
        handle.otel_span.set_attribute("llmops.generator_items", len(items))

    def _wrap_gen(self, func: Callable[..., Any], name: str) -> Callable[..., Any]:
        """A generator's span covers its whole iteration; the span is current only while the
        generator runs (never leaks into the caller between items)."""

        @functools.wraps(func)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            handle, attrs = self._start(name)
            self._record_call(handle, func, args, kwargs)
            items: list[Any] = []
            gen = func(*args, **kwargs)
            send: Any = None
            throw: BaseException | None = None
            while True:
                tokens = self._activate(handle, attrs)
                try:
                    item = gen.throw(throw) if throw is not None else gen.send(send)
                except StopIteration as stop:
                    self._deactivate(tokens)
                    self._gen_result(handle, items, False)
                    self._end(handle, None, None, None)
                    return stop.value
                except BaseException as e:
                    self._deactivate(tokens)
                    self._end(handle, None, None, e)
                    raise
                self._deactivate(tokens)
                if len(items) < 10_000:
                    items.append(item)
                throw = None
                try:
                    send = yield item
                except GeneratorExit as e:
                    gen.close()
                    self._gen_result(handle, items, True)
                    self._end(handle, None, None, e)
                    raise
                except BaseException as e:
                    throw = e

        return wrapped

    def _wrap_async_gen(self, func: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(func)
        async def wrapped(*args: Any, **kwargs: Any) -> Any:
            handle, attrs = self._start(name)
            self._record_call(handle, func, args, kwargs)
            items: list[Any] = []
            agen = func(*args, **kwargs)
            send: Any = None
            throw: BaseException | None = None
            while True:
                tokens = self._activate(handle, attrs)
                try:
                    item = await (agen.athrow(throw) if throw is not None else agen.asend(send))
                except StopAsyncIteration:
                    self._deactivate(tokens)
                    self._gen_result(handle, items, False)
                    self._end(handle, None, None, None)
                    return
                except BaseException as e:
                    self._deactivate(tokens)
                    self._end(handle, None, None, e)
                    raise
                self._deactivate(tokens)
                if len(items) < 10_000:
                    items.append(item)
                throw = None
                try:
                    send = yield item
                except GeneratorExit as e:
                    await agen.aclose()
                    self._gen_result(handle, items, True)
                    self._end(handle, None, None, e)
                    raise
                except BaseException as e:
                    throw = e

        return wrapped

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> SpanHandle:
        opened = self._begin(self.name or self.kind)
        self._open.append(opened)
        return opened[0]

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        handle, ct, at = self._open.pop()
        self._end(handle, ct, at, exc)

    async def __aenter__(self) -> SpanHandle:
        return self.__enter__()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"span({self.kind!r}, name={self.name!r})"


def _params(func: Callable[..., Any]) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(func).parameters
    except (TypeError, ValueError):
        return {}


@overload
def span(kind: F) -> F: ...
@overload
def span(kind: str = ..., name: str | None = ..., *, session_id: str | None = ..., user_id: str | None = ...,
         metadata: Mapping[str, Any] | None = ..., tags: Sequence[str] | None = ..., capture_input: bool = ...,
         capture_output: bool = ..., attributes: Mapping[str, Any] | None = ...) -> Span: ...


def span(kind: Any = "chain", name: str | None = None, *, session_id: str | None = None, user_id: str | None = None,
         metadata: Mapping[str, Any] | None = None, tags: Sequence[str] | None = None, capture_input: bool = True,
         capture_output: bool = True, attributes: Mapping[str, Any] | None = None) -> Any:
    """Record a step of your application as a span: decorator or context manager, sync or async.

    ``kind`` is one of chain, tool, retriever, agent, llm, embedding, reranker, guardrail,
    evaluator. A decorated function's arguments become the span's input and its return value
    the output (a retriever's returned list becomes its documents); an exception marks the span
    as an error and is re-raised. ``session_id``, ``user_id``, ``tags`` and ``metadata`` apply to
    this span and to every span and LLM call inside it. Spans record into the active
    :func:`capture`; with none active they go to OpenTelemetry's global tracer provider (a no-op
    unless you set one).

    Example:
        >>> import llmops_nb as lo
        >>> @lo.span("tool", name="lookup_order")
        ... def lookup_order(order_id: str) -> dict:
        ...     return {"order_id": order_id, "status": "shipped"}
        >>> with lo.span("agent", name="support", session_id="chat-1") as s:
        ...     s.set_output(lookup_order("A17")["status"])
    """
    if callable(kind) and not isinstance(kind, str):  # bare @span
        return Span("chain")(kind)
    return Span(kind, name, session_id=session_id, user_id=user_id, metadata=metadata, tags=tags,
                capture_input=capture_input, capture_output=capture_output, attributes=attributes)
