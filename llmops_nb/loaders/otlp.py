"""OTLP traces (JSON and protobuf) with the attribute conventions seen in the wild:
OpenInference, OpenTelemetry gen_ai (JSON messages, indexed ``gen_ai.prompt.N.*``, message
events) and the Vercel AI SDK (``ai.*``).

The reader turns every OTLP span into a flat record (ids, times, status, attributes as a dict,
events); :func:`map_span` maps that record onto the spans table. The receiver and capture use
the same two functions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from llmops_nb.loaders._aliases import keys
from llmops_nb.loaders._common import (
    LoadError,
    SpanColumns,
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

__all__ = [
    "SpanColumns",
    "iter_otlp_json",
    "iter_otlp_proto",
    "map_otlp_json",
    "map_otlp_proto",
    "native_available",
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


# ---------------------------------------------------------------------------------- ids

Problem = Callable[[str, str, str], None]
"""``problem(where, message, action)``: told of an id that had to be repaired (see :func:`check_id`)."""

_HEXDIGITS = frozenset("0123456789abcdef")


def check_id(value: Any, nbytes: int, what: str, where: str, problem: Problem | None,
             replacement: Callable[[], str]) -> str | None:
    """A validated OTel id (``nbytes`` 16 for a trace, 8 for a span) as lowercase hex.

    Valid: ``2 * nbytes`` hex digits, base64 of ``nbytes`` bytes (protobuf JSON mapping) or
    ``nbytes`` raw bytes, not all zeros. An all-zero ``parentSpanId`` means "no parent" (None).
    Anything else is told to ``problem(where, message, action)`` and repaired: an all-zero
    trace or span id is replaced by ``replacement()``, any other invalid id is kept as written
    (so spans that name it as their parent stay linked). Without ``problem`` ids are only
    normalised (:func:`~llmops_nb.loaders._common.otel_id`).

    Example:
        >>> seen = []
        >>> check_id("abc", 8, "spanId", "spans[0]", lambda *a: seen.append(a), lambda: "x")
        'abc'
        >>> seen[0][1]
        "spanId 'abc' is 3 hex digits, not 16"
        >>> check_id("0" * 16, 8, "parentSpanId", "spans[0]", None, lambda: "x") is None
        True
    """
    if type(value) is str and len(value) == 2 * nbytes and value.strip("0") and _HEXDIGITS.issuperset(value):
        return value  # fast path: the valid lowercase hex of almost every span
    if value is None or value == "" or value == b"":
        return None
    if problem is None or not isinstance(value, (str, bytes, bytearray, memoryview)):
        return otel_id(value, nbytes)  # wrong-typed ids (lists, objects, booleans) are its errors
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        hexv = raw.hex()
        ok = len(raw) == nbytes
        desc = f"{what} is {len(raw)} bytes, not {nbytes}"
    else:
        text = str(value).strip()
        low = text.lower()
        low = low[2:] if low.startswith("0x") else low
        hexv, ok = low, False
        if set(low) <= _HEXDIGITS:
            ok = len(low) == 2 * nbytes
            desc = f"{what} {value!r} is {len(low)} hex digits, not {2 * nbytes}"
        else:
            hexv = text  # not hex: kept exactly as written
            desc = f"{what} {value!r} is neither {2 * nbytes} hex digits nor base64 of {nbytes} bytes"
            try:
                raw = base64.b64decode(text, validate=True)
                if len(raw) == nbytes:
                    hexv, ok = raw.hex(), True
                else:
                    desc = f"{what} {value!r} is base64 of {len(raw)} bytes, not {nbytes}"
            except (binascii.Error, ValueError):
                desc = f"{what} {value!r} is neither {2 * nbytes} hex digits nor decodable base64"
    if ok and hexv.strip("0"):
        return hexv
    if ok:  # all zeros: invalid in OpenTelemetry
        if what.startswith("parent"):
            return None
        new = replacement()
        problem(where, f"{what} is all zeros (invalid in OpenTelemetry)", f"repaired: {what} replaced by {new}")
        return new
    problem(where, desc, f"repaired: {what} kept as written ({hexv})")
    return hexv


def _replacements(salt: str) -> tuple[Callable[[], str], Callable[[str], Callable[[], str]]]:
    """Stable replacement ids: one trace id per export (its spans stay one trace), one span id per position."""
    trace = hashlib.sha1(f"{salt}|trace".encode()).hexdigest()[:32]
    return (lambda: trace), (lambda where: lambda: hashlib.sha1(f"{salt}|{where}".encode()).hexdigest()[:16])


_SPAN_KIND_NAMES = {0: None, 1: None, 2: "SPAN_KIND_SERVER", 3: "SPAN_KIND_CLIENT", 4: "SPAN_KIND_PRODUCER", 5: "SPAN_KIND_CONSUMER"}


def span_kind(v: Any) -> str | None:
    """The OTel span kind as its OTLP enum name (``SPAN_KIND_CLIENT``...), None for internal or unset,
    whatever the encoding: protobuf/JSON integers, enum names, Python's ``SpanKind.CLIENT``, ``client``.

    Example:
        >>> span_kind(3), span_kind("SPAN_KIND_CLIENT"), span_kind("SpanKind.CLIENT"), span_kind(1)
        ('SPAN_KIND_CLIENT', 'SPAN_KIND_CLIENT', 'SPAN_KIND_CLIENT', None)
    """
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int) or (isinstance(v, str) and v.strip().isdigit()):
        return _SPAN_KIND_NAMES.get(int(v), f"SPAN_KIND_{int(v)}")
    name = str(v).strip().upper().rsplit(".", 1)[-1]
    name = name if name.startswith("SPAN_KIND_") else f"SPAN_KIND_{name}"
    return None if name in ("SPAN_KIND_INTERNAL", "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_") else name


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
    if "bytesValue" in v:  # base64 in JSON; hex, as the protobuf reader gives it
        try:
            return base64.b64decode(v["bytesValue"], validate=True).hex()
        except (binascii.Error, ValueError, TypeError):
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


def _otlp_json_groups(doc: Mapping[str, Any]) -> Iterator[tuple[int, Any, int, Any, list[Any]]]:
    """(r, resourceSpans, si, scope, spans) for each scopeSpans of an OTLP/JSON export, its structure checked."""
    rs_list = doc.get("resourceSpans", doc.get("resource_spans"))
    if not isinstance(rs_list, list):
        raise LoadError("resourceSpans is not a list", expected="OTLP/JSON: {resourceSpans: [{resource, scopeSpans: [{spans}]}]}")
    for r, rs in enumerate(rs_list):
        if not isinstance(rs, Mapping):
            raise LoadError(f"resourceSpans {r} is a {type(rs).__name__}", expected="a resourceSpans object")
        for si, ss in enumerate(rs.get("scopeSpans", rs.get("scope_spans", rs.get("instrumentationLibrarySpans"))) or []):
            if not isinstance(ss, Mapping):
                raise LoadError(f"a scopeSpans of resourceSpans {r} is a {type(ss).__name__}", expected="a scopeSpans object")
            scope = ss.get("scope") or ss.get("instrumentationLibrary") or {}
            spans = ss.get("spans") or []
            if not isinstance(spans, list):
                raise LoadError(f"spans of resourceSpans {r} is a {type(spans).__name__}", expected="a list of spans")
            yield r, rs, si, scope, spans


def _otlp_json_spans(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, Any, Any, Any]]:
    """(ref, position, span, resource, scope) for each span of an OTLP/JSON export, unconverted."""
    n = 0
    for r, rs, si, scope, spans in _otlp_json_groups(doc):
        for i, sp in enumerate(spans):
            yield f"span {n}", f"resourceSpans[{r}].scopeSpans[{si}].spans[{i}]", sp, rs, scope
            n += 1


def _raw_json_span(ref: str, sp: Any, rs: Mapping[str, Any], scope: Any, resources: dict[int, Any], where: str | None = None,
                   problem: Problem | None = None, replacements: Any = None) -> dict[str, Any]:
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
    where = where or ref
    new_trace, new_span = replacements or _replacements("")
    return {
        "trace_id": check_id(sp.get("traceId", sp.get("trace_id")), 16, "traceId", where, problem, new_trace),
        "span_id": check_id(sp.get("spanId", sp.get("span_id")), 8, "spanId", where, problem, new_span(where)),
        "parent_span_id": check_id(sp.get("parentSpanId", sp.get("parent_span_id")) or None, 8, "parentSpanId", where, problem,
                                   new_span(where)),
        "name": sp.get("name"),
        "start_time": _ns_time(sp.get("startTimeUnixNano", sp.get("start_time_unix_nano"))),
        "end_time": _ns_time(sp.get("endTimeUnixNano", sp.get("end_time_unix_nano"))),
        "status": status,
        "status_message": msg,
        "otel_kind": span_kind(sp.get("kind")),
        "attributes": _attrs(sp.get("attributes")),
        "events": events,
        "resource": resources[key],
        "scope": (scope.get("name") or None) if isinstance(scope, Mapping) else None,
    }


def iter_otlp_json(doc: Mapping[str, Any], problem: Problem | None = None, salt: str = "") -> Iterator[dict[str, Any]]:
    """Flat span records from an OTLP/JSON ``ExportTraceServiceRequest``.

    With ``problem``, ids are validated (:func:`check_id`): invalid ones are told to it, with the
    span's position (``resourceSpans[0].scopeSpans[0].spans[3]``), and repaired."""
    resources: dict[int, Any] = {}
    reps = _replacements(salt)
    for ref, where, sp, rs, scope in _otlp_json_spans(doc):
        yield _raw_json_span(ref, sp, rs, scope, resources, where, problem, reps)


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


