"""OTLP exports (JSON and protobuf) mapped column-wise onto the spans table, fast.

The reference mapping builds a flat record per span (:func:`~llmops_nb.loaders.otlp.iter_otlp_json`)
and maps it with :func:`~llmops_nb.loaders.otlp.map_span`, which tries every convention on every
span. Here each attribute key is classified once (cached: keys repeat across spans) into the role
the reference would give it (an aliased field with its rank, an OpenInference message or document
part, a key the reference reads specially, or a plain key kept in ``attributes``), and the spans
of the common conventions (OpenInference, OpenTelemetry gen_ai) are mapped from that with no
intermediate record, straight into one tuple per span, transposed into columns per export.

Any span outside what this path knows (events, Vercel AI SDK, Langfuse, OpenLLMetry keys,
indexed ``gen_ai.prompt.N``, ids to repair...) is mapped by the reference, alone, and so is any
span this path fails on: the result is the reference's, cell for cell
(tests/loaders/test_otlp_fast_mapping.py compares both on every fixture).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from llmops_nb.loaders import otlp as _o
from llmops_nb.loaders._common import SPAN_NAMES as NAMES
from llmops_nb.loaders._common import (
    SpanColumns,
    json_text,
    per_record,
    text_of,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_HEX = frozenset("0123456789abcdef")


def _as_tuple(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(map(row.get, NAMES))


# ---------------------------------------------------------------------------------- keys

# roles of an attribute key (besides feeding aliased fields, which ``hits`` says)
_PLAIN, _FALLBACK, _OI_MSG, _DOC, _SPECIAL = 0, 1, 2, 3, 4
_FALLBACK_NS = frozenset(("ai", "langfuse", "traceloop", "llmops"))
_SPECIAL_KEYS = frozenset((
    "openinference.span.kind", "gen_ai.operation.name", "input.mime_type", "output.mime_type", "metadata",
    "gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions", "gen_ai.retrieval.documents",
    "llm.invocation_parameters", "llm.model_name", "gen_ai.request.model", "tool.name", "gen_ai.tool.name",
    *("tool.description", "gen_ai.tool.description", "gen_ai.tool.call.id", "gen_ai.tool.type"),
))
_TOOL_DESC = ("tool.description", "gen_ai.tool.description", "gen_ai.tool.call.id", "ai.toolCall.id", "gen_ai.tool.type")
_MSG_TAILS = frozenset(("message.role", "message.content", "message.tool_call_id"))
_CALL_TAILS = frozenset(("tool_call.id", "tool_call.function.name", "tool_call.function.arguments"))
_KIND_NAMES = {k: _o.span_kind(k) for k in range(6)}  # OTLP's span kind numbers
_KIND_SET = frozenset(v for v in _KIND_NAMES.values() if v is not None)  # names span_kind gives back unchanged
_GEN_AI, _LLM, _RETRIEVAL = 1, 2, 4
_NS_FLAGS = {"gen_ai": _GEN_AI, "llm": _LLM, "retrieval": _RETRIEVAL}  # the namespaces map_span gates conventions on
_KEY_INFO: dict[str, tuple[Any, ...]] = {}
REFERENCE = False
"""True: every span through the reference mapping, times as datetimes (what tests compare the fast path with)."""
FALLBACK_SPANS = 0
"""Spans mapped by the reference so far in this process (how often the fast path stepped aside)."""
_MAX_KEYS = 100_000  # keys are cached while there are fewer (free-form keys never grow memory without bound)


def _index(text: str) -> int | None:
    return int(text) if text.isdigit() and text.isascii() else None


def _classify(k: str) -> tuple[Any, ...]:
    """(namespace, alias hits, role, payload) of an attribute key, as :func:`~llmops_nb.loaders.otlp.map_span` reads it."""
    if _o._KEY_FIELDS is None:
        _o._aliased({})  # builds the alias index
    assert _o._KEY_FIELDS is not None
    ns = k.partition(".")[0]
    hits = _o._KEY_FIELDS.get(k)
    role: int = _PLAIN
    payload: Any = None
    if (ns in _FALLBACK_NS or k == "operation.name" or (ns == "metadata" and k != "metadata")
            or k in ("gen_ai.prompt", "gen_ai.completion") or k.startswith(("gen_ai.prompt.", "gen_ai.completion."))):
        role = _FALLBACK
    elif k.startswith(("llm.input_messages.", "llm.output_messages.")):
        side = 0 if k.startswith("llm.input_messages.") else 1
        idx, _, tail = k[19 if side == 0 else 20:].partition(".")
        n = _index(idx)
        role = _FALLBACK
        if n is not None and tail in _MSG_TAILS:
            role, payload = _OI_MSG, (side, n, tail, None, None)
        elif n is not None and tail.startswith("message.tool_calls."):
            cidx, _, ctail = tail[19:].partition(".")
            m = _index(cidx)
            if m is not None and ctail in _CALL_TAILS:
                role, payload = _OI_MSG, (side, n, None, m, ctail)
    elif k.startswith("retrieval.documents."):
        idx, _, tail = k[20:].partition(".")
        n = _index(idx)
        role, payload = (_DOC, (n, tail)) if n is not None else (_FALLBACK, None)
    elif k in _SPECIAL_KEYS:
        role = _SPECIAL
    info = (_NS_FLAGS.get(ns, 0), hits, role, payload)
    if len(_KEY_INFO) < _MAX_KEYS:
        _KEY_INFO[k] = info
    return info


# ---------------------------------------------------------------------------------- one span

def _msg(fields: dict[str, Any], calls: dict[int, dict[str, Any]] | None) -> dict[str, Any]:
    """``otlp._common.message`` of one OpenInference message's parts (role, content, tool calls, call id)."""
    role = fields.get("message.role")
    content = fields.get("message.content")
    tcid = fields.get("message.tool_call_id")
    out_calls = None
    if calls:
        out_calls = []
        for _, c in sorted(calls.items()):
            cid, args = c.get("tool_call.id"), c.get("tool_call.function.arguments")
            out_calls.append({"id": None if cid is None else str(cid), "name": c.get("tool_call.function.name") or None,
                              "arguments": None if args is None else args if type(args) is str else json_text(args)})
    return {
        "role": None if role is None else str(role).lower(),
        "content": content if content is None or type(content) is str else text_of(content),
        "tool_calls": out_calls or None,
        "tool_call_id": None if tcid is None else str(tcid),
    }


