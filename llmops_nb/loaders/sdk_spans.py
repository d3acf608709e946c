"""Span JSON written by OpenTelemetry SDKs and tools built on them (not OTLP):

- ``any_agent``: mozilla-ai any-agent traces (``{"spans": [...], "final_output": ...}``) and
  lists of Python SDK ``ReadableSpan.to_json()`` dicts (``context.trace_id`` as ``0x`` hex or
  decimal integers, ``parent``, ``start_time`` in ns, ``status.status_code``);
- ``vercel``: JS SDK ``ReadableSpan`` dicts as the Vercel AI SDK's exporters and tests write
  them (``spanContext.traceId``, ``parentSpanId``/``parentSpanContext``, ``startTime`` as
  ``[seconds, nanos]``, ``ai.*`` attributes), single, in lists or grouped by operation;
- ``openinference_json``: a span's flat attribute object (OpenInference or gen_ai keys, with or
  without ids), single or in a list. Spans without ids get a stable id from their content.

All three become the flat OTLP record that :func:`llmops_nb.loaders.otlp.map_span` maps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from llmops_nb.loaders._common import LoadError, as_map, otel_id, per_record, to_utc
from llmops_nb.loaders._messages import maybe_json
from llmops_nb.loaders.otlp import map_span

__all__ = [
    "parse_any_agent", "is_any_agent", "parse_vercel", "is_vercel", "parse_openinference_json",
    "is_openinference_json",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _ns(v: Any) -> datetime | None:
    if v is None or v == 0:
        return None
    if isinstance(v, (list, tuple)) and len(v) == 2:
        return _EPOCH + timedelta(seconds=int(v[0]), microseconds=int(v[1]) // 1000)
    if isinstance(v, (int, float)) or (isinstance(v, str) and v.isdigit()):
        return _EPOCH + timedelta(microseconds=int(v) // 1000)
    return to_utc(v)


def _status(st: Any) -> tuple[str, str | None]:
    if not isinstance(st, Mapping):
        return "unset", None
    code = str(st.get("status_code", st.get("code", "")) or "").upper()
    msg = st.get("description") or st.get("message") or None
    if code in ("ERROR", "2", "STATUS_CODE_ERROR"):
        return "error", msg
    if code in ("OK", "1", "STATUS_CODE_OK"):
        return "ok", msg
    return "unset", msg


# ------------------------------------------------------------------------------ any-agent

def _is_sdk_span(r: Any) -> bool:
    return isinstance(r, Mapping) and isinstance(r.get("context"), Mapping) and "span_id" in r["context"] and "attributes" in r


def is_any_agent(doc: Any) -> bool:
    """Whether a record is an any-agent trace or a list of Python OTel SDK span dicts."""
    if isinstance(doc, Mapping):
        spans = doc.get("spans")
        if isinstance(spans, list) and (not spans or _is_sdk_span(spans[0])) and "resourceSpans" not in doc:
            return "final_output" in doc or bool(spans)
        return _is_sdk_span(doc)
    if isinstance(doc, list) and doc:
        return _is_sdk_span(doc[0])
    return False


def _any_agent_attrs(a: dict[str, Any]) -> dict[str, Any]:
    """any-agent writes some gen_ai keys of its own: map them onto the standard ones."""
    op = a.get("gen_ai.operation.name")
    out = a.get("gen_ai.output")
    if op == "call_llm":
        a["gen_ai.operation.name"] = "chat"
        a.setdefault("llmops.any_agent.operation", "call_llm")
        if out is not None and "gen_ai.output.messages" not in a:
            parsed = maybe_json(out)
            if isinstance(parsed, list) and parsed and all(isinstance(x, Mapping) and "tool.name" in x for x in parsed):
                msg = {"role": "assistant", "parts": [
                    {"type": "tool_call", "name": x.get("tool.name"), "arguments": x.get("tool.args")} for x in parsed]}
            else:
                msg = {"role": "assistant", "parts": [{"type": "text", "content": out if isinstance(out, str) else orjson.dumps(out).decode()}]}
            a["gen_ai.output.messages"] = orjson.dumps([msg]).decode()
            a.pop("gen_ai.output", None)
            a.pop("gen_ai.output.type", None)
    elif op == "execute_tool":
        if "gen_ai.tool.args" in a:
            a["gen_ai.tool.call.arguments"] = a.pop("gen_ai.tool.args")
        if out is not None:
            a["output.value"] = a.pop("gen_ai.output")
            a.pop("gen_ai.output.type", None)
    elif op == "invoke_agent" and out is not None:
        a["output.value"] = a.pop("gen_ai.output")
        a.pop("gen_ai.output.type", None)
    ic, oc = a.pop("gen_ai.usage.input_cost", None), a.pop("gen_ai.usage.output_cost", None)
    if ic is not None or oc is not None:
        a["llmops.cost_usd"] = float(ic or 0) + float(oc or 0)
        a["llmops.cost.input"] = ic
        a["llmops.cost.output"] = oc
    return a


def _sdk_raw(s: Mapping[str, Any]) -> dict[str, Any]:
    ctx = s.get("context") or {}
    parent = s.get("parent")
    pid = parent.get("span_id") if isinstance(parent, Mapping) else s.get("parent_id")
    status, msg = _status(s.get("status"))
    resource = s.get("resource")
    res_attrs: Any = resource.get("attributes") if isinstance(resource, Mapping) and isinstance(resource.get("attributes"), Mapping) else {}
    return {
        "trace_id": otel_id(ctx.get("trace_id"), 16),
        "span_id": otel_id(ctx.get("span_id"), 8),
        "parent_span_id": otel_id(pid, 8) if pid not in (None, "", 0) else None,
        "name": s.get("name"),
        "start_time": _ns(s.get("start_time")),
        "end_time": _ns(s.get("end_time")),
        "status": status,
        "status_message": msg,
        "otel_kind": None if str(s.get("kind", "")).lower() in ("internal", "spankind.internal", "") else s.get("kind"),
        "attributes": dict(s.get("attributes") or {}),
        "events": [{"name": e.get("name"), "time": _ns(e.get("timestamp")), "attributes": dict(e.get("attributes") or {})}
                   for e in s.get("events") or [] if isinstance(e, Mapping)],
        "resource": dict(res_attrs),
    }


def parse_any_agent(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from an any-agent trace or Python SDK span dicts (ids in hex, ``0x`` hex or decimal).

    Example:
        >>> rows = list(parse_any_agent({"final_output": "2025", "spans": [{"name": "call_llm m",
        ...     "context": {"trace_id": 1, "span_id": 2}, "parent": None, "start_time": 1758026593210770000,
        ...     "end_time": 1758026593449611000, "status": {"status_code": "ok"},
        ...     "attributes": {"gen_ai.operation.name": "call_llm", "gen_ai.request.model": "m",
        ...                    "gen_ai.output": "2025", "gen_ai.usage.input_cost": 0.5, "gen_ai.usage.output_cost": 0.25}}]}))
        >>> [(r["span_id"], r["kind"], r["output_text"], r["cost_usd"]) for r in rows]
        [('0000000000000002', 'llm', '2025', 0.75)]
    """
    if isinstance(doc, list):
        spans = doc
    elif isinstance(doc, Mapping) and isinstance(doc.get("spans"), list):
        spans = doc["spans"]
    elif _is_sdk_span(doc):
        spans = [doc]
    else:
        raise LoadError("no spans found", expected='an any-agent trace {"spans": [...]} or SDK span dicts')
    for i, s in enumerate(spans):
        row = per_record(ctx, f"span {i}", _any_agent_span, s)
        if row is not None:
            yield row