def iter_otlp_proto(data: bytes | Any, problem: Problem | None = None, salt: str = "") -> Iterator[dict[str, Any]]:
    """Flat span records from an OTLP protobuf ``ExportTraceServiceRequest`` (bytes or message);
    ids validated as :func:`iter_otlp_json` does when ``problem`` is given."""
    req = _proto_request(data)
    reps = _replacements(salt)
    for ri, rs in enumerate(req.resource_spans):
        resource = _pb_attrs(rs.resource.attributes)
        for si, ss in enumerate(rs.scope_spans):
            for i, sp in enumerate(ss.spans):
                yield _raw_proto_span(sp, f"resourceSpans[{ri}].scopeSpans[{si}].spans[{i}]", resource, ss.scope.name or None,
                                      problem, reps)


def _proto_request(data: bytes | Any) -> Any:
    """An ``ExportTraceServiceRequest`` from its bytes (or the message itself)."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    if isinstance(data, (bytes, bytearray, memoryview)):
        req = ExportTraceServiceRequest()
        try:
            req.ParseFromString(bytes(data))
        except DecodeError as e:
            raise LoadError(f"not a valid OTLP protobuf message ({e})", expected="an ExportTraceServiceRequest") from None
        return req
    return data


def _raw_proto_span(sp: Any, where: str, resource: dict[str, Any], scope: str | None, problem: Problem | None,
                    replacements: Any) -> dict[str, Any]:
    """The flat record of one protobuf span (``where``: its position, for id problems)."""
    new_trace, new_span = replacements
    code = sp.status.code
    return {
        "trace_id": check_id(sp.trace_id, 16, "traceId", where, problem, new_trace),
        "span_id": check_id(sp.span_id, 8, "spanId", where, problem, new_span(where)),
        "parent_span_id": check_id(sp.parent_span_id, 8, "parentSpanId", where, problem, new_span(where)),
        "name": sp.name,
        "start_time": _ns_time(sp.start_time_unix_nano),
        "end_time": _ns_time(sp.end_time_unix_nano),
        "status": "error" if code == 2 else "ok" if code == 1 else "unset",
        "status_message": sp.status.message or None,
        "otel_kind": span_kind(sp.kind),
        "attributes": _pb_attrs(sp.attributes),
        "events": [
            {"name": e.name, "time": _ns_time(e.time_unix_nano), "attributes": _pb_attrs(e.attributes)}
            for e in sp.events
        ],
        "resource": resource,
        "scope": scope,
    }


# ---------------------------------------------------------------------------------- mapping

_OI_KINDS = {
    "LLM": "llm", "CHAIN": "chain", "RETRIEVER": "retriever", "TOOL": "tool", "AGENT": "agent",
    "EMBEDDING": "embedding", "RERANKER": "reranker", "GUARDRAIL": "guardrail", "EVALUATOR": "evaluator",
    "PROMPT": "chain", "UNKNOWN": "unknown",
}
_LANGFUSE_KINDS = {"generation": "llm", "embedding": "embedding", "agent": "agent", "tool": "tool", "retriever": "retriever",
                   "chain": "chain", "evaluator": "evaluator", "guardrail": "guardrail", "span": "chain", "event": "chain"}
_TRACELOOP_KINDS = {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool", "unknown": "unknown"}


def _traceloop_value(v: Any, is_input: bool) -> Any:
    """OpenLLMetry's decorators record a call as ``{"args": [...], "kwargs": {...}}`` and a return
    value as its JSON: the arguments (a lone argument as itself) and the value, as JSON text."""
    if not isinstance(v, str):
        return v
    try:
        d = orjson.loads(v)
    except orjson.JSONDecodeError:
        return v
    if is_input and isinstance(d, Mapping) and set(d) <= {"args", "kwargs"}:
        args, kwargs = d.get("args") or [], d.get("kwargs") or {}
        d = kwargs if not args else args[0] if len(args) == 1 and not kwargs else d
    return d if isinstance(d, str) else orjson.dumps(d).decode()


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


def _genai_parts_message(m: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Canonical messages of one gen_ai message (``role`` + ``parts``). Each ``tool_call_response``
    part is a ``tool`` message of its own, whatever role carries it (pydantic-ai 2.x puts them in
    ``user`` messages)."""
    parts = m.get("parts")
    if parts is None:
        return [message(m.get("role"), m.get("content"), m.get("tool_calls"), m.get("tool_call_id") or m.get("id"))]
    texts, calls, results = [], [], []
    for p in parts or []:
        if not (type(p) is dict or isinstance(p, Mapping)):
            continue
        t = p.get("type")
        if t in ("text", "reasoning") or (t is None and "content" in p):
            if isinstance(p.get("content"), str):
                texts.append(p["content"])
        elif t == "tool_call":
            calls.append({"id": p.get("id"), "name": p.get("name"), "arguments": p.get("arguments")})
        elif t == "tool_call_response":
            r = p.get("response", p.get("result"))
            results.append(message("tool", r if isinstance(r, str) else json_text(r) or "", None, p.get("id")))
        else:
            c = p.get("content")
            if isinstance(c, str):
                texts.append(c)
    if results and not texts and not calls:
        return results
    return [*results, message(m.get("role"), "\n".join(texts) if texts else None, calls)]


