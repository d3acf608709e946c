"""Datadog LLM Observability span events: the intake payloads (``[{"event_type": "span",
"spans": [...]}]``, the ``{"data": {"attributes": {"spans": [...]}}}`` envelope), bare span
lists, JSONL of them, and VCR cassettes (YAML) that recorded those requests.

Span fields: ``span_id``, ``trace_id`` (decimal or hex; normalised to OTel hex), ``parent_id``
(``""`` or ``"undefined"`` for a root), ``start_ns``, ``duration`` (ns), ``status``,
``meta.span.kind`` (llm, workflow, agent, tool, task, embedding, retrieval),
``meta.input/output`` (``messages``, ``value``, ``documents``), ``meta.metadata``,
``metrics`` (tokens, cost), ``tags`` (``key:value``) and ``session_id``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from llmops_nb.loaders._common import (
    LoadError,
    NoTraceData,
    as_map,
    assistant_text,
    json_text,
    last_user_text,
    message,
    otel_id,
    per_record,
    read_bytes,
    text_of,
)

__all__ = ["parse_datadog", "is_datadog", "read_datadog_file"]

_KINDS = {
    "llm": "llm", "workflow": "chain", "agent": "agent", "tool": "tool", "task": "chain",
    "embedding": "embedding", "retrieval": "retriever",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _is_span(r: Any) -> bool:
    return isinstance(r, Mapping) and "span_id" in r and "meta" in r and ("start_ns" in r or "duration" in r)


def _cassette_payloads(doc: Mapping[str, Any]) -> list[Any]:
    """The Datadog payloads among the request bodies of a VCR cassette."""
    from llmops_nb.loaders._messages import maybe_json

    out = []
    for it in doc.get("interactions") or []:
        req = as_map(as_map(it).get("request"))
        body = req.get("body")
        if isinstance(body, Mapping) and "string" in body:
            body = body["string"]
        body = maybe_json(body)
        if not isinstance(body, Mapping) or "interactions" not in body:
            spans = _spans_of(body)
            if spans is not None:
                out.extend(spans)
    return out


def _spans_of(doc: Any) -> list[Any] | None:
    if isinstance(doc, Mapping) and isinstance(doc.get("interactions"), list):  # VCR cassette
        return _cassette_payloads(doc) or None
    if isinstance(doc, list):
        if doc and all(isinstance(x, Mapping) and x.get("event_type") == "span" for x in doc):
            return [s for x in doc for s in (x.get("spans") or [])]
        if doc and all(_is_span(x) for x in doc):
            return doc
        return None
    if isinstance(doc, Mapping):
        if doc.get("event_type") == "span" and isinstance(doc.get("spans"), list):
            return doc["spans"]
        data = doc.get("data")
        if isinstance(data, Mapping) and isinstance(data.get("attributes"), Mapping):
            att = data["attributes"]
            if isinstance(att.get("spans"), list):
                return att["spans"]
        if _is_span(doc):
            return [doc]
    return None


def is_datadog(doc: Any) -> bool:
    """Whether a parsed record is a Datadog LLM Observability span payload."""
    return _spans_of(doc) is not None


def _id(v: Any, nbytes: int) -> str | None:
    if v in (None, "", "undefined", 0, "0"):
        return None
    return otel_id(v, nbytes)


def _messages(side: Mapping[str, Any], default_role: str) -> list[dict[str, Any]] | None:
    msgs = side.get("messages")
    if not isinstance(msgs, list):
        return None
    return [
        message(m.get("role") or default_role, m.get("content"), m.get("tool_calls"), m.get("tool_id") or m.get("tool_call_id"))
        for m in msgs if isinstance(m, Mapping)
    ]


def _span(s: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(s, Mapping):
        raise LoadError(f"a span is a {type(s).__name__}", expected="a Datadog span object")
    meta = as_map(s.get("meta"))
    metrics = as_map(s.get("metrics"))
    sk = meta.get("span.kind") or (meta.get("span") or {}).get("kind") if isinstance(meta.get("span"), Mapping) else meta.get("span.kind")
    sk = sk or s.get("kind")
    kind = _KINDS.get(str(sk or "").lower(), "unknown")
    inp_side = as_map(meta.get("input"))
    out_side = as_map(meta.get("output"))
    inp = _messages(inp_side, "user")
    out = _messages(out_side, "assistant")
    start = None
    if s.get("start_ns") is not None:
        start = _EPOCH + timedelta(microseconds=int(s["start_ns"]) // 1000)
    end = start + timedelta(microseconds=int(s["duration"]) // 1000) if start is not None and s.get("duration") is not None else None
    status = str(s.get("status") or "unset").lower()
    status = status if status in ("ok", "error") else "unset"
    err = meta.get("error.message") or meta.get("error.type")
    if isinstance(meta.get("error"), Mapping):
        err = err or meta["error"].get("message") or meta["error"].get("type")
    tags_raw = s.get("tags") or []
    tags = [t for t in tags_raw if isinstance(t, str) and not t.endswith(":")]
    tag_map = dict(t.split(":", 1) for t in tags if ":" in t)
    docs = None
    d_src = out_side.get("documents") if kind == "retriever" else inp_side.get("documents")
    if isinstance(d_src, list):
        docs = [{"id": None if d.get("id") is None else str(d.get("id")), "content": text_of(d.get("text")),
                 "score": None if d.get("score") is None else float(d["score"]), "metadata": json_text({k: v for k, v in d.items() if k not in ("id", "text", "score")}) if len(d) > 3 else None}
                for d in d_src if isinstance(d, Mapping)]
    in_value, out_value = inp_side.get("value"), out_side.get("value")
    pt, ct, tt = metrics.get("input_tokens", metrics.get("prompt_tokens")), metrics.get("output_tokens", metrics.get("completion_tokens")), metrics.get("total_tokens")
    cost = metrics.get("total_cost", metrics.get("estimated_total_cost"))
    if cost is not None and "estimated_total_cost" in metrics and "total_cost" not in metrics:
        cost = float(cost) / 1e9  # Datadog reports estimated cost in nano-dollars
    attrs = {k: v for k, v in s.items() if k not in {"span_id", "trace_id", "parent_id", "name", "start_ns", "duration", "status", "meta", "metrics", "tags", "session_id", "kind"}}
    rest_meta = {k: v for k, v in meta.items() if k not in {"span", "span.kind", "model_name", "model_provider", "input", "output", "metadata", "error.message", "error.type", "error"}}
    if rest_meta:
        attrs["meta"] = rest_meta
    rest_metrics = {k: v for k, v in metrics.items() if k not in {"input_tokens", "output_tokens", "total_tokens", "prompt_tokens", "completion_tokens", "total_cost", "estimated_total_cost"}}
    if rest_metrics:
        attrs["metrics"] = rest_metrics
    if tag_map:
        attrs["tags"] = tag_map
    metadata = meta.get("metadata") if isinstance(meta.get("metadata"), Mapping) else None
    if s.get("ml_app") or tag_map.get("ml_app"):
        metadata = {**(metadata or {}), "ml_app": s.get("ml_app") or tag_map.get("ml_app")}
    return {
        "trace_id": _id(s.get("trace_id"), 16),
        "span_id": _id(s.get("span_id"), 8),
        "parent_span_id": _id(s.get("parent_id"), 8),
        "name": s.get("name"),
        "kind": kind,
        "start_time": start,
        "end_time": end,
        "status": status,
        "error_message": err if status == "error" else None,
        "model": meta.get("model_name"),
        "provider": meta.get("model_provider"),
        "input_messages": inp,
        "output_messages": out,
        "input_text": last_user_text(inp) if inp else text_of(in_value) if not isinstance(in_value, (dict, list)) else json_text(in_value),
        "output_text": assistant_text(out) if out else text_of(out_value) if not isinstance(out_value, (dict, list)) else json_text(out_value),
        "documents": docs,
        "tool_name": s.get("name") if kind == "tool" else None,
        "tool_arguments": json_text(in_value) if kind == "tool" else None,
        "tool_result": (json_text(out_value) if isinstance(out_value, (dict, list)) else text_of(out_value)) if kind == "tool" else None,
        "prompt_tokens": None if pt is None else int(pt),
        "completion_tokens": None if ct is None else int(ct),
        "total_tokens": None if tt is None else int(tt),
        "cost_usd": None if cost is None else float(cost),
        "session_id": None if s.get("session_id") in (None, "") else str(s["session_id"]),
        "user_id": tag_map.get("user_id") or None,
        "tags": tags or None,
        "metadata": metadata or None,
        "attributes": attrs or None,
        "source_format": "datadog",
    }


def parse_datadog(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from one Datadog LLM Observability payload.

    Example:
        >>> rows = list(parse_datadog([{"event_type": "span", "spans": [{"span_id": "2", "trace_id": "1",
        ...     "parent_id": "", "name": "chat", "start_ns": 1707763310981223936, "duration": 10**9,
        ...     "status": "ok", "meta": {"span": {"kind": "llm"}, "model_name": "gpt-4o"},
        ...     "metrics": {"input_tokens": 3}}]}]))
        >>> [(r["trace_id"], r["span_id"], r["kind"], r["model"]) for r in rows]
        [('00000000000000000000000000000001', '0000000000000002', 'llm', 'gpt-4o')]
    """
    spans = _spans_of(doc)
    if spans is None:
        if isinstance(doc, Mapping) and isinstance(doc.get("interactions"), list):
            raise NoTraceData(f"a cassette of {len(doc['interactions'])} recorded call(s), none of them with Datadog spans",
                              expected="Datadog LLM Observability span payloads in the recorded requests")
        raise LoadError("no Datadog spans found", expected='[{"event_type": "span", "spans": [...]}] or a span list')
    for i, s in enumerate(spans):
        row = per_record(ctx, f"span {i}", _span, s)
        if row is not None:
            yield row


