"""OTLP traces (JSON and protobuf) with the attribute conventions seen in the wild:
OpenInference, OpenTelemetry gen_ai (JSON messages, indexed ``gen_ai.prompt.N.*``, message
events) and the Vercel AI SDK (``ai.*``).

The reader turns every OTLP span into a flat record (ids, times, status, attributes as a dict,
events); :func:`map_span` maps that record onto the spans table. The receiver and capture use
the same two functions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from llmops_nb.loaders._common import (
    LoadError,
    assistant_text,
    json_text,
    last_user_text,
    message,
    otel_id,
    per_record,
    read_bytes,
    text_of,
)

__all__ = [
    "iter_otlp_json",
    "iter_otlp_proto",
    "map_span",
    "parse_otlp_json",
    "parse_otlp_proto",
    "is_otlp_json",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _ns_time(v: Any) -> datetime | None:
    if v is None or v == "" or v == 0 or v == "0":
        return None
    return _EPOCH + timedelta(microseconds=int(v) // 1000)


# ---------------------------------------------------------------------------------- values

def _any_value(v: Mapping[str, Any] | None) -> Any:
    """Decode an OTLP/JSON AnyValue."""
    if not v:
        return None
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "boolValue" in v:
        return bool(v["boolValue"])
    if "arrayValue" in v:
        return [_any_value(x) for x in (v["arrayValue"] or {}).get("values", []) or []]
    if "kvlistValue" in v:
        return {kv["key"]: _any_value(kv.get("value")) for kv in (v["kvlistValue"] or {}).get("values", []) or []}
    if "bytesValue" in v:
        return v["bytesValue"]
    # snake_case variants (protobuf JSON printers with preserving names)
    for k, conv in (("string_value", str), ("int_value", int), ("double_value", float), ("bool_value", bool)):
        if k in v:
            return conv(v[k])
    return None


def _attrs(kvs: Any) -> dict[str, Any]:
    if not kvs:
        return {}
    if isinstance(kvs, Mapping):  # already a dict (some exporters)
        return dict(kvs)
    return {kv["key"]: _any_value(kv.get("value")) for kv in kvs}


def _status(st: Any) -> tuple[str, str | None]:
    if not st:
        return "unset", None
    code = st.get("code", 0)
    msg = st.get("message") or None
    if code in (2, "2", "STATUS_CODE_ERROR", "ERROR"):
        return "error", msg
    if code in (1, "1", "STATUS_CODE_OK", "OK"):
        return "ok", msg
    return "unset", msg


def is_otlp_json(doc: Any) -> bool:
    """Whether a parsed JSON document is an OTLP/JSON traces export."""
    return isinstance(doc, Mapping) and ("resourceSpans" in doc or "resource_spans" in doc)


def _otlp_json_spans(doc: Mapping[str, Any]) -> Iterator[tuple[str, Any, Any, Any]]:
    """(ref, span, resource, scope) for each span of an OTLP/JSON export, unconverted."""
    rs_list = doc.get("resourceSpans", doc.get("resource_spans"))
    if not isinstance(rs_list, list):
        raise LoadError("resourceSpans is not a list", expected="OTLP/JSON: {resourceSpans: [{resource, scopeSpans: [{spans}]}]}")
    n = 0
    for r, rs in enumerate(rs_list):
        if not isinstance(rs, Mapping):
            raise LoadError(f"resourceSpans {r} is a {type(rs).__name__}", expected="a resourceSpans object")
        for ss in rs.get("scopeSpans", rs.get("scope_spans", rs.get("instrumentationLibrarySpans"))) or []:
            if not isinstance(ss, Mapping):
                raise LoadError(f"a scopeSpans of resourceSpans {r} is a {type(ss).__name__}", expected="a scopeSpans object")
            scope = ss.get("scope") or ss.get("instrumentationLibrary") or {}
            spans = ss.get("spans") or []
            if not isinstance(spans, list):
                raise LoadError(f"spans of resourceSpans {r} is a {type(spans).__name__}", expected="a list of spans")
            for sp in spans:
                yield f"span {n}", sp, rs, scope
                n += 1


def _raw_json_span(ref: str, sp: Any, rs: Mapping[str, Any], scope: Any, resources: dict[int, Any]) -> dict[str, Any]:
    if not isinstance(sp, Mapping):
        raise LoadError(f"{ref} is a {type(sp).__name__}", expected="a span object")
    key = id(rs)
    if key not in resources:
        resources[key] = _attrs((rs.get("resource") or {}).get("attributes"))
    status, msg = _status(sp.get("status"))
    events = [
        {"name": e.get("name"), "time": _ns_time(e.get("timeUnixNano")), "attributes": _attrs(e.get("attributes"))}
        for e in sp.get("events") or []
    ]
    return {
        "trace_id": otel_id(sp.get("traceId", sp.get("trace_id")), 16),
        "span_id": otel_id(sp.get("spanId", sp.get("span_id")), 8),
        "parent_span_id": otel_id(sp.get("parentSpanId", sp.get("parent_span_id")) or None, 8),
        "name": sp.get("name"),
        "start_time": _ns_time(sp.get("startTimeUnixNano", sp.get("start_time_unix_nano"))),
        "end_time": _ns_time(sp.get("endTimeUnixNano", sp.get("end_time_unix_nano"))),
        "status": status,
        "status_message": msg,
        "otel_kind": sp.get("kind"),
        "attributes": _attrs(sp.get("attributes")),
        "events": events,
        "resource": resources[key],
        "scope": scope.get("name") if isinstance(scope, Mapping) else None,
    }


def iter_otlp_json(doc: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Flat span records from an OTLP/JSON ``ExportTraceServiceRequest``."""
    resources: dict[int, Any] = {}
    for ref, sp, rs, scope in _otlp_json_spans(doc):
        yield _raw_json_span(ref, sp, rs, scope, resources)