def _json_list(v: Any) -> list[Any] | None:
    if v is None:
        return None
    if isinstance(v, str):
        try:
            v = orjson.loads(v)
        except orjson.JSONDecodeError:
            return None
    if type(v) is list:  # never a Mapping: the common case, without the slower abstract-class check
        return v
    if type(v) is dict or isinstance(v, Mapping):
        v = v.get("messages", [v])
    return v if isinstance(v, list) else None


def _genai_messages(attrs: Mapping[str, Any], events: list[dict[str, Any]], used: set[str], used_events: set[int]) -> tuple[list | None, list | None]:
    inp = out = None
    raw_in = _json_list(attrs.get("gen_ai.input.messages"))
    if raw_in is not None:
        used.add("gen_ai.input.messages")
        inp = [x for m in raw_in if (type(m) is dict or isinstance(m, Mapping)) for x in _genai_parts_message(m)]
    sysi = _json_list(attrs.get("gen_ai.system_instructions"))
    if sysi is not None:
        used.add("gen_ai.system_instructions")
        text = "\n".join(p.get("content", "") for p in sysi if isinstance(p, Mapping) and isinstance(p.get("content"), str))
        inp = [message("system", text), *(inp or [])]
    raw_out = _json_list(attrs.get("gen_ai.output.messages"))
    if raw_out is not None:
        used.add("gen_ai.output.messages")
        out = [x for m in raw_out if (type(m) is dict or isinstance(m, Mapping)) for x in _genai_parts_message(m)]
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
            ev_in.extend(x for m in raw or [] if isinstance(m, Mapping) for x in _genai_parts_message(m))
            used_events.add(i)
        elif name == "gen_ai.content.completion" and "gen_ai.completion" in a:
            raw = _json_list(a["gen_ai.completion"])
            ev_out.extend(x for m in raw or [] if isinstance(m, Mapping) for x in _genai_parts_message(m))
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


