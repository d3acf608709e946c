"""Phoenix spans as its client returns them: ``get_spans_dataframe()`` / ``query_spans()``
DataFrames (or Parquet files of them), the rows of such a frame as dicts, and the span dicts of
the REST API (``context.trace_id``, ``attributes`` as a nested object).

Frame columns: ``context.trace_id``, ``context.span_id`` (or ``span_id``, or the index),
``parent_id``, ``name``, ``span_kind``, ``start_time``, ``end_time``, ``status_code``,
``status_message``, ``events`` and one ``attributes.<key>`` column per OpenInference
attribute, whose values may be nested (``attributes.llm.input_messages`` holds a list of
``{"message.role": ..., "message.content": ...}``). They are flattened back into OpenInference
keys and mapped like OTLP spans.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from llmops_nb.loaders._common import LoadError, as_map, otel_id, per_record, to_utc
from llmops_nb.loaders.otlp import map_span
from llmops_nb.schema import is_missing

__all__ = ["parse_phoenix", "is_phoenix", "flatten_attributes"]


def _has(r: Mapping[str, Any], *keys: str) -> bool:
    return any(k in r for k in keys)


def is_phoenix(doc: Any) -> bool:
    """Whether a record (a frame, a row dict or a REST span) is a Phoenix span."""
    if isinstance(doc, pd.DataFrame):
        cols = set(map(str, doc.columns)) | {str(doc.index.name)}
        return ("context.span_id" in cols or "span_id" in cols) and "span_kind" in cols
    if isinstance(doc, Mapping):
        if "span_kind" in doc and _has(doc, "context.span_id", "span_id", "context"):
            return True
        ctx = doc.get("context")
        return isinstance(ctx, Mapping) and "span_id" in ctx and "span_kind" in doc
    if isinstance(doc, list) and doc:
        return is_phoenix(doc[0])
    return False


def flatten_attributes(value: Any, prefix: str, out: dict[str, Any]) -> None:
    """Flatten nested attribute values into dotted OpenInference keys (lists of objects get
    their index: ``llm.input_messages.0.message.role``).

    Example:
        >>> d = {}
        >>> flatten_attributes([{"message.role": "user"}], "llm.input_messages", d)
        >>> d
        {'llm.input_messages.0.message.role': 'user'}
    """
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, Mapping):
        for k, v in value.items():
            flatten_attributes(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list) and value and all(isinstance(x, Mapping) for x in value):
        for i, v in enumerate(value):
            flatten_attributes(v, f"{prefix}.{i}", out)
    elif not is_missing(value):
        out[prefix] = value


def _row(r: Mapping[str, Any]) -> dict[str, Any]:
    ctx = as_map(r.get("context"))
    attrs: dict[str, Any] = {}
    if isinstance(r.get("attributes"), Mapping):
        flatten_attributes(r["attributes"], "", attrs)
    for k, v in r.items():
        if isinstance(k, str) and k.startswith("attributes."):
            flatten_attributes(v, k[len("attributes."):], attrs)
    span_kind = r.get("span_kind")
    if not is_missing(span_kind) and "openinference.span.kind" not in attrs:
        attrs["openinference.span.kind"] = span_kind
    code = str(r.get("status_code") or "UNSET").upper()
    events = []
    ev: Any = r.get("events")
    if hasattr(ev, "tolist"):
        ev = ev.tolist()
    for e in ev or []:
        if isinstance(e, Mapping):
            events.append({"name": e.get("name"), "time": to_utc(e.get("timestamp")), "attributes": dict(e.get("attributes") or {})})
    tid = r.get("context.trace_id", ctx.get("trace_id"))
    sid = r.get("context.span_id", r.get("span_id", ctx.get("span_id")))
    pid = r.get("parent_id", r.get("parent_span_id"))
    if is_missing(tid) or is_missing(sid):
        raise LoadError("a Phoenix span has no context.trace_id or context.span_id", expected="Phoenix span columns")
    raw = {
        "trace_id": otel_id(tid, 16),
        "span_id": otel_id(sid, 8),
        "parent_span_id": None if is_missing(pid) or pid == "" else otel_id(pid, 8),
        "name": None if is_missing(r.get("name")) else r.get("name"),
        "start_time": None if is_missing(r.get("start_time")) else to_utc(r.get("start_time")),
        "end_time": None if is_missing(r.get("end_time")) else to_utc(r.get("end_time")),
        "status": "error" if code == "ERROR" else "ok" if code == "OK" else "unset",
        "status_message": None if is_missing(r.get("status_message")) or r.get("status_message") == "" else r.get("status_message"),
        "attributes": attrs,
        "events": events,
    }
    return map_span(raw, "phoenix")


def parse_phoenix(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from a Phoenix spans DataFrame, one row dict, or a list of span dicts.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"context.span_id": ["a1b2c3d4e5f60718"], "context.trace_id": ["0" * 31 + "1"],
        ...     "parent_id": [None], "name": ["ChatCompletion"], "span_kind": ["LLM"],
        ...     "start_time": [pd.Timestamp("2025-01-01", tz="UTC")], "end_time": [pd.Timestamp("2025-01-01 00:00:01", tz="UTC")],
        ...     "status_code": ["OK"], "attributes.llm.model_name": ["gpt-4o"],
        ...     "attributes.llm.token_count.total": [12],
        ...     "attributes.llm.output_messages": [[{"message.role": "assistant", "message.content": "hi"}]]})
        >>> r = next(parse_phoenix(df))
        >>> r["kind"], r["model"], r["total_tokens"], r["output_text"]
        ('llm', 'gpt-4o', 12, 'hi')
    """
    if isinstance(doc, pd.DataFrame):
        df = doc
        if df.index.name in ("context.span_id", "span_id") or (df.index.name and "span_id" in str(df.index.name)):
            df = df.reset_index()
        for i, rec in enumerate(df.to_dict("records")):
            row = per_record(ctx, f"row {i}", _row, rec)
            if row is not None:
                yield row
        return
    if isinstance(doc, list):
        for i, r in enumerate(doc):
            yield from per_record(ctx, f"item {i}", lambda r=r: list(parse_phoenix(r, None))) or []
        return
    if isinstance(doc, Mapping):
        yield _row(doc)
        return
    raise LoadError(f"a Phoenix record is a {type(doc).__name__}", expected="a spans DataFrame or span dicts")
