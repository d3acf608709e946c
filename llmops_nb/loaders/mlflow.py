"""MLflow 3 traces: the trace JSON (``Trace.to_json()``: ``{"info": {...}, "data": {"spans": [...]}}``),
lists and JSONL of them, ``mlflow.entities.Trace`` objects (anything with ``to_dict()``), and
bare span dicts (``Span.to_dict()``).

Span dicts come in two layouts: the v4 dict (``span_id`` hex, ``otel_trace_id``, status code
``OK``/``ERROR``) and the older v3 dict (ids as base64 of the OTel bytes, status
``STATUS_CODE_OK``); both are normalised to OTel hex ids. MLflow stores attribute values as
JSON text (``mlflow.spanType`` = ``"\\"LLM\\""``): they are decoded first. The MLflow trace id
(``tr-...``) is kept in ``metadata.mlflow_trace_id``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from llmops_nb.loaders._common import (
    LoadError,
    as_map,
    assistant_text,
    json_text,
    last_user_text,
    otel_id,
    per_record,
    text_id,
    text_of,
)
from llmops_nb.loaders._messages import normalize_messages
from llmops_nb.loaders.otlp import _ns_time, map_span

__all__ = ["parse_mlflow", "is_mlflow"]

_KINDS = {
    "LLM": "llm", "CHAT_MODEL": "llm", "CHAIN": "chain", "AGENT": "agent", "TOOL": "tool", "RETRIEVER": "retriever",
    "EMBEDDING": "embedding", "RERANKER": "reranker", "PARSER": "chain", "MEMORY": "chain", "UNKNOWN": "unknown",
    "GUARDRAIL": "guardrail", "EVALUATOR": "evaluator",
}


def _is_span(r: Any) -> bool:
    return isinstance(r, Mapping) and "span_id" in r and "attributes" in r and (
        "start_time_unix_nano" in r or "start_time" in r) and any(
        str(k).startswith("mlflow.") for k in (r.get("attributes") or {}))


def is_mlflow(doc: Any) -> bool:
    """Whether a parsed record is an MLflow trace (or span) dict."""
    if hasattr(doc, "to_dict") and hasattr(doc, "info") and hasattr(doc, "data"):
        return True
    if isinstance(doc, Mapping):
        if isinstance(doc.get("info"), Mapping) and isinstance(doc.get("data"), Mapping) and "spans" in doc["data"]:
            return True
        return _is_span(doc)
    if isinstance(doc, list) and doc:
        return is_mlflow(doc[0])
    return False


def _decode(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            return v
    return v


def _span_id(v: Any, nbytes: int) -> str | None:
    if v in (None, ""):
        return None
    return otel_id(v, nbytes)


def _one_span(s: Any, info: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(s, Mapping):
        raise LoadError(f"a span is a {type(s).__name__}", expected="span dicts in data.spans")
    return _span(s, info)


def _span(s: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
    attrs = {k: _decode(v) for k, v in (s.get("attributes") or {}).items()}
    mlflow_tid = attrs.pop("mlflow.traceRequestId", None) or info.get("trace_id") or info.get("request_id")
    span_type = attrs.pop("mlflow.spanType", None)
    inputs = attrs.pop("mlflow.spanInputs", None)
    outputs = attrs.pop("mlflow.spanOutputs", None)
    usage = attrs.pop("mlflow.chat.tokenUsage", None)
    chat_msgs = attrs.pop("mlflow.chat.messages", None)
    model = attrs.pop("mlflow.llm.model", None) or attrs.pop("mlflow.chat.model", None)
    provider = attrs.pop("mlflow.llm.provider", None)
    cost = attrs.pop("mlflow.llm.cost", None)
    otel_tid = s.get("otel_trace_id")
    if otel_tid is None and isinstance(s.get("trace_id"), str) and not str(s["trace_id"]).startswith("tr-"):
        otel_tid = s["trace_id"]
    code = (s.get("status") or {}).get("code") if isinstance(s.get("status"), Mapping) else s.get("status_code")
    code = str(code or "").upper()
    status = "error" if "ERROR" in code else "ok" if "OK" in code else "unset"
    raw = {
        "trace_id": _span_id(otel_tid, 16) or (text_id(mlflow_tid) if mlflow_tid else None),
        "span_id": _span_id(s.get("span_id"), 8),
        "parent_span_id": _span_id(s.get("parent_span_id", s.get("parent_id")), 8),
        "name": s.get("name"),
        "start_time": _ns_time(s.get("start_time_unix_nano", s.get("start_time"))),
        "end_time": _ns_time(s.get("end_time_unix_nano", s.get("end_time"))),
        "status": status,
        "status_message": (s.get("status") or {}).get("message") if isinstance(s.get("status"), Mapping) else s.get("status_message"),
        "attributes": attrs,
        "events": [{"name": e.get("name"), "time": _ns_time(e.get("time_unix_nano", e.get("timestamp"))), "attributes": e.get("attributes") or {}}
                   for e in s.get("events") or [] if isinstance(e, Mapping)],
    }
    row = map_span(raw, "mlflow")
    kind = _KINDS.get(str(span_type or "").upper()) if span_type else None
    if kind is None and span_type:
        kind = "unknown"
    row["kind"] = kind or row["kind"]
    if kind in ("llm", "chain", "agent") or row["kind"] == "llm":
        inp = normalize_messages(chat_msgs, "input") if chat_msgs else None
        if inp is None and inputs is not None:
            inp = normalize_messages(inputs, "input")
        out = normalize_messages(outputs, "output") if outputs is not None else None
        if inp:
            row["input_messages"] = inp
        if out:
            row["output_messages"] = out
    if isinstance(inputs, (dict, list)) or inputs is not None:
        row["attributes"] = {**(row["attributes"] or {}), "mlflow.spanInputs": inputs}
    if outputs is not None:
        row["attributes"] = {**(row["attributes"] or {}), "mlflow.spanOutputs": outputs}

    def readable(v: Any) -> str | None:
        if v is None:
            return None
        if isinstance(v, Mapping) and len(v) == 1:
            (only,) = v.values()
            if isinstance(only, str):
                return only
        return text_of(v) if isinstance(v, str) else json_text(v)

    row["input_text"] = last_user_text(row["input_messages"]) if row["input_messages"] else readable(inputs) or row["input_text"]
    row["output_text"] = assistant_text(row["output_messages"]) if row["output_messages"] else readable(outputs) or row["output_text"]
    if row["kind"] == "tool":
        row["tool_name"] = row["tool_name"] or s.get("name")
        row["tool_arguments"] = row["tool_arguments"] or json_text(inputs)
        row["tool_result"] = row["tool_result"] or readable(outputs)
    if row["kind"] == "retriever" and row["documents"] is None and isinstance(outputs, list):
        docs = []
        for i, d in enumerate(outputs):
            if isinstance(d, Mapping):
                meta = as_map(d.get("metadata"))
                docs.append({"id": str(d.get("id") or meta.get("doc_uri") or meta.get("chunk_id") or i),
                             "content": text_of(d.get("page_content", d.get("content"))),
                             "score": meta.get("score") if isinstance(meta.get("score"), (int, float)) else None,
                             "metadata": json_text(meta) if meta else None})
        row["documents"] = docs or None
    if isinstance(usage, Mapping):
        row["prompt_tokens"] = usage.get("input_tokens", usage.get("prompt_tokens"))
        row["completion_tokens"] = usage.get("output_tokens", usage.get("completion_tokens"))
        row["total_tokens"] = usage.get("total_tokens")
        if row["total_tokens"] is None and (row["prompt_tokens"] is not None or row["completion_tokens"] is not None):
            row["total_tokens"] = (row["prompt_tokens"] or 0) + (row["completion_tokens"] or 0)
    if isinstance(cost, Mapping):
        row["cost_usd"] = cost.get("total_cost", cost.get("total"))
    elif isinstance(cost, (int, float)):
        row["cost_usd"] = float(cost)
    if model:
        row["model"] = model
    if provider:
        row["provider"] = provider
    if row["kind"] == "llm" and row["model"] is None and isinstance(inputs, Mapping) and isinstance(inputs.get("model"), str):
        row["model"] = inputs["model"]
    meta = dict(row["metadata"] or {})
    if mlflow_tid:
        meta["mlflow_trace_id"] = str(mlflow_tid)
    row["metadata"] = meta or None
    return row


def _trace_parts(doc: Any) -> tuple[Mapping[str, Any], list[Any]]:
    if hasattr(doc, "to_dict") and not isinstance(doc, Mapping):
        doc = doc.to_dict()
    if isinstance(doc, str):
        doc = orjson.loads(doc)
    if not isinstance(doc, Mapping):
        raise LoadError(f"an MLflow record is a {type(doc).__name__}", expected='{"info": ..., "data": {"spans": [...]}}')
    if _is_span(doc):
        return {}, [doc]
    info = as_map(doc.get("info"))
    data = as_map(doc.get("data"))
    spans = data.get("spans")
    if not isinstance(spans, list):
        raise LoadError("data.spans is not a list", expected='MLflow trace JSON {"info": ..., "data": {"spans": [...]}}')
    return info, spans


def parse_mlflow(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from one MLflow trace (dict, JSON text or ``mlflow.entities.Trace``).

    Example:
        >>> t = {"info": {"trace_id": "tr-1", "state": "OK", "tags": {"mlflow.user": "u1"}},
        ...      "data": {"spans": [{"name": "chat", "span_id": "AAAAAAAAAAE=", "trace_id": "AAAAAAAAAAAAAAAAAAAAAQ==",
        ...      "parent_span_id": "", "start_time_unix_nano": 1700000000000000000,
        ...      "end_time_unix_nano": 1700000001000000000, "status": {"code": "STATUS_CODE_OK"},
        ...      "attributes": {"mlflow.traceRequestId": '"tr-1"', "mlflow.spanType": '"LLM"',
        ...                     "mlflow.spanInputs": '{"messages": [{"role": "user", "content": "hi"}]}',
        ...                     "mlflow.spanOutputs": '"hello"'}, "events": []}]}}
        >>> r = next(parse_mlflow(t))
        >>> r["trace_id"], r["span_id"], r["kind"], r["input_text"], r["output_text"]
        ('00000000000000000000000000000001', '0000000000000001', 'llm', 'hi', 'hello')
    """
    if isinstance(doc, list):
        outer = (ctx or {}).get("record")
        for i, d in enumerate(doc):
            sub = {**(ctx or {}), "record": f"item {i}" if outer is None else f"{outer} item {i}"}
            yield from per_record(ctx, f"item {i}", lambda d=d, sub=sub: list(parse_mlflow(d, sub))) or []
        return
    info, spans = _trace_parts(doc)
    tags = as_map(info.get("tags"))
    tmeta = info.get("trace_metadata") or info.get("request_metadata") or {}
    rows = [r for r in (per_record(ctx, f"span {i}", _one_span, s, info) for i, s in enumerate(spans)) if r is not None]
    ids = {r["span_id"] for r in rows}
    for r in rows:
        if r["parent_span_id"] is None or r["parent_span_id"] not in ids:
            meta = dict(r["metadata"] or {})
            meta.update({k: v for k, v in tmeta.items() if not k.startswith("mlflow.trace")} if isinstance(tmeta, Mapping) else {})
            r["metadata"] = meta or None
            if tags:
                r["tags"] = [f"{k}={v}" if v not in (None, "") else k for k, v in tags.items() if not k.startswith("mlflow.")] or None
                user = tags.get("mlflow.user") or (tmeta.get("mlflow.trace.user") if isinstance(tmeta, Mapping) else None)
                r["user_id"] = r["user_id"] or user
            if isinstance(tmeta, Mapping):
                r["session_id"] = r["session_id"] or tmeta.get("mlflow.trace.session")
                r["user_id"] = r["user_id"] or tmeta.get("mlflow.trace.user")
            state = str(info.get("state") or info.get("status") or "")
            if state.upper() == "ERROR" and r["status"] != "error":
                r["status"] = "error"
        yield r