def maybe_json_obj(v: str) -> Any:
    try:
        return orjson.loads(v)
    except orjson.JSONDecodeError:
        return None


def _tool_message_content(v: Any) -> Any:
    """A tool's result: the content of a serialised LangChain ``ToolMessage`` (as OpenInference's
    LangChain instrumentor records a tool's output), else the value as it is."""
    # without the text "type" (or a \\u escape that could spell it) no key of the object is "type":
    # no need to parse it (tool outputs are often large JSON objects)
    if isinstance(v, str) and v.startswith('{"') and ('"type"' in v or "\\u" in v):
        d = maybe_json_obj(v)
        if isinstance(d, Mapping) and d.get("type") == "tool" and isinstance(d.get("data"), Mapping) and "content" in d["data"]:
            return d["data"]["content"]
    return v


def _fill_call_ids(msgs: list[dict[str, Any]], raw: str) -> list[dict[str, Any]]:
    """Tool-call ids an instrumentor left out of its flattened messages (OpenInference's LiteLLM
    instrumentor drops a tool message's ``tool_call_id``) taken from the raw request it recorded."""
    from llmops_nb.loaders._messages import normalize_messages

    try:
        full = normalize_messages(raw, "input") if raw.lstrip()[:1] == "{" else None
    except Exception:
        return msgs
    if not full or len(full) != len(msgs) or any(a["role"] != b["role"] for a, b in zip(msgs, full)):
        return msgs
    return [dict(m, tool_call_id=f["tool_call_id"]) if m["tool_call_id"] is None else m for m, f in zip(msgs, full)]


def _oi_document(d: Mapping[str, Any]) -> dict[str, Any]:
    """A document of OpenInference's ``retrieval.documents.N.document.*`` attributes (``d``: by the part after N)."""
    score = d.get("document.score")
    return {"id": None if d.get("document.id") is None else str(d.get("document.id")), "content": text_of(d.get("document.content")),
            "score": None if score is None else float(score), "metadata": json_text(d.get("document.metadata"))}