def _pb_value(v: Any) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_pb_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _pb_value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, which)


def _pb_attrs(kvs: Any) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in kvs}


def iter_otlp_proto(data: bytes | Any) -> Iterator[dict[str, Any]]:
    """Flat span records from an OTLP protobuf ``ExportTraceServiceRequest`` (bytes or message)."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    if isinstance(data, (bytes, bytearray, memoryview)):
        req = ExportTraceServiceRequest()
        try:
            req.ParseFromString(bytes(data))
        except DecodeError as e:
            raise LoadError(f"not a valid OTLP protobuf message ({e})", expected="an ExportTraceServiceRequest") from None
    else:
        req = data
    for rs in req.resource_spans:
        resource = _pb_attrs(rs.resource.attributes)
        for ss in rs.scope_spans:
            for sp in ss.spans:
                code = sp.status.code
                status = "error" if code == 2 else "ok" if code == 1 else "unset"
                yield {
                    "trace_id": otel_id(sp.trace_id, 16),
                    "span_id": otel_id(sp.span_id, 8),
                    "parent_span_id": otel_id(sp.parent_span_id, 8) if sp.parent_span_id else None,
                    "name": sp.name,
                    "start_time": _ns_time(sp.start_time_unix_nano),
                    "end_time": _ns_time(sp.end_time_unix_nano),
                    "status": status,
                    "status_message": sp.status.message or None,
                    "otel_kind": sp.kind,
                    "attributes": _pb_attrs(sp.attributes),
                    "events": [
                        {"name": e.name, "time": _ns_time(e.time_unix_nano), "attributes": _pb_attrs(e.attributes)}
                        for e in sp.events
                    ],
                    "resource": resource,
                    "scope": ss.scope.name or None,
                }


# ---------------------------------------------------------------------------------- mapping

_OI_KINDS = {
    "LLM": "llm", "CHAIN": "chain", "RETRIEVER": "retriever", "TOOL": "tool", "AGENT": "agent",
    "EMBEDDING": "embedding", "RERANKER": "reranker", "GUARDRAIL": "guardrail", "EVALUATOR": "evaluator",
    "PROMPT": "chain", "UNKNOWN": "unknown",
}
_GENAI_OPS = {
    "chat": "llm", "text_completion": "llm", "generate_content": "llm", "completion": "llm",
    "embeddings": "embedding", "embedding": "embedding", "execute_tool": "tool",
    "invoke_agent": "agent", "create_agent": "agent", "retrieval": "retriever", "retrieve": "retriever",
}


def _unflatten(attrs: Mapping[str, Any], prefix: str) -> dict[int, Any]:
    """Collect ``prefix.N.rest`` attributes into {N: {rest: value}}."""
    out: dict[int, Any] = {}
    plen = len(prefix) + 1
    for k, v in attrs.items():
        if k.startswith(prefix + "."):
            rest = k[plen:]
            idx, _, tail = rest.partition(".")
            if idx.isdigit():
                out.setdefault(int(idx), {})[tail] = v
    return dict(sorted(out.items()))


def _oi_messages(attrs: Mapping[str, Any], prefix: str, used: set[str]) -> list[dict[str, Any]] | None:
    pre = prefix + "."
    mine = {k: v for k, v in attrs.items() if k.startswith(pre)}
    if not mine:
        return None
    used.update(mine)
    msgs = []
    for _, fields in _unflatten(mine, prefix).items():
        role = fields.get("message.role")
        content = fields.get("message.content")
        if content is None:
            parts = _unflatten(fields, "message.contents")
            texts = [p.get("message_content.text") for p in parts.values() if p.get("message_content.text")]
            content = "\n".join(texts) if texts else None
        calls = []
        for c in (_unflatten(fields, "message.tool_calls").values() if "message.tool_calls" in "".join(fields) else ()):
            calls.append({"id": c.get("tool_call.id"), "name": c.get("tool_call.function.name"), "arguments": c.get("tool_call.function.arguments")})
        msgs.append(message(role, content, calls, fields.get("message.tool_call_id")))
    return msgs


def _genai_parts_message(m: Mapping[str, Any]) -> dict[str, Any]:
    parts = m.get("parts")
    if parts is None:
        return message(m.get("role"), m.get("content"), m.get("tool_calls"), m.get("tool_call_id") or m.get("id"))
    texts, calls, call_id = [], [], None
    for p in parts or []:
        t = p.get("type")
        if t in ("text", "reasoning") or (t is None and "content" in p):
            if isinstance(p.get("content"), str):
                texts.append(p["content"])
        elif t == "tool_call":
            calls.append({"id": p.get("id"), "name": p.get("name"), "arguments": p.get("arguments")})
        elif t == "tool_call_response":
            call_id = p.get("id")
            r = p.get("response", p.get("result"))
            texts.append(r if isinstance(r, str) else json_text(r) or "")
        else:
            c = p.get("content")
            if isinstance(c, str):
                texts.append(c)
    return message(m.get("role"), "\n".join(texts) if texts else None, calls, call_id)


def _json_list(v: Any) -> list[Any] | None:
    if v is None:
        return None
    if isinstance(v, str):
        try:
            v = orjson.loads(v)
        except orjson.JSONDecodeError:
            return None
    if isinstance(v, Mapping):
        v = v.get("messages", [v])
    return v if isinstance(v, list) else None


def _genai_messages(attrs: Mapping[str, Any], events: list[dict[str, Any]], used: set[str], used_events: set[int]) -> tuple[list | None, list | None]:
    inp = out = None
    raw_in = _json_list(attrs.get("gen_ai.input.messages"))
    if raw_in is not None:
        used.add("gen_ai.input.messages")
        inp = [_genai_parts_message(m) for m in raw_in if isinstance(m, Mapping)]
    sysi = _json_list(attrs.get("gen_ai.system_instructions"))
    if sysi is not None:
        used.add("gen_ai.system_instructions")
        text = "\n".join(p.get("content", "") for p in sysi if isinstance(p, Mapping) and isinstance(p.get("content"), str))
        inp = [message("system", text), *(inp or [])]
    raw_out = _json_list(attrs.get("gen_ai.output.messages"))
    if raw_out is not None:
        used.add("gen_ai.output.messages")
        out = [_genai_parts_message(m) for m in raw_out if isinstance(m, Mapping)]
    if inp is None and any(k.startswith("gen_ai.prompt.") for k in attrs):
        used.update(k for k in attrs if k.startswith("gen_ai.prompt."))
        inp = []
        for f in _unflatten(attrs, "gen_ai.prompt").values():
            calls = [{"id": c.get("id"), "name": c.get("name"), "arguments": c.get("arguments")} for c in _unflatten(f, "tool_calls").values()]
            inp.append(message(f.get("role"), f.get("content"), calls, f.get("tool_call_id")))
    if out is None and any(k.startswith("gen_ai.completion.") for k in attrs):
        used.update(k for k in attrs if k.startswith("gen_ai.completion."))
        out = []
        for f in _unflatten(attrs, "gen_ai.completion").values():
            calls = [{"id": c.get("id"), "name": c.get("name"), "arguments": c.get("arguments")} for c in _unflatten(f, "tool_calls").values()]
            out.append(message(f.get("role") or "assistant", f.get("content"), calls, f.get("tool_call_id")))
    # message events (gen_ai.user.message, gen_ai.choice, ...)
    ev_in, ev_out = [], []
    for i, e in enumerate(events):
        name = e.get("name") or ""
        a = e.get("attributes") or {}
        if name in ("gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message", "gen_ai.tool.message"):
            role = a.get("role") or name.split(".")[1]
            body = a.get("content", a.get("body"))
            ev_in.append(message(role, body, _json_list(a.get("tool_calls")), a.get("id") or a.get("tool_call_id")))
            used_events.add(i)
        elif name == "gen_ai.choice":
            msg = a.get("message")
            if isinstance(msg, str):
                try:
                    msg = orjson.loads(msg)
                except orjson.JSONDecodeError:
                    msg = {"content": msg}
            msg = msg if isinstance(msg, Mapping) else {}
            ev_out.append(message(msg.get("role") or "assistant", msg.get("content", a.get("content")), msg.get("tool_calls") or _json_list(a.get("tool_calls"))))
            used_events.add(i)
        elif name == "gen_ai.content.prompt" and "gen_ai.prompt" in a:
            raw = _json_list(a["gen_ai.prompt"])
            ev_in.extend(_genai_parts_message(m) for m in raw or [] if isinstance(m, Mapping))
            used_events.add(i)
        elif name == "gen_ai.content.completion" and "gen_ai.completion" in a:
            raw = _json_list(a["gen_ai.completion"])
            ev_out.extend(_genai_parts_message(m) for m in raw or [] if isinstance(m, Mapping))
            used_events.add(i)
    if inp is None and ev_in:
        inp = ev_in
    if out is None and ev_out:
        out = ev_out
    return inp, out


def _vercel_messages(attrs: Mapping[str, Any], used: set[str]) -> tuple[list | None, list | None]:
    inp = out = None
    raw = attrs.get("ai.prompt.messages")
    if raw is not None:
        used.add("ai.prompt.messages")
        lst = _json_list(raw) or []
        inp = []
        for m in lst:
            if not isinstance(m, Mapping):
                continue
            content = m.get("content")
            calls, call_id = [], None
            if isinstance(content, list):
                for p in content:
                    if isinstance(p, Mapping) and p.get("type") == "tool-call":
                        calls.append({"id": p.get("toolCallId"), "name": p.get("toolName"), "arguments": p.get("input", p.get("args"))})
                    elif isinstance(p, Mapping) and p.get("type") == "tool-result":
                        call_id = p.get("toolCallId")
                        out_v = p.get("output", p.get("result"))
                        if isinstance(out_v, Mapping) and "value" in out_v:
                            out_v = out_v["value"]
                        content = out_v if not calls else content
            inp.append(message(m.get("role"), content, calls, call_id))
    elif attrs.get("ai.prompt") is not None:
        used.add("ai.prompt")
        p = attrs["ai.prompt"]
        try:
            pj = orjson.loads(p) if isinstance(p, str) else p
        except orjson.JSONDecodeError:
            pj = {"prompt": p}
        if isinstance(pj, Mapping):
            inp = []
            if pj.get("system"):
                inp.append(message("system", pj["system"]))
            if pj.get("prompt") is not None:
                inp.append(message("user", pj["prompt"]))
            for m in pj.get("messages") or []:
                inp.append(message(m.get("role"), m.get("content")))
    text = attrs.get("ai.response.text")
    calls_raw = attrs.get("ai.response.toolCalls")
    obj = attrs.get("ai.response.object")
    if text is not None or calls_raw is not None or obj is not None:
        used.update(k for k in ("ai.response.text", "ai.response.toolCalls", "ai.response.object") if k in attrs)
        calls = []
        for c in _json_list(calls_raw) or []:
            calls.append({"id": c.get("toolCallId"), "name": c.get("toolName"), "arguments": c.get("input", c.get("args"))})
        out = [message("assistant", text if text is not None else obj, calls)]
    return inp, out


def _first(attrs: Mapping[str, Any], used: set[str], *keys: str) -> Any:
    for k in keys:
        v = attrs.get(k)
        if v is not None and v != "":
            used.add(k)
            return v
    return None


def _int(v: Any) -> int | None:
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


def map_span(raw: Mapping[str, Any], source_format: str = "otlp") -> dict[str, Any]:
    """Map one flat OTLP span record onto a spans row (any supported convention)."""
    a: dict[str, Any] = dict(raw.get("attributes") or {})
    events: list[dict[str, Any]] = list(raw.get("events") or [])
    used: set[str] = set()
    used_events: set[int] = set()
    ns = {k.partition(".")[0] for k in a}  # attribute namespaces present: gate each convention

    # kind
    kind = None
    oi_kind = _first(a, used, "openinference.span.kind")
    if isinstance(oi_kind, str):
        kind = _OI_KINDS.get(oi_kind.upper(), "unknown")
    op = _first(a, set(), "gen_ai.operation.name")
    if kind is None and isinstance(op, str):
        used.add("gen_ai.operation.name")
        kind = _GENAI_OPS.get(op.lower())
    vop = a.get("ai.operationId") or a.get("operation.name") or ""
    if kind is None and isinstance(vop, str) and vop.startswith("ai."):
        if "toolCall" in vop:
            kind = "tool"
        elif "embed" in vop:
            kind = "embedding"
        elif vop.endswith((".doGenerate", ".doStream")):
            kind = "llm"
        else:
            kind = "chain"
    if kind is None and ("gen_ai" in ns or "llm.model_name" in a):
        kind = "llm" if ("gen_ai.request.model" in a or "llm.model_name" in a) else "unknown"
    if kind is None and a.get("llmops.kind"):
        kind = a["llmops.kind"]
        used.add("llmops.kind")

    model = _first(a, used, "llm.model_name", "gen_ai.response.model", "gen_ai.request.model", "ai.model.id", "ai.response.model", "embedding.model_name")
    if "gen_ai.request.model" in a:
        used.add("gen_ai.request.model")
    provider = _first(a, used, "llm.provider", "gen_ai.provider.name", "gen_ai.system", "llm.system", "ai.model.provider")

    # messages
    inp = out = None
    if "llm" in ns:
        inp = _oi_messages(a, "llm.input_messages", used)
        out = _oi_messages(a, "llm.output_messages", used)
    if (inp is None or out is None) and ("gen_ai" in ns or events):
        gi, go = _genai_messages(a, events, used, used_events)
        inp = inp if inp is not None else gi
        out = out if out is not None else go
    if (inp is None or out is None) and "ai" in ns:
        vi, vo = _vercel_messages(a, used)
        inp = inp if inp is not None else vi
        out = out if out is not None else vo

    in_value = _first(a, used, "input.value", "gen_ai.prompt", "ai.toolCall.args", "ai.toolCall.input", "gen_ai.tool.call.arguments")
    out_value = _first(a, used, "output.value", "gen_ai.completion", "ai.toolCall.result", "ai.toolCall.output", "gen_ai.tool.call.result")
    if kind == "llm" and (inp is None or out is None):
        from llmops_nb.loaders._messages import normalize_messages

        def _msgs(v: Any, side: str) -> list[dict[str, Any]] | None:
            if isinstance(v, str) and v.lstrip()[:1] in ("{", "["):
                try:
                    return normalize_messages(v, side)
                except Exception:
                    return None
            return None

        inp = inp if inp is not None else _msgs(in_value, "input")
        out = out if out is not None else _msgs(out_value, "output")
    for k in ("input.mime_type", "output.mime_type"):
        if k in a:
            used.add(k)

    # tools
    tool_name = tool_args = tool_result = None
    if kind == "tool" or "tool.name" in a or "gen_ai.tool.name" in a or "ai.toolCall.name" in a:
        tool_name = _first(a, used, "tool.name", "gen_ai.tool.name", "ai.toolCall.name", "tool_call.function.name")
        tool_args = _first(a, used, "tool.parameters", "tool_call.function.arguments")
        if tool_args is None and kind == "tool":
            tool_args = in_value
        tool_result = out_value if kind == "tool" else None
        _first(a, used, "tool.description", "gen_ai.tool.description", "gen_ai.tool.call.id", "ai.toolCall.id", "gen_ai.tool.type")

    # documents
    docs = None
    if "retrieval" in ns and any(k.startswith("retrieval.documents.") for k in a):
        used.update(k for k in a if k.startswith("retrieval.documents."))
        docs = []
        for d in _unflatten(a, "retrieval.documents").values():
            score = d.get("document.score")
            docs.append({
                "id": None if d.get("document.id") is None else str(d.get("document.id")),
                "content": text_of(d.get("document.content")),
                "score": None if score is None else float(score),
                "metadata": json_text(d.get("document.metadata")),
            })
    elif "gen_ai" in ns and a.get("gen_ai.retrieval.documents") is not None:
        used.add("gen_ai.retrieval.documents")
        docs = []
        for d in _json_list(a["gen_ai.retrieval.documents"]) or []:
            docs.append({"id": None if d.get("id") is None else str(d.get("id")), "content": text_of(d.get("content")),
                         "score": None if d.get("score") is None else float(d["score"]), "metadata": json_text(d.get("metadata"))})

    # tokens and cost
    pt = _int(_first(a, used, "llm.token_count.prompt", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "ai.usage.inputTokens", "ai.usage.promptTokens"))
    ct = _int(_first(a, used, "llm.token_count.completion", "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "ai.usage.outputTokens", "ai.usage.completionTokens"))
    tt = _int(_first(a, used, "llm.token_count.total", "gen_ai.usage.total_tokens", "ai.usage.totalTokens"))
    if tt is None and (pt is not None or ct is not None):
        tt = (pt or 0) + (ct or 0)
    cost = _first(a, used, "llm.cost.total", "gen_ai.usage.cost", "llmops.cost_usd")
    cost = None if cost is None else float(cost)

    # session, user, tags, metadata
    session = _first(a, used, "session.id", "gen_ai.conversation.id", "ai.telemetry.metadata.sessionId", "langfuse.session.id")
    user = _first(a, used, "user.id", "ai.telemetry.metadata.userId", "langfuse.user.id", "enduser.id")
    tags = _first(a, used, "tag.tags", "langfuse.trace.tags")
    if isinstance(tags, str):
        tags = _json_list(tags) or [tags]
    meta: dict[str, Any] = {}
    m = _first(a, used, "metadata")
    if isinstance(m, str):
        try:
            m = orjson.loads(m)
        except orjson.JSONDecodeError:
            m = {"metadata": m}
    if isinstance(m, Mapping):
        meta.update(m)
    for k in list(a) if ns & {"metadata", "ai", "langfuse"} else ():
        for pre in ("metadata.", "ai.telemetry.metadata.", "langfuse.trace.metadata.", "langfuse.observation.metadata."):
            if k.startswith(pre) and k not in used:
                meta[k[len(pre):]] = a[k]
                used.add(k)

    # errors
    status = raw.get("status") or "unset"
    err = raw.get("status_message")
    for i, e in enumerate(events):
        if e.get("name") == "exception":
            ea = e.get("attributes") or {}
            if status == "error" or err is None:
                err = err or ea.get("exception.message") or ea.get("exception.type")
            used_events.add(i)
            if status == "unset":
                status = "error"
    if status != "error":
        err = err if status == "error" else None

    # readable text
    in_text = last_user_text(inp) if inp else text_of(in_value)
    out_text = assistant_text(out) if out else text_of(out_value)
    if kind == "retriever" and in_text is None:
        in_text = text_of(in_value)
    if kind == "tool" and in_text is None and tool_args is not None:
        in_text = json_text(tool_args)

    rest = {k: v for k, v in a.items() if k not in used}
    if raw.get("resource"):
        rest["resource"] = raw["resource"]
    if raw.get("scope"):
        rest["otel.scope.name"] = raw["scope"]
    if raw.get("otel_kind") not in (None, 0, "SPAN_KIND_INTERNAL", "SPAN_KIND_UNSPECIFIED"):
        rest["otel.span.kind"] = raw["otel_kind"]
    left = [e for i, e in enumerate(events) if i not in used_events]
    if left:
        rest["events"] = [{"name": e["name"], "time": None if e.get("time") is None else e["time"].isoformat(), "attributes": e.get("attributes")} for e in left]
    if in_value is not None and inp is not None:
        rest["input.value"] = in_value
    if out_value is not None and out is not None:
        rest["output.value"] = out_value
    if "service.name" in (raw.get("resource") or {}):
        meta.setdefault("service.name", raw["resource"]["service.name"])

    return {
        "trace_id": raw.get("trace_id"),
        "span_id": raw.get("span_id"),
        "parent_span_id": raw.get("parent_span_id"),
        "name": raw.get("name"),
        "kind": kind or "unknown",
        "start_time": raw.get("start_time"),
        "end_time": raw.get("end_time"),
        "status": status,
        "error_message": err,
        "model": model,
        "provider": provider,
        "input_messages": inp,
        "output_messages": out,
        "input_text": in_text,
        "output_text": out_text,
        "documents": docs,
        "tool_name": tool_name,
        "tool_arguments": json_text(tool_args),
        "tool_result": text_of(tool_result) if not isinstance(tool_result, (dict, list)) else json_text(tool_result),
        "prompt_tokens": pt,
        "completion_tokens": ct,
        "total_tokens": tt,
        "cost_usd": cost,
        "session_id": None if session is None else str(session),
        "user_id": None if user is None else str(user),
        "tags": list(tags) if tags else None,
        "metadata": meta or None,
        "attributes": rest or None,
        "source_format": source_format,
    }


def parse_otlp_json(doc: Mapping[str, Any], ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from one OTLP/JSON export (a bad span fails, or is skipped, alone)."""
    resources: dict[int, Any] = {}

    def one(ref: str, sp: Any, rs: Mapping[str, Any], scope: Any) -> dict[str, Any]:
        return map_span(_raw_json_span(ref, sp, rs, scope, resources), "otlp_json")

    for ref, sp, rs, scope in _otlp_json_spans(doc):
        row = per_record(ctx, ref, one, ref, sp, rs, scope)
        if row is not None:
            yield row


def parse_otlp_proto(data: bytes | Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from one OTLP protobuf export."""
    for raw in iter_otlp_proto(data):
        yield map_span(raw, "otlp_proto")


def _read_proto_file(path: str) -> Iterator[bytes]:
    yield read_bytes(path)  # gunzipped within the decompressed-size limit


def _is_proto(rec: Any) -> bool:
    if not isinstance(rec, (bytes, bytearray)):
        return False
    try:
        return any(True for _ in iter_otlp_proto(rec))
    except Exception:
        return False