def _int(v: Any) -> int | None:
    """``otlp._int``: a whole number, else None."""
    if type(v) is int:
        return v
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _canonical(msgs: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    from llmops_nb.loaders._read import _nested_value

    return None if msgs is None else _nested_value("messages", msgs)


def _oi_side(parts: dict[int, list[Any]]) -> list[dict[str, Any]]:
    return [_msg(fields, calls) for _, (fields, calls) in sorted(parts.items())]


_Scan = tuple[dict[str, tuple[int, str, Any]], int, "set[str] | None",
              "tuple[dict[int, list[Any]], dict[int, list[Any]]] | None", "dict[int, dict[str, Any]] | None", set[str]]


def _scan_py(a: dict[str, Any]) -> _Scan | None:
    """:func:`_map`'s first pass over a span's attributes (the native ``scan`` does the same in C):
    each aliased field's best (rank, key, value), the namespaces present, the special keys, the
    OpenInference message and retrieval document parts, the keys used so far; None when a key
    needs the reference mapping."""
    info_of = _KEY_INFO.get
    best: dict[str, tuple[int, str, Any]] = {}
    nss = 0  # namespaces present (_GEN_AI | _LLM | _RETRIEVAL)
    specials: set[str] | None = None
    oi: tuple[dict[int, list[Any]], dict[int, list[Any]]] | None = None
    docs_parts: dict[int, dict[str, Any]] | None = None
    used: set[str] = set()
    for k, v in a.items():
        info = info_of(k)
        if info is None:
            info = _classify(k)
        ns, hits, role, payload = info
        nss |= ns
        if role:
            if role == _FALLBACK:
                return None
            if role == _OI_MSG:
                used.add(k)
                side, n, tail, m, ctail = payload
                if oi is None:
                    oi = ({}, {})
                entry = oi[side].get(n)
                if entry is None:
                    entry = oi[side][n] = [{}, None]
                if tail is not None:
                    entry[0][tail] = v
                else:
                    if entry[1] is None:
                        entry[1] = {}
                    c = entry[1].get(m)
                    if c is None:
                        c = entry[1][m] = {}
                    c[ctail] = v
            elif role == _DOC:
                if docs_parts is None:
                    docs_parts = {}
                n, tail = payload
                d = docs_parts.get(n)
                if d is None:
                    d = docs_parts[n] = {}
                d[tail] = v
            else:
                if specials is None:
                    specials = set()
                specials.add(k)
        if hits is not None and v is not None and v != "":
            for f, rank in hits:
                b = best.get(f)
                if b is None or rank < b[0]:
                    best[f] = (rank, k, v)
    return best, nss, specials, oi, docs_parts, used


def _map(a: dict[str, Any], trace_id: str, span_id: str, parent: str | None, name: Any, start: Any, end: Any,
         status: str, err: Any, otel_kind: str | None, resource: dict[str, Any], scope: str | None,
         source_format: str) -> tuple[Any, ...] | None:
    """The spans row of one span (as ``map_span`` gives it) as a tuple, or None when the span needs
    the reference mapping. ``a``: the span's decoded attributes. The native ``map`` (``_otlp_pb.c``,
    :func:`_map_py` step for step in C) maps it when built; what it leaves (NotImplemented) is
    mapped by :func:`_map_py`."""
    if NATIVE is not None and NATIVE_MAP is not None:
        row = NATIVE_MAP(a, trace_id, span_id, parent, name, start, end, status, err, otel_kind, resource, scope,
                         source_format)
        if row is not NotImplemented:
            return row  # type: ignore[no-any-return]
    return _map_py(a, trace_id, span_id, parent, name, start, end, status, err, otel_kind, resource, scope, source_format)


def _map_py(a: dict[str, Any], trace_id: str, span_id: str, parent: str | None, name: Any, start: Any, end: Any,
            status: str, err: Any, otel_kind: str | None, resource: dict[str, Any], scope: str | None,
            source_format: str) -> tuple[Any, ...] | None:
    """:func:`_map` in Python (what runs without the native module, and what it hands back)."""
    native = NATIVE
    scanned = _scan_py(a) if native is None else native.scan(a, _KEY_INFO, _classify)
    if scanned is None:
        return None
    best, nss, specials, oi, docs_parts, used = scanned
    bg = best.get  # each aliased field's pick (the reference's ``_pick``; their keys are marked used at the end)
    sp = specials or ()
    # kind
    kind = None
    if "openinference.span.kind" in sp:
        oi_kind = a["openinference.span.kind"]
        if oi_kind is not None and oi_kind != "":
            used.add("openinference.span.kind")
            if isinstance(oi_kind, str):
                kind = _o._OI_KINDS.get(oi_kind.upper(), "unknown")
    if kind is None and "gen_ai.operation.name" in sp:
        op = a["gen_ai.operation.name"]
        if isinstance(op, str) and op != "":
            used.add("gen_ai.operation.name")
            kind = _o._GENAI_OPS.get(op.lower())
    genai = nss & _GEN_AI
    if kind is None and (genai or "llm.model_name" in sp):
        kind = "llm" if ("gen_ai.request.model" in sp or "llm.model_name" in sp) else "unknown"

    b = bg("model")
    model = None if b is None else b[2]
    if model is None and "llm.invocation_parameters" in sp and isinstance(a["llm.invocation_parameters"], str):
        return None
    if "gen_ai.request.model" in sp:
        used.add("gen_ai.request.model")
    b = bg("provider")
    provider = None if b is None else b[2]

    # messages
    inp = out = None
    if nss & _LLM and oi is not None:
        inp = _oi_side(oi[0]) if oi[0] else None
        out = _oi_side(oi[1]) if oi[1] else None
    if (inp is None or out is None) and genai:
        sub = {k: a[k] for k in ("gen_ai.input.messages", "gen_ai.system_instructions", "gen_ai.output.messages") if k in sp}
        if sub:
            gi, go = _o._genai_messages(sub, [], used, set())
            inp = inp if inp is not None else gi
            out = out if out is not None else go

    b = bg("input")
    in_value = None if b is None else b[2]
    b = bg("output")
    out_value = None if b is None else b[2]
    if kind == "llm" and (inp is None or out is None):  # messages in a JSON request/response: put in canonical shape
        inp = inp if inp is not None else _canonical(_o._value_messages(in_value, "input"))
        out = out if out is not None else _canonical(_o._value_messages(out_value, "output"))
    if inp and isinstance(in_value, str) and any(m["role"] == "tool" and m["tool_call_id"] is None for m in inp):
        inp = _o._fill_call_ids(inp, in_value)
    if "input.mime_type" in sp:
        used.add("input.mime_type")
    if "output.mime_type" in sp:
        used.add("output.mime_type")

    # tools
    tool_name = tool_args = tool_result = None
    tools = kind == "tool" or "tool.name" in sp or "gen_ai.tool.name" in sp
    if tools:
        b = bg("tool_name")
        tool_name = None if b is None else b[2]
        b = bg("tool_arguments")
        tool_args = None if b is None else b[2]
        if tool_args is None and kind == "tool":
            tool_args = in_value
        tool_result = _o._tool_message_content(out_value) if kind == "tool" else None
        if tool_name is None and kind == "tool":
            tool_name = name
        for k in _TOOL_DESC:
            if k in sp:
                v = a[k]
                if v is not None and v != "":
                    used.add(k)
                    break

    # documents
    docs = None
    if docs_parts is not None and nss & _RETRIEVAL:
        used.update(k for k in a if k.startswith("retrieval.documents."))
        docs = []
        for _, d in sorted(docs_parts.items()):
            docs.append(_o._oi_document(d))
    elif genai and "gen_ai.retrieval.documents" in sp and a["gen_ai.retrieval.documents"] is not None:
        used.add("gen_ai.retrieval.documents")
        docs = []
        for d in _o._json_list(a["gen_ai.retrieval.documents"]) or []:
            docs.append(_o._genai_document(d))
    if docs is None and kind == "retriever" and isinstance(out_value, str) and out_value.startswith("["):
        docs = _o._output_documents(out_value)

    # tokens and cost
    b = bg("prompt_tokens")
    pt = None if b is None else _int(b[2])
    b = bg("completion_tokens")
    ct = None if b is None else _int(b[2])
    b = bg("total_tokens")
    tt = None if b is None else _int(b[2])
    if tt is None and (pt is not None or ct is not None):
        tt = (pt or 0) + (ct or 0)
    b = bg("cost_usd")
    cost = None if b is None else float(b[2])

    # session, user, tags, metadata
    b = bg("session_id")
    session = None if b is None else b[2]
    b = bg("user_id")
    user = None if b is None else b[2]
    b = bg("tags")
    tags = None if b is None else b[2]
    if isinstance(tags, str):
        tags = _o._json_list(tags) or [tags]
    meta: dict[str, Any] = {}
    if "metadata" in sp:
        m = a["metadata"]
        if m is not None and m != "":
            used.add("metadata")
            m = _o._metadata_value(m)
            if m is not None:
                meta.update(m)

    if status != "error":
        err = None

    in_text, out_text = _o._readable_texts(kind, inp, out, in_value, out_value, tool_args)
    for f, b in best.items():
        if tools or (f != "tool_name" and f != "tool_arguments"):
            used.add(b[1])
    # every used key is one of the span's: as many used as attributes means none is left
    rest = {} if len(used) == len(a) else {k: v for k, v in a.items() if k not in used} if used else dict(a)
    if otel_kind is not None and otel_kind not in _KIND_SET:
        otel_kind = _o.span_kind(otel_kind)  # as map_span re-reads the record's kind
    _o._record_fields(rest, meta, resource, scope, otel_kind, [], inp, out, in_value, out_value)

    return (
        trace_id, span_id, parent, name, kind or "unknown", start, end, None, status, err, model, provider, inp, out,
        in_text, out_text, docs, tool_name, json_text(tool_args),
        text_of(tool_result) if not isinstance(tool_result, (dict, list)) else json_text(tool_result),
        pt, ct, tt, cost, None if session is None else str(session), None if user is None else str(user),
        list(tags) if tags else None, meta or None, rest or None, source_format,
    )


# ---------------------------------------------------------------------------------- JSON

def _hex_id(v: Any, n: int) -> str | None:
    """``v`` when it is a valid lowercase hex id of ``n`` digits (what ``check_id`` returns at once), else None."""
    if type(v) is str and len(v) == n and _HEX.issuperset(v) and v.strip("0"):
        return v
    return None


_US_LO, _US_HI = -2_208_988_800_000_000, 7_258_118_400_000_000  # 1900 to 2200, in microseconds since 1970
_ONE_US = timedelta(microseconds=1)


def _us(v: Any) -> int | None:
    """``otlp._ns_time``'s instant as whole microseconds since 1970 (its conversion: nanoseconds
    floored to microseconds); outside 1900-2200 it raises, so the span goes to the reference."""
    if v is None or v == "" or v == 0 or v == "0":
        return None
    us = int(v) // 1000
    if _US_LO <= us <= _US_HI:
        return us
    raise ValueError(f"time {v!r} outside 1900-2200")


def _finish_times(cols: SpanColumns, fallbacks: int, ctx: Mapping[str, Any]) -> SpanColumns:
    """The time columns as the caller wants them: whole microseconds since 1970 when ``ctx["times_us"]``
    (read_traces builds the frame's times from them at once) and every time is within 1900-2200,
    else ``datetime`` objects as the reference gives. Fast rows hold microseconds; fallback rows datetimes."""
    columns = cols.columns
    if ctx.get("times_us") and not REFERENCE:
        if not fallbacks:
            cols.times_us = True
            return cols
        conv = [[x if x is None or type(x) is int else (x - _EPOCH) // _ONE_US for x in columns[c]] for c in ("start_time", "end_time")]
        if all(x is None or _US_LO <= x <= _US_HI for col in conv for x in col):
            columns["start_time"], columns["end_time"] = conv
            cols.times_us = True
            return cols
    for c in ("start_time", "end_time"):
        columns[c] = [_EPOCH + timedelta(microseconds=x) if type(x) is int else x for x in columns[c]]
    return cols


def _json_span(sp: Any, resource: dict[str, Any], scope: str | None, valid: tuple[set[str], set[str]]) -> tuple[Any, ...] | None:
    """One span of the OTLP/JSON layout (camelCase keys, as the spec writes it; other spellings go to
    the reference). ``valid``: trace ids and span ids already checked in this export (a trace's spans
    share its id, children name their parent)."""
    if type(sp) is not dict or sp.get("events"):
        return None
    tid = sp["traceId"]
    traces, spans = valid
    if tid not in traces:
        if _hex_id(tid, 32) is None:
            return None
        traces.add(tid)
    sid = sp["spanId"]
    if sid not in spans:
        if _hex_id(sid, 16) is None:
            return None
        spans.add(sid)
    pid = sp.get("parentSpanId") or None
    if pid is not None and pid not in spans:
        if _hex_id(pid, 16) is None:
            return None
        spans.add(pid)
    kvs = sp.get("attributes")
    a: dict[str, Any] = {}
    if kvs:
        if type(kvs) is not list:
            return None
        any_value = _o._any_value  # the key is read before the value, as the reference's comprehension does
        a = {kv["key"]: (v["stringValue"] if "stringValue" in v else any_value(v)) if (v := kv.get("value")) else None
             for kv in kvs}
    st = sp.get("status")
    code = st.get("code", 0) if type(st) is dict else None
    if type(code) is int:
        status, msg = "error" if code == 2 else "ok" if code == 1 else "unset", st.get("message") or None  # type: ignore[union-attr]
    else:
        status, msg = _o._status(st)
    k = sp.get("kind")
    otel_kind = _KIND_NAMES[k] if type(k) is int and k in _KIND_NAMES else _o.span_kind(k)
    return _map(a, tid, sid, pid, sp.get("name"), _us(sp["startTimeUnixNano"]), _us(sp["endTimeUnixNano"]), status, msg,
                otel_kind, resource, scope, "otlp_json")


def map_json(doc: Mapping[str, Any], ctx: Mapping[str, Any] | None = None) -> SpanColumns:
    if type(doc) is NativeExport and not REFERENCE:
        return _map_native(doc, ctx)
    c = ctx or {}
    problem = c.get("problem")
    reps = None
    raw_resources: dict[int, Any] = {}
    rows: list[tuple[Any, ...]] = []
    fallbacks = 0
    valid: tuple[set[str], set[str]] = (set(), set())
    n = 0
    last_rs: Any = None
    resource: dict[str, Any] | None = None
    for r, rs, si, scope, spans in _o._otlp_json_groups(doc):
        if rs is not last_rs:
            last_rs, resource = rs, None
        scope_name = (scope.get("name") or None) if isinstance(scope, Mapping) else None
        for i, sp in enumerate(spans):
            row = None
            try:
                if resource is None:
                    resource = _o._attrs((rs.get("resource") or {}).get("attributes"))
                    raw_resources[id(rs)] = resource
                row = None if REFERENCE else _json_span(sp, resource, scope_name, valid)
            except (RecursionError, MemoryError):
                raise
            except Exception:
                row = None
            if row is None:  # the reference mapping, with its errors and id repairs
                if reps is None:
                    reps = _o._replacements(f"{c.get('file')}|{c.get('record')}")
                fallbacks += 1
                ref, where = f"span {n}", f"resourceSpans[{r}].scopeSpans[{si}].spans[{i}]"
                mapped = per_record(ctx, ref, _one_json, ref, where, sp, rs, scope, raw_resources, problem, reps)
                if mapped is not None:
                    rows.append(_as_tuple(mapped))
            else:
                rows.append(row)
            n += 1
    global FALLBACK_SPANS
    FALLBACK_SPANS += fallbacks
    return _finish_times(SpanColumns.from_tuples(rows, canonical=not fallbacks), fallbacks, c)


def _one_json(ref: str, where: str, sp: Any, rs: Mapping[str, Any], scope: Any, resources: dict[int, Any], problem: Any,
              reps: Any) -> dict[str, Any]:
    return _o.map_span(_o._raw_json_span(ref, sp, rs, scope, resources, where, problem, reps), "otlp_json")


# ---------------------------------------------------------------------------------- JSON, native

def _native_module(name: str = "_otlp_pb") -> Any:
    """``llmops_nb.loaders.<name>``, a C decoder built by the install (``_otlp_pb``: protobuf,
    ``_otlp_json``: OTLP/JSON), None when it is absent or ``LLMOPS_NB_NATIVE=0`` (then protobuf is
    read with upb and JSON with orjson, both walked in Python)."""
    if os.environ.get("LLMOPS_NB_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    try:
        return importlib.import_module(f"llmops_nb.loaders.{name}")
    except ImportError:
        return None


NATIVE_JSON: Any = _native_module("_otlp_json")
"""The native OTLP/JSON decoder module in use, or None (tests set it to None to compare both paths)."""
_KINDS = tuple(_KIND_NAMES[k] for k in range(6))  # the span kind names of OTLP's numbers, for both decoders


def _decoded_row(s: tuple[Any, ...], resource: dict[str, Any], scope: str | None, source_format: str,
                 py: bool = False) -> tuple[Any, ...] | None:
    """``_map`` of a span a native decoder gave (its arguments, in order; ``py``: with :func:`_map_py`),
    None when the reference must map it."""
    try:
        a, tid, sid, pid, name, start, end, status, msg, kind = s
        return (_map_py if py else _map)(a, tid, sid, pid, name, start, end, status, msg, kind, resource, scope, source_format)
    except (RecursionError, MemoryError):
        raise
    except Exception:
        return None


def _group_rows(spans: list[Any], resource: dict[str, Any], scope: str | None, source_format: str) -> tuple[list[Any], bool]:
    """(:func:`_decoded_row` of each span of a decoded group, None for a span the decoder left to the
    reference; whether any is None), mapped by the native ``map_spans`` in one call when it is built."""
    if NATIVE is None or NATIVE_MAP is None or type(spans) is not list:
        rows = [None if s is None else _decoded_row(s, resource, scope, source_format) for s in spans]
        return rows, None in rows
    rows, odd = _MAP_SPANS(spans, resource, scope, source_format)
    if odd:
        for i, r in enumerate(rows):
            if r is NotImplemented:  # what the C port leaves to _map_py
                rows[i] = _decoded_row(spans[i], resource, scope, source_format, True)
        return rows, None in rows
    return rows, False


def _bytes_value(v: str) -> Any:
    return _o._any_value({"bytesValue": v})  # the reference's own rule (base64 -> hex, else the text)


class NativeExport(Mapping[str, Any]):
    """An OTLP/JSON export as the native decoder read it from its bytes (``groups``: what
    :func:`map_json` maps per span, see ``_otlp_json.c``), and still the document for anyone reading
    it as a mapping: that parses the bytes with ``loads`` (as without the decoder) on first use."""

    __slots__ = ("data", "groups", "_loads", "_doc")
    data: bytes
    groups: list[Any]
    _loads: Any
    _doc: Any

    def __init__(self, data: bytes, groups: list[Any], loads: Any) -> None:
        self.data, self.groups, self._loads, self._doc = data, groups, loads, None

    def document(self) -> Any:
        if self._doc is None:
            self._doc = self._loads(self.data)
        return self._doc

    def __getitem__(self, key: str) -> Any:
        return self.document()[key]

    # the decoder reads only documents whose one member is resourceSpans: keys need no parse
    def __iter__(self) -> Any:
        return iter(("resourceSpans",))

    def __len__(self) -> int:
        return 1

    def __contains__(self, key: object) -> bool:
        return key == "resourceSpans"

    def __repr__(self) -> str:
        return f"NativeExport({len(self.data)} bytes, {sum(len(s) for _, ss in self.groups for _, s in ss)} spans)"


def native_export(data: bytes, loads: Any) -> NativeExport | None:
    """``data`` (the bytes of one JSON document) as a :class:`NativeExport` when the native decoder
    reads it as an OTLP/JSON export, else None (no decoder, not an export, or anything it does not
    read exactly: the caller parses ``data`` with ``loads`` as usual). ``loads``: the caller's parser."""
    native = NATIVE_JSON
    if native is None:
        return None
    groups = native.decode(data, _KINDS, _bytes_value)
    return None if groups is None else NativeExport(data, groups, loads)


def _map_native(doc: NativeExport, ctx: Mapping[str, Any] | None) -> SpanColumns:
    """:func:`map_json` of an export the native decoder read: ``_map`` on its spans; the spans it left
    to the reference are mapped from the parsed document, as :func:`map_json` maps them."""
    c = ctx or {}
    reps = None
    rows: list[tuple[Any, ...]] = []
    fallbacks = 0
    n = 0
    parsed: dict[tuple[int, int], tuple[Any, Any, list[Any]]] | None = None
    raw_resources: dict[int, Any] = {}
    for r, (resource, scopes) in enumerate(doc.groups):
        for si, (scope_name, spans) in enumerate(scopes):
            group, missing = _group_rows(spans, resource, scope_name, "otlp_json")
            if not missing:
                rows.extend(group)
                n += len(group)
                continue
            for i, row in enumerate(group):
                if row is None:  # the reference mapping, from the document, with its errors and id repairs
                    if parsed is None:
                        parsed = {(gr, gsi): (rs, scope, sps) for gr, rs, gsi, scope, sps in _o._otlp_json_groups(doc.document())}
                    if reps is None:
                        reps = _o._replacements(f"{c.get('file')}|{c.get('record')}")
                    fallbacks += 1
                    rs, scope, sps = parsed[r, si]
                    ref, where = f"span {n}", f"resourceSpans[{r}].scopeSpans[{si}].spans[{i}]"
                    mapped = per_record(ctx, ref, _one_json, ref, where, sps[i], rs, scope, raw_resources, c.get("problem"), reps)
                    if mapped is not None:
                        rows.append(_as_tuple(mapped))
                else:
                    rows.append(row)
                n += 1
    global FALLBACK_SPANS
    FALLBACK_SPANS += fallbacks
    return _finish_times(SpanColumns.from_tuples(rows, canonical=not fallbacks), fallbacks, c)


# ---------------------------------------------------------------------------------- protobuf

def _pb_id(b: bytes, n: int) -> str | None:
    return b.hex() if len(b) == n and b.strip(b"\x00") else None


NATIVE: Any = _native_module("_otlp_pb")
"""The native protobuf decoder module in use, or None (tests set it to None to compare both paths)."""
if NATIVE is not None and not hasattr(NATIVE, "scan"):  # built from an older source: ``pip install -e .`` rebuilds it
    NATIVE = None


def _configure_native(native: Any) -> Any:
    """The native ``map``, handed the tables and Python helpers it calls (the same objects
    :func:`_map_py` uses); None when there is no native module or it has no ``map`` (built from an
    older source)."""
    if native is None or not hasattr(native, "map"):
        return None
    from llmops_nb.loaders._common import assistant_text, last_user_text

    native.configure({
        "key_info": _KEY_INFO, "classify": _classify, "oi_kinds": _o._OI_KINDS, "genai_ops": _o._GENAI_OPS,
        "kind_set": _KIND_SET, "genai_messages": _o._genai_messages, "canonical": _canonical,
        "value_messages": _o._value_messages, "fill_call_ids": _o._fill_call_ids,
        "tool_message_content": _o._tool_message_content, "oi_document": _o._oi_document, "json_list": _o._json_list,
        "genai_document": _o._genai_document, "output_documents": _o._output_documents,
        "metadata_value": _o._metadata_value, "span_kind": _o.span_kind, "text_of": text_of, "json_text": json_text,
        "last_user_text": last_user_text, "assistant_text": assistant_text,
        "json_loads": _o.orjson.loads, "json_error": _o.orjson.JSONDecodeError,  # what _json_list / _metadata_value parse with
    })
    return native.map


NATIVE_MAP: Any = _configure_native(NATIVE)
"""The native ``map`` :func:`_map` uses while ``NATIVE`` is set, or None (tests set it None to compare with :func:`_map_py`)."""
_MAP_SPANS: Any = None if NATIVE_MAP is None else NATIVE.map_spans  # the same over a decoded group (_group_rows)


_DETECTED: list[Any] = [None, None]
"""The last export format detection decoded natively (its bytes object, the decode), which
:func:`map_proto` then takes instead of decoding the same bytes again (one slot, used once)."""


def detect_proto(data: Any) -> bool | None:
    """Whether ``data`` is an OTLP protobuf export with a span to read, told by the native decoder
    (the decode is kept for :func:`map_proto`); None when it cannot tell (no decoder, not bytes, or
    bytes it hands to upb)."""
    native = NATIVE
    if native is None or REFERENCE or type(data) is not bytes:
        return None
    decoded = native.decode(data, _KINDS)
    if decoded is None or decoded[1]:  # upb decides (it may raise on parts the decoder skipped)
        return None
    _DETECTED[0], _DETECTED[1] = data, decoded
    return any(spans for _, scopes in decoded[0] for _, spans in scopes)


def map_proto(data: bytes | Any, ctx: Mapping[str, Any] | None = None) -> SpanColumns:
    c = ctx or {}
    native = NATIVE
    decoded = None
    if isinstance(data, memoryview):
        data = bytes(data)  # as upb reads it (any layout)
    if _DETECTED[0] is data and native is not None and not REFERENCE:  # bytes are immutable: the same object, the same decode
        decoded = _DETECTED[1]
        _DETECTED[0] = _DETECTED[1] = None
    elif native is not None and not REFERENCE and isinstance(data, (bytes, bytearray)):
        decoded = native.decode(data, _KINDS)
    if decoded is None:  # no native decoder, or bytes it does not read exactly: upb decides
        return _map_proto_upb(data, c)
    groups, validate = decoded
    problem = c.get("problem")
    req = _o._proto_request(data) if validate else None  # parts the decoder skipped are checked by upb
    reps = None
    rows: list[tuple[Any, ...]] = []
    fallbacks = 0
    for ri, (resource, scopes) in enumerate(groups):
        for si, (scope, spans) in enumerate(scopes):
            group, missing = _group_rows(spans, resource, scope, "otlp_proto")
            if not missing:
                rows.extend(group)
                continue
            for i, row in enumerate(group):
                if row is None:
                    fallbacks += 1
                    if req is None:
                        req = _o._proto_request(data)
                    if reps is None:
                        reps = _o._replacements(f"{c.get('file')}|{c.get('record')}")
                    sp = req.resource_spans[ri].scope_spans[si].spans[i]
                    where = f"resourceSpans[{ri}].scopeSpans[{si}].spans[{i}]"
                    rows.append(_as_tuple(_o.map_span(_o._raw_proto_span(sp, where, resource, scope, problem, reps), "otlp_proto")))
                else:
                    rows.append(row)
    global FALLBACK_SPANS
    FALLBACK_SPANS += fallbacks
    return _finish_times(SpanColumns.from_tuples(rows, canonical=not fallbacks), fallbacks, c)


def _map_proto_upb(data: bytes | Any, c: Mapping[str, Any]) -> SpanColumns:
    """:func:`map_proto` through upb: the export parsed by protobuf, its spans walked in Python."""
    problem = c.get("problem")
    req = _o._proto_request(data)
    reps = None
    rows: list[tuple[Any, ...]] = []
    fallbacks = 0
    pb_attrs, pb_value, span_kind, ns_time = _o._pb_attrs, _o._pb_value, _o.span_kind, _us
    for ri, rs in enumerate(req.resource_spans):
        resource = pb_attrs(rs.resource.attributes)
        for si, ss in enumerate(rs.scope_spans):
            scope = ss.scope.name or None
            for i, sp in enumerate(ss.spans):
                row = None
                if not REFERENCE and not sp.events:
                    try:
                        tid, sid, pid = _pb_id(sp.trace_id, 16), _pb_id(sp.span_id, 8), sp.parent_span_id
                        if pid:
                            pid = _pb_id(pid, 8)
                            ok = pid is not None
                        else:
                            pid, ok = None, True
                        if ok and tid is not None and sid is not None:
                            a: dict[str, Any] = {}
                            for kv in sp.attributes:
                                v = kv.value
                                w = v.WhichOneof("value")
                                if w == "string_value":
                                    a[kv.key] = v.string_value
                                elif w is None:
                                    a[kv.key] = None
                                elif w == "int_value" or w == "double_value" or w == "bool_value":
                                    a[kv.key] = getattr(v, w)
                                else:
                                    a[kv.key] = pb_value(v)
                            st = sp.status
                            code = st.code
                            row = _map(a, tid, sid, pid, sp.name, ns_time(sp.start_time_unix_nano), ns_time(sp.end_time_unix_nano),
                                       "error" if code == 2 else "ok" if code == 1 else "unset", st.message or None,
                                       span_kind(sp.kind), resource, scope, "otlp_proto")
                    except (RecursionError, MemoryError):
                        raise
                    except Exception:
                        row = None
                if row is None:
                    fallbacks += 1
                    if reps is None:
                        reps = _o._replacements(f"{c.get('file')}|{c.get('record')}")
                    where = f"resourceSpans[{ri}].scopeSpans[{si}].spans[{i}]"
                    rows.append(_as_tuple(_o.map_span(_o._raw_proto_span(sp, where, resource, scope, problem, reps), "otlp_proto")))
                else:
                    rows.append(row)
    global FALLBACK_SPANS
    FALLBACK_SPANS += fallbacks
    return _finish_times(SpanColumns.from_tuples(rows, canonical=not fallbacks), fallbacks, c)
