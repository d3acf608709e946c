"""Record every litellm call made by user code as an OpenTelemetry span, written into the store:
the :func:`capture` verb and the :class:`Capture` lifecycle (provider, exporters, start, stop,
flush) and what it recorded.

The rest of the area, one concern per module: ``_patch`` wraps litellm's functions while a
capture is active (wrapping rather than litellm callbacks keeps the span in the caller's context
and finished when the call returns, so ``stop()`` can flush deterministically); ``_llm_spans``
starts, finishes and fails the span of one call; ``_response`` reads a response into
attributes; ``_streams`` keeps a stream's span open until it is consumed; ``_callbacks``
records calls made through functions imported before the capture started.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops_nb.tracing._callbacks import wait_for_callbacks
from llmops_nb.tracing._context import (
    _CAPTURE,
    _STACK,
    _STACK_LOCK,
    SpanAttrs,
)
from llmops_nb.tracing._patch import patch_litellm, unpatch_litellm

if TYPE_CHECKING:  # pragma: no cover
    from llmops_nb.tracing._exporter import StoreSpanExporter

__all__ = ["Capture", "capture"]

log = logging.getLogger("llmops_nb.capture")

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
        patch_litellm()
        _stop_at_exit()
        return self

    def stop(self) -> None:
        """Stop recording and write every pending span into the store."""
        if not self.active:
            return
        for rec in list(self._streams):  # streams never consumed to the end
            rec.finish(incomplete=True)
        wait_for_callbacks(self)
        self.active = False
        with _STACK_LOCK:
            if self in _STACK:
                _STACK.remove(self)
            last = not _STACK
        if last:
            unpatch_litellm()
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