def _genai_document(d: Any) -> dict[str, Any]:
    """A document of ``gen_ai.retrieval.documents`` (JSON objects with id, content, score, metadata)."""
    return {"id": None if d.get("id") is None else str(d.get("id")), "content": text_of(d.get("content")),
            "score": None if d.get("score") is None else float(d["score"]), "metadata": json_text(d.get("metadata"))}


def _metadata_value(m: Any) -> Mapping[str, Any] | None:
    """The ``metadata`` attribute as a mapping to merge (JSON text parsed; other text as {"metadata": text}), else None."""
    if isinstance(m, str):
        try:
            m = orjson.loads(m)
        except orjson.JSONDecodeError:
            m = {"metadata": m}
    return m if isinstance(m, Mapping) else None


def _readable_texts(kind: str | None, inp: Any, out: Any, in_value: Any, out_value: Any, tool_args: Any) -> tuple[Any, Any]:
    """(input_text, output_text): the last user message and the assistant's answer, else the values as text."""
    in_text = last_user_text(inp) if inp else text_of(in_value)
    out_text = assistant_text(out) if out else text_of(out_value)
    if kind == "retriever" and in_text is None:
        in_text = text_of(in_value)
    if kind == "tool" and in_text is None and tool_args is not None:
        in_text = json_text(tool_args)
    return in_text, out_text


def _record_fields(rest: dict[str, Any], meta: dict[str, Any], resource: Any, scope: Any, otel_kind: str | None,
                   events: list[dict[str, Any]], inp: Any, out: Any, in_value: Any, out_value: Any) -> None:
    """Add to the left-over attributes what the record itself says (resource, scope, span kind, events
    no convention read, the raw input/output when messages were read from elsewhere) and the service
    name to the metadata."""
    if resource:
        rest["resource"] = resource
    if scope:
        rest["otel.scope.name"] = scope
    if otel_kind is not None:
        rest["otel.span.kind"] = otel_kind
    if events:
        rest["events"] = [{"name": e["name"], "time": None if e.get("time") is None else e["time"].isoformat(),
                           "attributes": e.get("attributes")} for e in events]
    if in_value is not None and inp is not None:
        rest["input.value"] = in_value
    if out_value is not None and out is not None:
        rest["output.value"] = out_value
    if "service.name" in (resource or {}):
        meta.setdefault("service.name", resource["service.name"])


def _value_messages(v: Any, side: str) -> list[dict[str, Any]] | None:
    """Messages read from an LLM span's input or output value when it is a JSON request/response."""
    if isinstance(v, str) and v.lstrip()[:1] in ("{", "["):
        from llmops_nb.loaders._messages import normalize_messages

        try:
            return normalize_messages(v, side)
        except Exception:
            return None
    return None


def _output_documents(out_value: str) -> list[dict[str, Any]] | None:
    """A retriever's output as a list of documents (Langfuse observations), else None."""
    found = maybe_json_obj(out_value)
    if isinstance(found, list) and found and all(isinstance(d, Mapping) and ("page_content" in d or "content" in d) for d in found):
        return [{"id": None if (d.get("id") or as_map(d.get("metadata")).get("id")) is None else str(d.get("id") or d["metadata"]["id"]),
                 "content": text_of(d.get("page_content", d.get("content"))), "score": None,
                 "metadata": json_text(d.get("metadata"))} for d in found]
    return None


def _first(attrs: Mapping[str, Any], used: set[str], *keys: str) -> Any:
    for k in keys:
        v = attrs.get(k)
        if v is not None and v != "":
            used.add(k)
            return v
    return None


_FIELDS = ("model", "provider", "input", "output", "tool_name", "tool_arguments", "prompt_tokens", "completion_tokens",
           "total_tokens", "cost_usd", "session_id", "user_id", "tags")
_KEY_FIELDS: dict[str, tuple[tuple[str, int], ...]] | None = None


def _aliased(a: Mapping[str, Any]) -> dict[str, tuple[int, str, Any]]:
    """For each spans field, the alias key :func:`_first` would pick over ``keys(field)`` (the first
    in order holding a value that is neither None nor ""), found in one pass over the span's
    attributes instead of one lookup per alias: {field: (rank, key, value)}."""
    global _KEY_FIELDS
    if _KEY_FIELDS is None:
        index: dict[str, list[tuple[str, int]]] = {}
        for f in _FIELDS:
            for rank, k in enumerate(keys(f)):
                index.setdefault(k, []).append((f, rank))
        _KEY_FIELDS = {k: tuple(v) for k, v in index.items()}
    best: dict[str, tuple[int, str, Any]] = {}
    kf = _KEY_FIELDS
    for k, v in a.items():
        hits = kf.get(k)
        if hits is None or v is None or v == "":
            continue
        for f, rank in hits:
            b = best.get(f)
            if b is None or rank < b[0]:
                best[f] = (rank, k, v)
    return best


