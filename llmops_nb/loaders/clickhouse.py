"""Rows of the OpenTelemetry Collector's ClickHouse exporter (table ``otel_traces``), exported
to Parquet, CSV or JSON lines, or queried into a DataFrame.

Columns read: ``Timestamp`` (start, DateTime64(9)), ``TraceId``, ``SpanId``, ``ParentSpanId``,
``SpanName``, ``SpanKind``, ``ServiceName``, ``ResourceAttributes`` and ``SpanAttributes``
(``Map(String, String)``: a dict, a list of pairs, JSON text or ClickHouse's ``{'k':'v'}``
text), ``ScopeName``, ``Duration`` (nanoseconds), ``StatusCode``, ``StatusMessage`` and the
nested ``Events.Timestamp`` / ``Events.Name`` / ``Events.Attributes`` arrays. Each row becomes
the flat OTLP record that :func:`llmops_nb.loaders.otlp.map_span` maps (OpenInference, gen_ai and
Vercel AI SDK attributes alike); map values, always text in ClickHouse, are parsed back to
numbers where the mapping expects them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import orjson

from llmops_nb.loaders._common import LoadError, otel_id, to_utc
from llmops_nb.loaders.otlp import map_span
from llmops_nb.schema import is_missing

__all__ = ["is_clickhouse_row", "parse_clickhouse_row", "sniff_clickhouse_csv", "read_clickhouse_csv"]

_REQUIRED = {"TraceId", "SpanId", "SpanName", "Timestamp"}


def is_clickhouse_row(rec: Any) -> bool:
    """Whether a record (a row dict or a DataFrame) has the ClickHouse exporter's columns."""
    cols = rec.columns if hasattr(rec, "columns") else (rec.keys() if isinstance(rec, Mapping) else ())
    return {str(c) for c in cols} >= _REQUIRED


def sniff_clickhouse_csv(path: str) -> bool:
    """Whether a CSV file's header names the ClickHouse exporter's columns."""
    with open(path, "rb") as f:
        head = f.readline(65536).decode("utf-8", errors="replace")
    return all(c in head for c in ("TraceId", "SpanId", "SpanName", "Timestamp"))


def read_clickhouse_csv(path: str) -> Iterator[Any]:
    """The CSV as one table, every column as text (ids keep their leading zeros)."""
    import pandas as pd

    sep = "\t" if path.lower().removesuffix(".gz").endswith(".tsv") else ","
    yield pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)


def _missing(v: Any) -> bool:
    return is_missing(v) or (isinstance(v, str) and v == "")  # ClickHouse writes absent text as ''



def _literal(v: Any) -> Any:
    """A value written as text by ClickHouse (JSON or its own ``{'k':'v'}`` / ``['a']`` syntax)."""
    if not isinstance(v, str):
        return v
    s = v.strip()
    if not s or s[0] not in "{[":
        return v
    try:
        return orjson.loads(s)
    except orjson.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(s)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return v


def _map(v: Any) -> dict[str, Any]:
    v = _literal(v)
    if _missing(v):
        return {}
    if isinstance(v, Mapping):
        return {str(k): x for k, x in v.items()}
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, (list, tuple)):  # Arrow maps arrive as lists of (key, value) pairs
        return {str(p[0]): p[1] for p in v if isinstance(p, (list, tuple)) and len(p) == 2}
    raise LoadError(f"a map column holds {type(v).__name__} {str(v)[:60]!r}", expected="a Map(String, String) value")


def _list(v: Any) -> list[Any]:
    v = _literal(v)
    if _missing(v):
        return []
    if hasattr(v, "tolist"):
        v = v.tolist()
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _number(v: Any) -> Any:
    """Map values are text in ClickHouse: numbers back to numbers, the rest unchanged."""
    if isinstance(v, str) and v and (v[0].isdigit() or v[0] == "-"):
        try:
            return int(v)
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return v
    return v


def _status(code: Any) -> str:
    c = str(code or "").upper()
    if "ERROR" in c or c == "2":
        return "error"
    if c.endswith("OK") or c == "1":
        return "ok"
    return "unset"


def parse_clickhouse_row(rec: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from ClickHouse exporter rows (a row dict, or a DataFrame of them).

    Example:
        >>> r = next(parse_clickhouse_row({"Timestamp": "2025-03-01 10:00:00.000000000",
        ...     "TraceId": "5b8efff798038103d269b633813fc60c", "SpanId": "eee19b7ec3c1b174", "ParentSpanId": "",
        ...     "SpanName": "chat gpt-4o", "SpanKind": "Client", "ServiceName": "app", "Duration": 1500000000,
        ...     "StatusCode": "Ok", "SpanAttributes": "{'gen_ai.operation.name':'chat','gen_ai.request.model':'gpt-4o',"
        ...     "'gen_ai.usage.input_tokens':'12','gen_ai.usage.output_tokens':'3'}"}))
        >>> r["kind"], r["model"], r["total_tokens"], r["latency_ms"], r["parent_span_id"]
        ('llm', 'gpt-4o', 15, 1500.0, None)
    """
    if hasattr(rec, "to_dict") and hasattr(rec, "columns"):
        for row in rec.to_dict("records"):
            yield from parse_clickhouse_row(row, ctx)
        return
    if not isinstance(rec, Mapping):
        raise LoadError(f"a ClickHouse row is a {type(rec).__name__}", expected="a row with TraceId, SpanId, SpanName, Timestamp")
    start = to_utc(rec.get("Timestamp"))
    dur = rec.get("Duration")
    end = None
    if start is not None and dur is not None and not _missing(dur):
        end = start + timedelta(microseconds=int(float(dur)) // 1000)
    attrs = {k: _number(v) for k, v in _map(rec.get("SpanAttributes")).items()}
    resource = _map(rec.get("ResourceAttributes"))
    if not _missing(rec.get("ServiceName")):
        resource.setdefault("service.name", rec["ServiceName"])
    times, names, ev_attrs = _list(rec.get("Events.Timestamp")), _list(rec.get("Events.Name")), _list(rec.get("Events.Attributes"))
    events = [{"name": names[i] if i < len(names) else None, "time": to_utc(times[i]) if i < len(times) else None,
               "attributes": _map(ev_attrs[i]) if i < len(ev_attrs) else {}} for i in range(max(len(names), len(times)))]
    parent = rec.get("ParentSpanId")
    kind = rec.get("SpanKind")
    raw = {
        "trace_id": otel_id(rec.get("TraceId"), 16),
        "span_id": otel_id(rec.get("SpanId"), 8),
        "parent_span_id": None if _missing(parent) else otel_id(parent, 8),
        "name": rec.get("SpanName"),
        "start_time": start,
        "end_time": end,
        "status": _status(rec.get("StatusCode")),
        "status_message": None if _missing(rec.get("StatusMessage")) else rec["StatusMessage"],
        "otel_kind": None if _missing(kind) or str(kind).upper() in ("INTERNAL", "SPAN_KIND_INTERNAL") else kind,
        "attributes": attrs,
        "events": events,
        "resource": resource,
        "scope": None if _missing(rec.get("ScopeName")) else rec["ScopeName"],
    }
    row = map_span(raw, "clickhouse")
    if start is not None and end is not None:
        row["latency_ms"] = (end - start).total_seconds() * 1000.0
    yield row
