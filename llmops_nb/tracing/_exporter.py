"""The OpenTelemetry ``SpanExporter`` that writes finished spans into a store (imports the
OTel SDK, so it is loaded only when a capture starts or when you import it)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llmops_nb.tracing._otel import rows_to_arrow, spans_to_rows

__all__ = ["StoreSpanExporter"]

log = logging.getLogger("llmops_nb.capture")


class StoreSpanExporter(SpanExporter):
    """An OpenTelemetry ``SpanExporter`` that writes finished spans into a :class:`Store`.

    Each ``export`` call writes one store segment, so put it behind a ``BatchSpanProcessor``.
    ``on_export(rows)`` is called with the rows written (used by :class:`Capture` to remember
    its trace ids).

    Example:
        >>> import tempfile
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        >>> from llmops_nb import Store
        >>> store = Store(tempfile.mkdtemp())
        >>> provider = TracerProvider()
        >>> provider.add_span_processor(SimpleSpanProcessor(StoreSpanExporter(store)))
        >>> with provider.get_tracer("app").start_as_current_span("step"):
        ...     pass
        >>> len(store.spans())
        1
    """

    def __init__(self, store: Any, source_format: str = "capture", on_export: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self.store = store
        self.source_format = source_format
        self.on_export = on_export
        self.exported = 0
        self.failed = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            rows = spans_to_rows(spans, self.source_format)
            with self._lock:
                self.store.add("spans", rows_to_arrow(rows))
                self.exported += len(rows)
            if self.on_export is not None:
                self.on_export(rows)
            return SpanExportResult.SUCCESS
        except Exception as e:  # an exporter must not raise into the SDK
            self.failed += len(spans)
            log.warning("llmops_nb: could not write %d spans to %s: %s", len(spans), self.store, e)
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        """Nothing to release: the store needs no closing."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Every export is written synchronously, so there is nothing to flush."""
        return True