def _pick(best: Mapping[str, tuple[int, str, Any]], used: set[str], field: str) -> Any:
    """``_first(a, used, *keys(field))`` from :func:`_aliased`'s answer."""
    b = best.get(field)
    if b is None:
        return None
    used.add(b[1])
    return b[2]


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
    best = _aliased(a)

    # kind
    kind = None
    oi_kind = _first(a, used, "openinference.span.kind")
    if isinstance(oi_kind, str):
        kind = _OI_KINDS.get(oi_kind.upper(), "unknown")
    op = _first(a, set(), "gen_ai.operation.name")
    if kind is None and isinstance(op, str):
        used.add("gen_ai.operation.name")
        kind = _GENAI_OPS.get(op.lower())
    lf_type = a.get("langfuse.observation.type")
    if kind is None and isinstance(lf_type, str):
        used.add("langfuse.observation.type")
        kind = _LANGFUSE_KINDS.get(lf_type.lower(), "unknown")
    tl_kind = a.get("traceloop.span.kind")
    if kind is None and isinstance(tl_kind, str):
        used.add("traceloop.span.kind")
        kind = _TRACELOOP_KINDS.get(tl_kind.lower(), "unknown")
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

    model = _pick(best, used, "model")
    if model is None and isinstance(a.get("llm.invocation_parameters"), str):  # OpenInference error spans
        inv = maybe_json_obj(a["llm.invocation_parameters"])
        model = inv.get("model") or inv.get("model_name") if isinstance(inv, Mapping) else None
    if "gen_ai.request.model" in a:
        used.add("gen_ai.request.model")
    provider = _pick(best, used, "provider")

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

    in_value = _pick(best, used, "input")
    out_value = _pick(best, used, "output")
    if used & {"traceloop.entity.input", "traceloop.entity.output", "langfuse.observation.input", "langfuse.observation.output"}:
        in_value, out_value = _traceloop_value(in_value, True), _traceloop_value(out_value, False)
    if kind == "llm" and (inp is None or out is None):
        inp = inp if inp is not None else _value_messages(in_value, "input")
        out = out if out is not None else _value_messages(out_value, "output")
    if inp and isinstance(in_value, str) and any(m["role"] == "tool" and m["tool_call_id"] is None for m in inp):
        inp = _fill_call_ids(inp, in_value)
    for k in ("input.mime_type", "output.mime_type"):
        if k in a:
            used.add(k)

    # tools
    tool_name = tool_args = tool_result = None
    if kind == "tool" or "tool.name" in a or "gen_ai.tool.name" in a or "ai.toolCall.name" in a:
        tool_name = _pick(best, used, "tool_name")
        tool_args = _pick(best, used, "tool_arguments")
        if tool_args is None and kind == "tool":
            tool_args = in_value
        tool_result = _tool_message_content(out_value) if kind == "tool" else None
        if tool_name is None and kind == "tool":  # Langfuse tool observations, hand-made tool spans: the span's name
            tool_name = raw.get("name")
        _first(a, used, "tool.description", "gen_ai.tool.description", "gen_ai.tool.call.id", "ai.toolCall.id", "gen_ai.tool.type")

    # documents
    docs = None
    if "retrieval" in ns and any(k.startswith("retrieval.documents.") for k in a):
        used.update(k for k in a if k.startswith("retrieval.documents."))
        docs = []
        for d in _unflatten(a, "retrieval.documents").values():
            docs.append(_oi_document(d))
    elif "gen_ai" in ns and a.get("gen_ai.retrieval.documents") is not None:
        used.add("gen_ai.retrieval.documents")
        docs = []
        for d in _json_list(a["gen_ai.retrieval.documents"]) or []:
            docs.append(_genai_document(d))

    if docs is None and kind == "retriever" and isinstance(out_value, str) and out_value.startswith("["):
        docs = _output_documents(out_value)

    # tokens and cost
    pt = _int(_pick(best, used, "prompt_tokens"))
    ct = _int(_pick(best, used, "completion_tokens"))
    tt = _int(_pick(best, used, "total_tokens"))
    if pt is None and ct is None and isinstance(a.get("langfuse.observation.usage_details"), str):
        ud = maybe_json_obj(a["langfuse.observation.usage_details"])
        if isinstance(ud, Mapping):
            used.add("langfuse.observation.usage_details")
            pt, ct = _int(ud.get("input", ud.get("prompt_tokens"))), _int(ud.get("output", ud.get("completion_tokens")))
            tt = _int(ud.get("total", ud.get("total_tokens")))
    if tt is None and (pt is not None or ct is not None):
        tt = (pt or 0) + (ct or 0)
    cost = _pick(best, used, "cost_usd")
    if cost is None and isinstance(a.get("langfuse.observation.cost_details"), str):
        cd = maybe_json_obj(a["langfuse.observation.cost_details"])
        if isinstance(cd, Mapping) and cd.get("total") is not None:
            used.add("langfuse.observation.cost_details")
            cost = cd["total"]
    cost = None if cost is None else float(cost)

    # session, user, tags, metadata
    session = _pick(best, used, "session_id")
    user = _pick(best, used, "user_id")
    tags = _pick(best, used, "tags")
    if isinstance(tags, str):
        tags = _json_list(tags) or [tags]
    meta: dict[str, Any] = {}
    m = _metadata_value(_first(a, used, "metadata"))
    if m is not None:
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
    if a.get("langfuse.observation.level") == "ERROR":
        used.update(k for k in ("langfuse.observation.level", "langfuse.observation.status_message") if k in a)
        status, err = "error", err or a.get("langfuse.observation.status_message")
    if status != "error":
        err = err if status == "error" else None

    in_text, out_text = _readable_texts(kind, inp, out, in_value, out_value, tool_args)
    rest = {k: v for k, v in a.items() if k not in used}
    left = [e for i, e in enumerate(events) if i not in used_events]
    _record_fields(rest, meta, raw.get("resource"), raw.get("scope"), span_kind(raw.get("otel_kind")), left, inp, out,
                   in_value, out_value)

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
    """Spans rows from one OTLP/JSON export (a bad span fails, or is skipped, alone; ids validated
    when ``ctx`` has a ``problem`` reporter)."""
    resources: dict[int, Any] = {}
    c = ctx or {}
    problem = c.get("problem")
    reps = _replacements(f"{c.get('file')}|{c.get('record')}")

    def one(ref: str, where: str, sp: Any, rs: Mapping[str, Any], scope: Any) -> dict[str, Any]:
        return map_span(_raw_json_span(ref, sp, rs, scope, resources, where, problem, reps), "otlp_json")

    for ref, where, sp, rs, scope in _otlp_json_spans(doc):
        row = per_record(ctx, ref, one, ref, where, sp, rs, scope)
        if row is not None:
            yield row


