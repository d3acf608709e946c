"""Generic records with a declared field mapping (JSON, JSONL, CSV, Parquet, DataFrame, Dataset).

A record that already uses the spans column names needs no mapping. A mapping names, for each
spans column, a field path (``"a.b.0.c"``) or a function of the record. ``explode=`` turns one
record into several spans (for example one trace per trajectory, one tool span per tool call).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from llmops_nb.loaders._common import LoadError, message, text_id, to_utc
from llmops_nb.schema import SPANS

__all__ = ["parse_records", "get_path"]

_MISSING = object()


def get_path(record: Any, path: str, default: Any = None) -> Any:
    """Follow a dotted path (``"a.b.0.c"``) into nested dicts and lists.

    Example:
        >>> get_path({"a": [{"b": 1}]}, "a.0.b")
        1
    """
    cur = record
    for part in path.split("."):
        if isinstance(cur, Mapping):
            if part not in cur:
                return default
            cur = cur[part]
        elif isinstance(cur, (list, tuple)) and part.lstrip("-").isdigit():
            i = int(part)
            if not -len(cur) <= i < len(cur):
                return default
            cur = cur[i]
        else:
            return default
    return cur


_TIME_COLS = {"start_time", "end_time"}
_MSG_COLS = {"input_messages", "output_messages"}


def _apply(record: Any, mapping: Mapping[str, str | Callable[[Any], Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for col, spec in mapping.items():
        if col not in SPANS.names:
            raise LoadError(f"mapping names column {col!r}, which the spans table does not have", expected=f"one of {SPANS.names}")
        row[col] = spec(record) if callable(spec) else get_path(record, spec)
    return row


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    for c in _TIME_COLS:
        if row.get(c) is not None:
            row[c] = to_utc(row[c])
    for c in _MSG_COLS:
        v = row.get(c)
        if isinstance(v, list):
            row[c] = [message(m.get("role"), m.get("content"), m.get("tool_calls"), m.get("tool_call_id")) if isinstance(m, Mapping) else message("user", m) for m in v]
        elif isinstance(v, str):
            row[c] = [message("user" if c == "input_messages" else "assistant", v)]
    for c in ("trace_id", "span_id", "parent_span_id", "session_id", "user_id"):
        if row.get(c) is not None and not isinstance(row[c], str):
            v = row[c]
            if isinstance(v, float) and v != v:  # NaN from a table's empty cell
                row[c] = None
                continue
            try:
                row[c] = text_id(v)
            except LoadError as e:
                raise LoadError(f"{c}: {e.reason}", expected=e.expected) from None
    for c in ("prompt_tokens", "completion_tokens", "total_tokens"):
        if row.get(c) is not None:
            try:
                row[c] = int(row[c])
            except (TypeError, ValueError):
                raise LoadError(f"{c} is {row[c]!r}", expected=f"{c} as a whole number") from None
    for c in ("metadata", "attributes"):
        if row.get(c) is not None and not isinstance(row[c], Mapping):
            import orjson

            v = row[c]
            if isinstance(v, str):
                try:
                    v = orjson.loads(v)
                except orjson.JSONDecodeError:
                    v = {c: v}
            row[c] = v if isinstance(v, Mapping) else {c: v}
    return row


def stable_id(*parts: Any) -> str:
    """A deterministic id from parts (for records that have none)."""
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:16]


def parse_records(record: Any, ctx: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Map one record onto spans rows using ``mapping=`` (and optionally ``explode=``)."""
    opts = ctx.get("options") or {}
    explode = opts.get("explode")
    mapping = opts.get("mapping")
    if explode is not None:
        for row in explode(record):
            yield _normalise(dict(row))
        return
    if mapping is None:
        if not isinstance(record, Mapping):
            raise LoadError(f"a record is a {type(record).__name__}", expected="a dict with spans columns, or pass mapping=")
        row = {k: v for k, v in record.items() if k in SPANS.names}
        extra = {k: v for k, v in record.items() if k not in SPANS.names}
        if extra:
            meta = dict(row.get("metadata") or {})
            meta.update(extra)
            row["metadata"] = meta
    else:
        row = _apply(record, mapping)
    row = {k: (None if v is _MISSING else v) for k, v in row.items()}
    if row.get("span_id") is None and row.get("trace_id") is not None and mapping is not None:
        row["span_id"] = stable_id(row["trace_id"], "root")
    yield _normalise(row)