def read_datadog_file(path: str) -> Iterator[Any]:
    """Span payloads from a VCR cassette (YAML) of Datadog intake requests, or from JSON/JSONL."""
    low = path.lower().removesuffix(".gz")
    if not low.endswith((".yaml", ".yml")):
        from llmops_nb.loaders._read import _records_of_file

        for _, rec in _records_of_file(path, None):
            yield rec
        return
    import yaml

    data = read_bytes(path)  # gunzipped within the decompressed-size limit
    try:
        cassette = yaml.safe_load(data)
    except yaml.YAMLError as e:
        raise LoadError(f"invalid YAML ({e})", file=path, expected="a VCR cassette") from None
    from llmops_nb.loaders._messages import maybe_json

    expected = "a VCR cassette ({interactions: [{request: {body: <Datadog span payload>}}]})"
    if cassette is None:
        raise LoadError("the YAML file holds nothing (empty or null)", file=path, expected=expected)
    if not isinstance(cassette, Mapping) or not isinstance(cassette.get("interactions"), list):
        raise LoadError(f"the YAML document is a {type(cassette).__name__} without an interactions list",
                        file=path, expected=expected)
    bodies = 0
    for it in cassette["interactions"]:
        req = (it.get("request") if isinstance(it, Mapping) else None) or {}
        body = req.get("body") if isinstance(req, Mapping) else None
        if isinstance(body, Mapping) and "string" in body:
            body = body["string"]
        if body in (None, "", b""):
            continue
        bodies += 1  # a request with a body (span payloads, or other intake such as evaluation metrics)
        body = maybe_json(body)
        if is_datadog(body):
            yield body
    if not bodies:
        raise LoadError(f"none of the cassette's {len(cassette['interactions'])} interactions has a request body "
                        "(all empty or null)", file=path, expected=expected)


