"""Langfuse exports: ``{trace, observations}`` documents (one, a list, or JSONL of them), also
bare observation lists and the API's ``{data: [...]}`` pages.

Each observation becomes one span: ``id`` -> span_id, ``parentObservationId`` -> parent,
``type`` -> kind (GENERATION is llm), ``level`` ERROR -> status error, usage and cost as Langfuse
reported them per observation. The observation's original OTel attributes (kept by Langfuse in
``metadata.attributes``) fill what the Langfuse fields do not (tool names, documents, kinds of
SPAN observations) through the OTLP mapping. Input and output are normalised into messages on
llm spans, and into readable text everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from llmops_nb.loaders._common import (
    LoadError,
    assistant_text,
    json_text,
    last_user_text,
    otel_id,
    per_record,
    text_id,
    text_of,
    to_utc,
)
from llmops_nb.loaders._messages import maybe_json, normalize_messages
from llmops_nb.loaders.otlp import map_span

__all__ = ["parse_langfuse", "is_langfuse"]

_TYPES = {
    "GENERATION": "llm", "SPAN": None, "EVENT": None, "AGENT": "agent", "TOOL": "tool", "CHAIN": "chain",
    "RETRIEVER": "retriever", "EMBEDDING": "embedding", "EVALUATOR": "evaluator", "GUARDRAIL": "guardrail",
    "RERANKER": "reranker",
}
_OBS_KEYS = {"id", "traceId", "type", "startTime"}


def _is_obs(r: Any) -> bool:
    return isinstance(r, Mapping) and set(r) >= _OBS_KEYS


def is_langfuse(doc: Any) -> bool:
    """Whether a parsed record is a Langfuse export (trace with observations, or observations)."""
    if isinstance(doc, Mapping):
        if "observations" in doc and ("trace" in doc or "id" in doc):
            return True
        if isinstance(doc.get("data"), list) and doc["data"] and _is_obs(doc["data"][0]):
            return True
        return _is_obs(doc)
    if isinstance(doc, list) and doc:
        return all(isinstance(x, Mapping) for x in doc[:3]) and (is_langfuse(doc[0]))
    return False


def _num(v: Any) -> float | None:
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def _int(v: Any) -> int | None:
    f = _num(v)
    return None if f is None else int(f)


def _sid(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return otel_id(v, 8) if isinstance(v, str) and len(v) in (16, 18) else text_id(v)


def _tid(v: Any) -> str | None:
    if v is None or v == "":
        return None
    return otel_id(v, 16) if isinstance(v, str) and len(v) in (32, 34) else text_id(v)


def _observation(o: Mapping[str, Any], trace: Mapping[str, Any] | None, root_id: str | None) -> dict[str, Any]:
    meta = maybe_json(o.get("metadata"))
    meta = dict(meta) if isinstance(meta, Mapping) else ({} if meta is None else {"metadata": meta})
    otel_attrs = meta.pop("attributes", None)
    resource = meta.pop("resourceAttributes", None)
    scope = meta.pop("scope", None)
    base: dict[str, Any] = {}
    if isinstance(otel_attrs, Mapping) and otel_attrs:
        base = map_span({"attributes": otel_attrs, "resource": resource or {}, "scope": (scope or {}).get("name") if isinstance(scope, Mapping) else None}, "langfuse")
    typ = str(o.get("type") or "SPAN").upper()
    kind = _TYPES.get(typ)
    if kind is None:
        kind = base.get("kind") if base.get("kind") not in (None, "unknown") else ("unknown" if typ == "EVENT" else "chain")
    raw_in = maybe_json(o.get("input"))
    raw_out = maybe_json(o.get("output"))
    inp = out = None
    if kind not in ("tool", "retriever", "embedding"):
        inp = normalize_messages(raw_in, "input") if raw_in is not None else None
        out = normalize_messages(raw_out, "output") if raw_out is not None else None
    if kind == "llm":
        inp = inp or base.get("input_messages")
        out = out or base.get("output_messages")
    in_text = last_user_text(inp) if inp else (text_of(raw_in) if not isinstance(raw_in, (dict, list)) else json_text(raw_in))
    out_text = assistant_text(out) if out else (text_of(raw_out) if not isinstance(raw_out, (dict, list)) else json_text(raw_out))
    usage = o.get("usageDetails") or o.get("usage") or {}
    pt = usage.get("input") if isinstance(usage, Mapping) and "input" in usage else o.get("inputUsage", o.get("promptTokens"))
    ct = usage.get("output") if isinstance(usage, Mapping) and "output" in usage else o.get("outputUsage", o.get("completionTokens"))
    tt = usage.get("total") if isinstance(usage, Mapping) and "total" in usage else o.get("totalUsage", o.get("totalTokens"))
    has_usage = bool(usage) or any(_num(x) for x in (pt, ct, tt))
    cost = o.get("totalCost", o.get("calculatedTotalCost"))
    cost_details = o.get("costDetails") or {}
    if cost is None and isinstance(cost_details, Mapping):
        cost = cost_details.get("total")
    level = str(o.get("level") or "DEFAULT").upper()
    status = "error" if level == "ERROR" else "ok"
    attrs: dict[str, Any] = dict(base.get("attributes") or {})
    for k in ("modelParameters", "level", "version", "environment", "completionStartTime", "timeToFirstToken",
              "usageDetails", "costDetails", "promptId", "internalModelId", "toolDefinitions"):
        v = o.get(k)
        if v not in (None, {}, [], ""):
            attrs[f"langfuse.{k}"] = v
    if isinstance(raw_in, (dict, list)) and inp:
        attrs["input"] = raw_in
    if isinstance(raw_out, (dict, list)) and out:
        attrs["output"] = raw_out
    metadata = dict(base.get("metadata") or {})
    metadata.update({k: v for k, v in meta.items() if v not in (None, {}, [])})
    if o.get("promptName"):
        metadata["prompt_name"] = o["promptName"]
        metadata["prompt_version"] = o.get("promptVersion")
    span_id = _sid(o.get("id"))
    row = {
        "trace_id": _tid(o.get("traceId") or (trace or {}).get("id")),
        "span_id": span_id,
        "parent_span_id": _sid(o.get("parentObservationId")) or (root_id if root_id and root_id != span_id else None),
        "name": o.get("name"),
        "kind": kind,
        "start_time": to_utc(o.get("startTime")),
        "end_time": to_utc(o.get("endTime")),
        "status": status,
        "error_message": o.get("statusMessage") if status == "error" else None,
        "model": o.get("model") or base.get("model"),
        "provider": base.get("provider"),
        "input_messages": inp,
        "output_messages": out,
        "input_text": in_text,
        "output_text": out_text,
        "documents": base.get("documents"),
        "tool_name": (o.get("name") if kind == "tool" else None) or base.get("tool_name"),
        "tool_arguments": json_text(raw_in) if kind == "tool" else base.get("tool_arguments"),
        "tool_result": (text_of(raw_out) if not isinstance(raw_out, (dict, list)) else json_text(raw_out)) if kind == "tool" else base.get("tool_result"),
        "prompt_tokens": _int(pt) if has_usage else None,
        "completion_tokens": _int(ct) if has_usage else None,
        "total_tokens": _int(tt) if has_usage else None,
        "cost_usd": _num(cost) if (has_usage or _num(cost)) else None,
        "session_id": (trace or {}).get("sessionId") or base.get("session_id"),
        "user_id": (trace or {}).get("userId") or base.get("user_id"),
        "tags": None,
        "metadata": metadata or None,
        "attributes": attrs or None,
        "source_format": "langfuse",
    }
    if row["kind"] != "llm" and not row["model"]:
        row["model"] = None
    return row


def _key(v: Any) -> Any:
    """An id usable in a set (a malformed id such as a list is compared by its text)."""
    return v if v is None or isinstance(v, (str, int)) else repr(v)


def _not_an_object(o: Any) -> None:
    raise LoadError(f"an observation is a {type(o).__name__}", expected="observations as JSON objects")


def parse_langfuse(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from one Langfuse export record.

    Example:
        >>> rows = list(parse_langfuse({"trace": {"id": "t1", "name": "qa"}, "observations": [
        ...     {"id": "o1", "traceId": "t1", "type": "GENERATION", "startTime": "2025-01-01T00:00:00Z",
        ...      "model": "gpt-4o", "input": "hi", "output": "hello", "totalCost": 0.1}]}))
        >>> [(r["span_id"], r["kind"], r["model"], r["output_text"]) for r in rows]
        [('o1', 'llm', 'gpt-4o', 'hello')]
    """
    if isinstance(doc, list):
        outer = (ctx or {}).get("record")
        for i, d in enumerate(doc):
            sub = {**(ctx or {}), "record": f"item {i}" if outer is None else f"{outer} item {i}"}
            rows = per_record(ctx, f"item {i}", lambda d=d, sub=sub: list(parse_langfuse(d, sub)))
            yield from rows or []
        return
    if not isinstance(doc, Mapping):
        raise LoadError(f"a Langfuse record is a {type(doc).__name__}", expected="{trace, observations} or an observation")
    if isinstance(doc.get("data"), list):
        yield from parse_langfuse(doc["data"], ctx)
        return
    if _is_obs(doc) and "observations" not in doc:
        yield _observation(doc, None, None)
        return
    trace: Any = doc.get("trace") if isinstance(doc.get("trace"), Mapping) else {k: v for k, v in doc.items() if k != "observations"}
    observations = doc.get("observations")
    if observations is None and isinstance(trace.get("observations"), list) and trace["observations"] and isinstance(trace["observations"][0], Mapping):
        observations = trace["observations"]
    if not isinstance(observations, list):
        raise LoadError("observations is not a list", expected="a Langfuse export {trace, observations: [...]}")
    bad = [i for i, o in enumerate(observations) if not isinstance(o, Mapping)]
    for i in bad:  # each one fails, or is skipped, alone
        per_record(ctx, f"observation {i}", _not_an_object, observations[i])
    obs = [(i, o) for i, o in enumerate(observations) if isinstance(o, Mapping)]
    ids = {_key(o.get("id")) for _, o in obs}
    root_ids = {_key(o.get("id")) for _, o in obs
                if not o.get("parentObservationId") or _key(o.get("parentObservationId")) not in ids}
    # A Langfuse trace is a container, not an observation: its tags, metadata and scores go on
    # the root observations (those with no parent in the export).
    root_id: str | None = None
    tags = trace.get("tags") or None
    tmeta = maybe_json(trace.get("metadata"))
    tmeta = dict(tmeta) if isinstance(tmeta, Mapping) else {}
    for k in ("attributes", "resourceAttributes", "scope"):
        tmeta.pop(k, None)
    extra_meta = {k: trace.get(k) for k in ("release", "version", "environment") if trace.get(k)}
    scores = trace.get("scores") or None
    tio = {f"langfuse.trace.{k}": maybe_json(trace.get(k)) for k in ("input", "output") if trace.get(k) is not None}
    for i, o in obs:
        row = per_record(ctx, f"observation {i}", _observation, o, trace, root_id)
        if row is None:
            continue
        if _key(o.get("id")) in root_ids:
            row["tags"] = tags
            meta = {**tmeta, **extra_meta, **(row["metadata"] or {})}
            row["metadata"] = meta or None
            extra = {**tio, **({"langfuse.scores": scores} if scores else {})}
            if extra:
                row["attributes"] = {**(row["attributes"] or {}), **extra}
        yield row