def _any_agent_span(s: Any) -> dict[str, Any]:
    if not _is_sdk_span(s):
        raise LoadError("a span has no context.span_id or attributes", expected="OTel SDK span JSON")
    raw = _sdk_raw(s)
    raw["attributes"] = _any_agent_attrs(raw["attributes"])
    return map_span(raw, "any_agent")


# ------------------------------------------------------------------------------ Vercel / JS SDK

def _is_js_span(r: Any) -> bool:
    return isinstance(r, Mapping) and isinstance(r.get("spanContext"), Mapping) and "attributes" in r


def is_vercel(doc: Any) -> bool:
    """Whether a record holds JS SDK ReadableSpan dicts (as the Vercel AI SDK writes them)."""
    if _is_js_span(doc):
        return True
    if isinstance(doc, list) and doc:
        return _is_js_span(doc[0])
    if isinstance(doc, Mapping) and doc:
        vals = list(doc.values())
        return all(isinstance(v, list) for v in vals) and any(v and _is_js_span(v[0]) for v in vals)
    return False


def parse_vercel(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from JS SDK span dicts (a span, a list, or ``{operation: [spans]}``).

    Example:
        >>> rows = list(parse_vercel([{"name": "ai.generateText.doGenerate",
        ...     "spanContext": {"traceId": "b3e700af9eab81e19f72f964d62a35af", "spanId": "39d6e9b3ddec9996"},
        ...     "startTime": [1770131992, 242000000], "endTime": [1770131994, 21415667], "status": {"code": 0},
        ...     "attributes": {"ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "gpt-4o-mini",
        ...                    "ai.response.text": "Lines of code", "ai.usage.promptTokens": 14}}]))
        >>> [(r["kind"], r["model"], r["output_text"], r["prompt_tokens"]) for r in rows]
        [('llm', 'gpt-4o-mini', 'Lines of code', 14)]
    """
    if _is_js_span(doc):
        spans = [doc]
    elif isinstance(doc, list):
        spans = doc
    elif isinstance(doc, Mapping):
        spans = [s for v in doc.values() if isinstance(v, list) for s in v]
    else:
        raise LoadError(f"a Vercel record is a {type(doc).__name__}", expected="JS SDK span dicts")
    for i, s in enumerate(spans):
        row = per_record(ctx, f"span {i}", _vercel_span, s)
        if row is not None:
            yield row


def _vercel_span(s: Any) -> dict[str, Any]:
    if not _is_js_span(s):
        raise LoadError("a span has no spanContext or attributes", expected="JS SDK ReadableSpan JSON")
    sc = s["spanContext"]
    parent = s.get("parentSpanId")
    if parent is None and isinstance(s.get("parentSpanContext"), Mapping):
        parent = s["parentSpanContext"].get("spanId")
    status, msg = _status(s.get("status"))
    res = s.get("resource")
    raw: dict[str, Any] = {
        "trace_id": otel_id(sc.get("traceId"), 16),
        "span_id": otel_id(sc.get("spanId"), 8),
        "parent_span_id": otel_id(parent, 8) if parent else None,
        "name": s.get("name"),
        "start_time": _ns(s.get("startTime")),
        "end_time": _ns(s.get("endTime")),
        "status": status,
        "status_message": msg,
        "otel_kind": s.get("kind") or None,
        "attributes": dict(s.get("attributes") or {}),
        "events": [{"name": e.get("name"), "time": _ns(e.get("time")), "attributes": dict(e.get("attributes") or {})}
                   for e in s.get("events") or [] if isinstance(e, Mapping)],
        "resource": dict(res.get("attributes") or {}) if isinstance(res, Mapping) else {},
    }
    return map_span(raw, "vercel")


# ------------------------------------------------------------------------------ flat attributes

_OI_PREFIXES = ("openinference.", "llm.", "gen_ai.", "input.value", "output.value", "retrieval.", "tool.", "embedding.")


def is_openinference_json(doc: Any) -> bool:
    """Whether a record is a span's flat attribute object (OpenInference or gen_ai keys)."""
    if isinstance(doc, Mapping) and doc:
        attrs: Any = doc.get("attributes") if isinstance(doc.get("attributes"), Mapping) else doc
        keys = [k for k in attrs if isinstance(k, str)]
        hits = sum(1 for k in keys if k.startswith(_OI_PREFIXES))
        return hits >= 1 and hits * 2 >= len(keys)
    if isinstance(doc, list) and doc:
        return is_openinference_json(doc[0])
    return False


def parse_openinference_json(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from flat attribute objects. Ids come from ``trace_id``/``span_id`` (or
    ``context``) when present, else from a hash of the content (stable across loads).

    Example:
        >>> r = next(parse_openinference_json({"openinference.span.kind": "LLM", "llm.model_name": "gpt-4",
        ...     "llm.output_messages.0.message.role": "assistant",
        ...     "llm.output_messages.0.message.content": "Rainy.", "llm.token_count.total": 149}))
        >>> r["kind"], r["model"], r["output_text"], r["total_tokens"], len(r["span_id"])
        ('llm', 'gpt-4', 'Rainy.', 149, 16)
    """
    if isinstance(doc, list):
        for i, d in enumerate(doc):
            yield from per_record(ctx, f"item {i}", lambda d=d: list(parse_openinference_json(d, None))) or []
        return
    if not isinstance(doc, Mapping):
        raise LoadError(f"a record is a {type(doc).__name__}", expected="an object of span attributes")
    if isinstance(doc.get("attributes"), Mapping):
        attrs = dict(doc["attributes"])
        top = {k: v for k, v in doc.items() if k != "attributes"}
    else:
        attrs = {k: v for k, v in doc.items() if k not in ("trace_id", "span_id", "parent_id", "parent_span_id", "name", "start_time", "end_time", "status", "context")}
        top = {k: doc[k] for k in ("trace_id", "span_id", "parent_id", "parent_span_id", "name", "start_time", "end_time", "status", "context") if k in doc}
    # the gen_ai fixtures of openinference-genai carry the raw request/response as input/output
    if "input" in attrs and "input.value" not in attrs:
        attrs["input.value"] = attrs.pop("input")
    if "output" in attrs and "output.value" not in attrs:
        attrs["output.value"] = attrs.pop("output")
    c = as_map(top.get("context"))
    digest = hashlib.sha1(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()
    tid = top.get("trace_id", c.get("trace_id"))
    sid = top.get("span_id", c.get("span_id"))
    pid = top.get("parent_span_id", top.get("parent_id"))
    status, msg = _status(top.get("status") if isinstance(top.get("status"), Mapping) else {"code": top.get("status")})
    raw: dict[str, Any] = {
        "trace_id": otel_id(tid, 16) if tid is not None else digest[:32],
        "span_id": otel_id(sid, 8) if sid is not None else digest[:16],
        "parent_span_id": otel_id(pid, 8) if pid else None,
        "name": top.get("name") or attrs.get("gen_ai.operation.name") or attrs.get("openinference.span.kind"),
        "start_time": _ns(top.get("start_time")),
        "end_time": _ns(top.get("end_time")),
        "status": status,
        "status_message": msg,
        "attributes": attrs,
        "events": [],
    }
    yield map_span(raw, "openinference_json")