# ------------------------------------------------------------------------------ APM snapshots

_APM_KINDS = {**_KINDS, "step": "chain", "retriever": "retriever", "embedding": "embedding"}


def _is_apm_span(s: Any) -> bool:
    return isinstance(s, Mapping) and "span_id" in s and "meta" in s and "start" in s and "duration" in s and "service" in s


def is_datadog_apm(doc: Any) -> bool:
    """Whether a record is a ddtrace APM snapshot (a list of traces, each a list of spans)."""
    return isinstance(doc, list) and bool(doc) and all(
        isinstance(t, list) and t and _is_apm_span(t[0]) for t in doc[:3])


def _apm_span(s: Mapping[str, Any], trace_id: str) -> dict[str, Any]:
    meta = dict(as_map(s.get("meta")))
    metrics = dict(as_map(s.get("metrics")))
    sk = meta.pop("_dd.llmobs.span_kind", None)
    kind = _APM_KINDS.get(str(sk or "").lower(), "unknown")
    model = meta.pop("_dd.llmobs.model_name", None)
    provider = meta.pop("_dd.llmobs.model_provider", None)

    def tok(name: str) -> int | None:
        v = metrics.pop(f"_dd.llmobs.{name}", None)
        return None if v is None else int(v)

    pt, ct, tt = tok("input_tokens"), tok("output_tokens"), tok("total_tokens")
    start = _EPOCH + timedelta(microseconds=int(s["start"]) // 1000) if s.get("start") is not None else None
    end = start + timedelta(microseconds=int(s["duration"]) // 1000) if start is not None and s.get("duration") is not None else None
    error = bool(s.get("error"))
    err = meta.get("error.message") or meta.get("error.type") if error else None
    pid = s.get("parent_id")
    return {
        "trace_id": trace_id,
        "span_id": otel_id(s.get("span_id"), 8),
        "parent_span_id": None if pid in (None, 0, "0", "") else otel_id(pid, 8),
        "name": s.get("name") if s.get("resource") in (None, "", s.get("name")) else f"{s.get('name')} {s.get('resource')}",
        "kind": kind,
        "start_time": start,
        "end_time": end,
        "status": "error" if error else "ok",
        "error_message": err,
        "model": model,
        "provider": provider,
        "prompt_tokens": pt,
        "completion_tokens": ct,
        "total_tokens": tt,
        "tool_name": s.get("resource") if kind == "tool" else None,
        "metadata": {"service": s.get("service")} if s.get("service") else None,
        "attributes": {k: v for k, v in {"resource": s.get("resource"), "type": s.get("type") or None, "meta": meta or None,
                                         "metrics": metrics or None}.items() if v is not None} or None,
        "source_format": "datadog_apm",
    }


def parse_datadog_apm(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from a ddtrace APM snapshot (the test agent's ``[[span, ...], ...]`` files):
    LLM Observability tags (``_dd.llmobs.span_kind``, ``model_name``, token metrics) give kind,
    model and tokens. Snapshot trace ids are indexes, so each trace gets an id from its position
    and its first span's start time.

    Example:
        >>> rows = list(parse_datadog_apm([[{"name": "openai.request", "service": "svc", "resource": "createResponse",
        ...     "trace_id": 0, "span_id": 1, "parent_id": 0, "error": 0, "start": 1776885812857884589, "duration": 1000,
        ...     "meta": {"_dd.llmobs.span_kind": "llm", "_dd.llmobs.model_name": "gpt-4o"},
        ...     "metrics": {"_dd.llmobs.input_tokens": 3.0}}]]))
        >>> [(r["kind"], r["model"], r["prompt_tokens"], r["parent_span_id"]) for r in rows]
        [('llm', 'gpt-4o', 3, None)]
    """
    if not is_datadog_apm(doc):
        raise LoadError("not a ddtrace APM snapshot", expected="a list of traces, each a list of span objects")
    import hashlib

    for i, trace in enumerate(doc):
        spans = [s for s in trace if isinstance(s, Mapping)]
        if len(spans) != len(trace):
            raise LoadError(f"trace {i} holds a non-object span", expected="spans as objects")
        tid = hashlib.sha1(f"{i}:{spans[0].get('trace_id')}:{spans[0].get('start')}".encode()).hexdigest()[:32]
        for s in spans:
            yield _apm_span(s, tid)