def parse_otlp_proto(data: bytes | Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from one OTLP protobuf export (ids validated when ``ctx`` has a ``problem`` reporter)."""
    ctx = ctx or {}
    for raw in iter_otlp_proto(data, ctx.get("problem"), f"{ctx.get('file')}|{ctx.get('record')}"):
        yield map_span(raw, "otlp_proto")


def _read_proto_file(path: str) -> Iterator[bytes]:
    yield read_bytes(path)  # gunzipped within the decompressed-size limit


def _is_proto(rec: Any) -> bool:
    if not isinstance(rec, (bytes, bytearray)):
        return False
    from llmops_nb.loaders._otlp_fast import detect_proto

    known = detect_proto(rec)  # the native decoder's answer, its decode kept for the mapping
    if known is not None:
        return known
    try:
        req = _proto_request(rec)
    except Exception:
        return False
    return any(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)  # a span to read (records not built)


# ---------------------------------------------------------------------------------- OTLP logs

def is_otlp_logs_json(doc: Any) -> bool:
    """Whether a parsed JSON document is an OTLP/JSON logs export (``resourceLogs``)."""
    return isinstance(doc, Mapping) and ("resourceLogs" in doc or "resource_logs" in doc)


def iter_otlp_logs_json(doc: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Flat log records (ids, event name, time, attributes, body) from an OTLP/JSON logs export."""
    rl_list = doc.get("resourceLogs", doc.get("resource_logs"))
    if not isinstance(rl_list, list):
        raise LoadError("resourceLogs is not a list", expected="OTLP/JSON: {resourceLogs: [{resource, scopeLogs: [{logRecords}]}]}")
    for rl in rl_list:
        for sl in rl.get("scopeLogs", rl.get("scope_logs")) or []:
            for lr in sl.get("logRecords", sl.get("log_records")) or []:
                if not isinstance(lr, Mapping):
                    continue
                attrs = _attrs(lr.get("attributes"))
                yield {
                    "trace_id": otel_id(lr.get("traceId", lr.get("trace_id")) or None, 16),
                    "span_id": otel_id(lr.get("spanId", lr.get("span_id")) or None, 8),
                    "name": lr.get("eventName") or lr.get("event_name") or attrs.get("event.name"),
                    "time": _ns_time(lr.get("timeUnixNano") or lr.get("observedTimeUnixNano")),
                    "attributes": attrs,
                    "body": _any_value(lr.get("body")),
                }


def parse_otlp_logs_json(doc: Mapping[str, Any], ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """The chat messages that GenAI instrumentations emit as OTLP log records (semantic
    conventions 1.27-1.36: ``gen_ai.user.message``, ``gen_ai.choice``...; later:
    ``gen_ai.client.inference.operation.details``), one partial row per span they belong to.

    ``read_traces`` merges such a row into the span with the same ids read from a traces file
    (the same folder, or the same JSONL where an OTel Collector's file exporter writes both)."""
    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for rec in iter_otlp_logs_json(doc):
        name = rec["name"] or ""
        if not (name.startswith("gen_ai.") and rec["trace_id"] and rec["span_id"]):
            continue
        body = rec["body"]
        attrs = {**rec["attributes"], **(body if isinstance(body, Mapping) else {} if body is None else {"content": body})}
        groups.setdefault((rec["trace_id"], rec["span_id"]), []).append({"name": name, "time": rec["time"], "attributes": attrs})
    for (tid, sid), events in groups.items():
        details = {}
        for e in events:
            if e["name"] == "gen_ai.client.inference.operation.details":
                details.update(e["attributes"])
        inp, out = _genai_messages(details, events, set(), set())
        yield {"trace_id": tid, "span_id": sid, "kind": "unknown", "status": "unset", "input_messages": inp, "output_messages": out,
               "input_text": last_user_text(inp), "output_text": assistant_text(out), "source_format": LOG_ROWS,
               "attributes": {"otel.log_records": [e["name"] for e in events]}}


LOG_ROWS = "otlp_logs_json"
"""``source_format`` of the partial rows :func:`parse_otlp_logs_json` yields (merged into their spans)."""


# ---------------------------------------------------------------------------------- batches, column-wise

def map_otlp_json(doc: Mapping[str, Any], ctx: Mapping[str, Any] | None = None) -> SpanColumns:
    """The spans rows of one OTLP/JSON ``ExportTraceServiceRequest``, column by column: the rows
    :func:`~llmops_nb.loaders.otlp.parse_otlp_json` yields (ids validated and a bad span failing
    or skipped alone as there, by ``ctx``), computed column-wise for the common conventions.

    Example:
        >>> doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c",
        ...     "spanId": "d269b633813fc60c", "name": "retrieve", "attributes": [
        ...     {"key": "openinference.span.kind", "value": {"stringValue": "RETRIEVER"}}]}]}]}]}
        >>> map_otlp_json(doc).columns["kind"]
        ['retriever']
    """
    from llmops_nb.loaders._otlp_fast import map_json

    return map_json(doc, ctx)


def map_otlp_proto(data: bytes | Any, ctx: Mapping[str, Any] | None = None) -> SpanColumns:
    """The spans rows of one OTLP protobuf ``ExportTraceServiceRequest`` (its bytes or the parsed
    message), column by column: the rows :func:`~llmops_nb.loaders.otlp.parse_otlp_proto` yields
    (ids validated when ``ctx`` has a ``problem`` reporter), computed column-wise.

    Example:
        >>> from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
        >>> req = ExportTraceServiceRequest()
        >>> sp = req.resource_spans.add().scope_spans.add().spans.add(name="chat", trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)))
        >>> kv = sp.attributes.add(key="gen_ai.request.model"); kv.value.string_value = "gpt-4o"
        >>> cols = map_otlp_proto(req.SerializeToString())
        >>> cols.columns["span_id"], cols.columns["model"]
        (['0102030405060708'], ['gpt-4o'])
    """
    from llmops_nb.loaders._otlp_fast import map_proto

    return map_proto(data, ctx)


def native_available(encoding: str = "protobuf") -> bool:
    """True when OTLP exports in ``encoding`` (``"protobuf"`` or ``"json"``) are decoded by a native
    extension (``llmops_nb.loaders._otlp_pb`` / ``_otlp_json``, C, built by ``pip install`` where a C
    compiler is found), False when they are parsed with upb / orjson and walked in Python (no
    extension, or ``LLMOPS_NB_NATIVE=0`` in the environment, which turns both off for comparisons).
    Both ways give the same frame.

    Example:
        >>> native_available() in (True, False), native_available("json") in (True, False)
        (True, True)
    """
    from llmops_nb.loaders import _otlp_fast

    if encoding not in ("protobuf", "json"):
        raise ValueError(f"encoding {encoding!r}: use 'protobuf' or 'json'")
    return (_otlp_fast.NATIVE if encoding == "protobuf" else _otlp_fast.NATIVE_JSON) is not None
