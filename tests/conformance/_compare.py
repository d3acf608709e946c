"""Compare what a producer created (its ``truth.json`` and the fake server's exchanges) with
what ``read_traces`` reads from the producer's exported payload, span by span.

The truth is never our reading: span ids, parents, times, status and errors come from the
producer's own objects (in-memory exporter, processor, run trees, Trace objects); models,
tokens, messages and tool calls come from what went over the wire (the fake server's recorded
requests and answers) and what the program ran (its tool log).

A field the wire had but the producer did not record anywhere in its span (its attributes,
events or exported dict) cannot be read by anyone: it is listed under ``omitted`` (a property
of the producer), not as a difference. Everything else that differs is a difference.
"""

from __future__ import annotations

import contextlib
import copy
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pandas as pd

# What each convention's own kind declaration means in our kinds (the test's statement, kept
# apart from the loaders' tables on purpose).
DECLARED_KINDS: dict[str, dict[str, str]] = {
    "openinference.span.kind": {"LLM": "llm", "CHAIN": "chain", "RETRIEVER": "retriever", "TOOL": "tool", "AGENT": "agent",
                                "EMBEDDING": "embedding", "RERANKER": "reranker", "GUARDRAIL": "guardrail",
                                "EVALUATOR": "evaluator"},
    "gen_ai.operation.name": {"chat": "llm", "text_completion": "llm", "generate_content": "llm", "embeddings": "embedding",
                              "execute_tool": "tool", "invoke_agent": "agent", "create_agent": "agent"},
    "traceloop.span.kind": {"workflow": "chain", "task": "chain", "agent": "agent", "tool": "tool"},
    "llm.request.type": {"chat": "llm", "completion": "llm", "embedding": "embedding"},
    "langfuse.observation.type": {"generation": "llm", "embedding": "embedding", "agent": "agent", "tool": "tool",
                                  "retriever": "retriever", "chain": "chain", "span": "chain", "event": "chain",
                                  "evaluator": "evaluator", "guardrail": "guardrail"},
    "openai_agents": {"agent": "agent", "response": "llm", "generation": "llm", "function": "tool", "handoff": "chain",
                      "guardrail": "guardrail", "custom": "chain", "task": "chain", "turn": "chain", "mcp_tools": "tool"},
    "langsmith": {"llm": "llm", "chain": "chain", "tool": "tool", "retriever": "retriever", "embedding": "embedding",
                  "prompt": "chain", "parser": "chain"},
    "mlflow": {"LLM": "llm", "CHAT_MODEL": "llm", "CHAIN": "chain", "AGENT": "agent", "TOOL": "tool", "RETRIEVER": "retriever",
               "EMBEDDING": "embedding", "RERANKER": "reranker", "PARSER": "chain"},
    "inspect": {"model": "llm", "tool": "tool", "sample": "agent"},
}


@dataclass
class Comparison:
    """The outcome of one (producer, payload) reading."""

    producer: str
    payload: str
    version: str
    produced: int
    read: int
    diffs: list[tuple[str, str, Any, Any]] = field(default_factory=list)  # (field, where, expected, got)
    omitted: set[str] = field(default_factory=set)  # fields the producer did not record
    checked: set[str] = field(default_factory=set)

    @property
    def fields(self) -> list[str]:
        return sorted({d[0] for d in self.diffs})

    def row(self) -> dict[str, Any]:
        return {"producer": self.producer, "payload": self.payload, "version": self.version,
                "spans produced": self.produced, "spans read": self.read,
                "fields that differ": ", ".join(self.fields) or "none",
                "not recorded by producer": ", ".join(sorted(self.omitted)) or "-"}


def _declared(span: dict[str, Any]) -> str | None:
    if span.get("declared"):
        conv, value = span["declared"]
        return DECLARED_KINDS.get(conv, {}).get(value, "unknown")
    attrs = (span.get("raw") or {}).get("attributes") or {}
    for conv in ("openinference.span.kind", "gen_ai.operation.name", "traceloop.span.kind", "llm.request.type",
                 "langfuse.observation.type"):
        v = attrs.get(conv)
        if isinstance(v, str) and v in DECLARED_KINDS[conv]:
            return DECLARED_KINDS[conv][v]
    return None


def _us(span: dict[str, Any], which: str) -> pd.Timestamp | None:
    ns = span.get(f"{which}_ns")
    if ns is not None:
        return pd.Timestamp(int(ns) // 1000 * 1000, unit="ns", tz="UTC")
    v = span.get(which)
    if v is None:
        return None
    t = pd.Timestamp(v)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.floor("us")


def _renderings(value: Any) -> list[str]:
    """How a value can appear inside a producer's dumped span: as is, JSON-escaped once or twice."""
    if value is None:
        return []
    if not isinstance(value, str):
        texts = [json.dumps(value), json.dumps(value, separators=(",", ":"))]
    else:
        texts = [value]
        try:
            parsed = json.loads(value)
            texts += [json.dumps(parsed), json.dumps(parsed, separators=(",", ":"))]
        except ValueError:
            pass
    out = []
    for t in texts:
        once = json.dumps(t, ensure_ascii=False)[1:-1]
        out += [t, once, json.dumps(once, ensure_ascii=False)[1:-1]]
    return out


def recorded(raw_text: str, value: Any, exact: bool = False) -> bool:
    """Whether ``value`` appears in a producer's dumped span (``exact``: as a whole JSON string,
    not inside a longer text, for names and ids that error messages also quote)."""
    if exact and isinstance(value, str):
        q = json.dumps(value)
        once = json.dumps(q)[1:-1]
        return q in raw_text or once in raw_text or json.dumps(once)[1:-1] in raw_text
    return any(r and r in raw_text for r in _renderings(value))


# ------------------------------------------------------------------------------ wire truth

def _args(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _msg(role: str | None, content: Any, calls: list[tuple[Any, Any, Any]] | None = None, call_id: Any = None) -> dict[str, Any]:
    if isinstance(content, list):
        content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)) or None
    if isinstance(content, str) and content[:1] in "{[":  # JSON text: equal when the JSON is (spacing is no content)
        with contextlib.suppress(ValueError):
            content = json.dumps(json.loads(content), sort_keys=True)
    return {"role": role, "content": content or None,
            "tool_calls": [{"id": i, "name": n, "arguments": _args(a)} for i, n, a in calls or []] or None,
            "tool_call_id": call_id}


def wire_input(req: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages a request sent (chat completions or Responses API), canonical."""
    out: list[dict[str, Any]] = []
    if "messages" in req:
        for m in req["messages"]:
            calls = [(c.get("id"), c["function"]["name"], c["function"].get("arguments")) for c in m.get("tool_calls") or []]
            out.append(_msg("system" if m.get("role") == "developer" else m.get("role"), m.get("content"), calls, m.get("tool_call_id")))
        return out
    if req.get("instructions"):
        out.append(_msg("system", req["instructions"]))
    inp = req.get("input")
    if isinstance(inp, str):
        return [*out, _msg("user", inp)]
    for it in inp or []:
        t = it.get("type")
        if t == "function_call":
            if out and out[-1]["role"] == "assistant" and out[-1]["content"] is None:
                out[-1]["tool_calls"].append({"id": it.get("call_id"), "name": it.get("name"), "arguments": _args(it.get("arguments"))})
            else:
                out.append(_msg("assistant", None, [(it.get("call_id"), it.get("name"), it.get("arguments"))]))
        elif t == "function_call_output":
            out.append(_msg("tool", it.get("output"), None, it.get("call_id")))
        else:
            out.append(_msg(it.get("role"), it.get("content")))
    return out


def wire_output(spec: dict[str, Any]) -> list[dict[str, Any]]:
    calls = [(c.get("id"), c["name"], c["arguments"]) for c in spec.get("tool_calls") or []]
    return [_msg("assistant", spec.get("content"), calls)]


def _read_msgs(v: Any) -> list[dict[str, Any]]:
    if v is None or (isinstance(v, float) and v != v):
        return []
    out = []
    for m in list(v):
        calls = m.get("tool_calls")
        calls = [(c.get("id"), c.get("name"), c.get("arguments")) for c in (list(calls) if calls is not None else [])]
        out.append(_msg(m.get("role"), m.get("content"), calls, m.get("tool_call_id")))
    return out


def _signature(msgs: list[dict[str, Any]]) -> tuple[Any, ...]:
    return tuple((m["content"], tuple(c["name"] for c in m["tool_calls"] or ())) for m in msgs if m["role"] == "assistant")


# ------------------------------------------------------------------------------ compare

def _val(x: Any) -> Any:
    if x is None:
        return None
    try:
        if pd.isna(x):
            return None
    except (TypeError, ValueError):
        pass
    return x


def _model(req: dict[str, Any], row: dict[str, Any]) -> Any:
    """The model read, where ``openai/fake-model`` (LiteLLM's routed name, as the producer
    recorded it) counts as the ``fake-model`` that went over the wire."""
    got = _val(row["model"])
    return req.get("model") if isinstance(got, str) and got.endswith("/" + str(req.get("model"))) else got


def compare(truth: dict[str, Any], exchanges: list[dict[str, Any]], frame: pd.DataFrame, payload: str) -> Comparison:
    # a producer that writes each payload in its own run records each run's truth under
    # ``payloads[<payload name>]`` (spans, tools, errors); the matching below writes read span
    # ids into the truth's spans, so it works on a copy (one truth serves several readings)
    truth = copy.deepcopy({**truth, **((truth.get("payloads") or {}).get(payload) or {})})
    spans = truth["spans"]
    vers = truth.get("versions") or {}
    main = truth.get("main") or next(iter(vers), "?")
    res = Comparison(truth["producer"], payload, f"{main} {vers.get(main, '?')}", len(spans), len(frame))
    diff = res.diffs.append
    rows = {str(r["span_id"]): r for r in frame.to_dict("records")}
    raw_of = {s["span_id"]: json.dumps({"name": s.get("name"), "raw": s.get("raw")}, ensure_ascii=False, default=str) for s in spans}

    def check(fld: str, where: str, expected: Any, got: Any, raw_text: str | None = None) -> None:
        res.checked.add(fld)
        if expected == got:
            return
        if raw_text is not None and expected is not None and not recorded(raw_text, expected, exact=fld == "model"):
            res.omitted.add(fld)
            return
        diff((fld, where, expected, got))

    # 1. structure: every span the producer made, with its ids, parent, times, status, error, kinds
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for r in sorted(rows.values(), key=lambda r: pd.Timestamp(r["start_time"]) if _val(r["start_time"]) is not None else pd.Timestamp(0, tz="UTC")):
        by_kind.setdefault(r["kind"], []).append(r)
    for s in spans:
        if s.get("span_id") is None and s.get("match"):  # no span ids in the producer's objects: the n-th span of its kind
            kind, n = s["match"]
            r = by_kind.get(kind, [])[n] if n < len(by_kind.get(kind, [])) else None
            if r is None:
                diff(("span", f"{kind} {n}", s.get("name"), "missing"))
                continue
            s["span_id"] = r["span_id"]
            raw_of[r["span_id"]] = json.dumps({"name": s.get("name"), "raw": s.get("raw")}, ensure_ascii=False, default=str)
            res.omitted.add("ids/parents (the producer's events carry none)")
            s["trace_id"], s["parent_span_id"] = r["trace_id"], _val(r["parent_span_id"])
        sid = s["span_id"]
        r = rows.get(sid)
        if r is None:
            diff(("span", sid, s.get("name"), "missing"))
            continue
        where = f"{s.get('name')} {sid}"
        check("trace_id", where, s["trace_id"], r["trace_id"])
        check("parent", where, s.get("parent_span_id"), _val(r["parent_span_id"]))
        if s.get("name") is not None:
            check("name", where, s.get("name"), r["name"])
        for w in ("start", "end"):
            exp = _us(s, w)
            got = _val(r[f"{w}_time"])
            check("times", f"{where} {w}", exp, None if got is None else pd.Timestamp(got).tz_convert("UTC"))
        check("status", where, s["status"], r["status"])
        if s["status"] == "error":
            check("errors", where, s.get("error"), _val(r["error_message"]))
        if "otel_kind" in s:
            check("otel.span.kind", where, s["otel_kind"], ((r["attributes"] or {}) if _val(r["attributes"]) is not None else {}).get("otel.span.kind"))
        k = _declared(s)
        if k is not None:
            check("kind", where, k, r["kind"])
    extra = set(rows) - {s["span_id"] for s in spans}
    if truth.get("partial_spans"):  # the producer's objects hold more than its model/tool events (sample roots, solver spans)
        res.produced = len(rows)
        extra = {sid for sid in extra if rows[sid]["kind"] in ("llm", "tool")}
    for sid in sorted(extra):
        diff(("span", sid, None, "read but not produced"))

    # 2. model calls: each exchange on the wire against the llm span that carries it
    llm = sorted((r for r in rows.values() if r["kind"] == "llm" and r["span_id"] in raw_of),
                 key=lambda r: (pd.Timestamp(r["start_time"]) if _val(r["start_time"]) is not None else pd.Timestamp(0, tz="UTC")))
    used: set[str] = set()
    for i, ex in enumerate(exchanges):
        req, spec = ex["request"], ex["response"]
        where = f"model call {i + 1}"
        if "error" in spec:
            cand = next((r for r in llm if r["span_id"] not in used and r["status"] == "error"), None)
            if cand is None:
                if any(s["status"] == "error" for s in spans):
                    diff(("errors", where, "an llm span with status error", "none"))
                continue
            used.add(cand["span_id"])
            check("model", where, req.get("model"), _model(req, cand), raw_of[cand["span_id"]])
            continue
        out = wire_output(spec)
        # the next llm span in time whose output is this answer (or that recorded no output)
        cand = next((r for r in llm if r["span_id"] not in used and r["status"] != "error"
                     and _signature(_read_msgs(r["output_messages"])) in (_signature(out), ())), None)
        if cand is None:
            diff(("llm span", where, "an llm span", "none"))
            continue
        used.add(cand["span_id"])
        raw = raw_of[cand["span_id"]]
        check("model", where, req.get("model"), _model(req, cand), raw)
        u = spec["usage"]
        check("tokens", where + " prompt", u["prompt_tokens"], _val(cand["prompt_tokens"]), raw)
        check("tokens", where + " completion", u["completion_tokens"], _val(cand["completion_tokens"]), raw)
        _check_messages(check, "messages", where + " input", wire_input(req), _read_msgs(cand["input_messages"]), raw)
        _check_messages(check, "messages", where + " output", out, _read_msgs(cand["output_messages"]), raw)

    # 3. tools, documents and errors the program met
    tool_spans = [s for s in spans if _declared(s) == "tool"]
    for t in truth.get("tools") or []:
        s = next((s for s in tool_spans if t["name"] in (s.get("name") or "") or recorded(raw_of[s["span_id"]], t["name"])), None)
        if s is None:
            res.omitted.add("tool span")
            continue
        r = rows.get(s["span_id"])
        if r is None:
            continue
        raw = raw_of[s["span_id"]]
        where = f"tool {t['name']}"
        check("tool calls", where + " name", t["name"], _val(r["tool_name"]), raw)
        check("tool calls", where + " arguments", t["arguments"], _args(_val(r["tool_arguments"])), raw)
        got = _val(r["tool_result"])
        check("tool calls", where + " result", t["result"], t["result"] if got is not None and t["result"] in got else got, raw)
    docs = truth.get("documents")
    for s in spans:
        if docs and _declared(s) == "retriever" and s["span_id"] in rows:
            got = rows[s["span_id"]]["documents"]
            got = sorted(d.get("content") for d in got) if _val(got) is not None and len(got) else None
            raw = raw_of[s["span_id"]]  # retrievers return documents in their own order: compared as sets
            exp = sorted(d for d in docs if recorded(raw, d))
            if exp:  # what the producer recorded must be read
                check("documents", f"{s.get('name')} {s['span_id']}", exp, got)
            else:
                res.omitted.add("documents")
    if truth.get("errors") and not (frame["status"] == "error").any():
        diff(("errors", "trace", truth["errors"][0], "no span with status error"))
    return res


def _check_messages(check: Any, fld: str, where: str, exp: list[dict[str, Any]], got: list[dict[str, Any]], raw: str) -> None:
    """Message by message; a message the producer recorded nowhere is an omission."""
    if exp == got:
        check(fld, where, exp, got)
        return
    gi = 0
    for j, m in enumerate(exp):
        g = got[gi] if gi < len(got) else None
        if g is not None and g["role"] == m["role"]:
            gi += 1
            for k in ("content", "tool_call_id"):
                check(fld, f"{where} {j} {k}", m[k], g[k], raw)
            ec, gc = m["tool_calls"] or [], g["tool_calls"] or []
            for n, call in enumerate(ec):
                gcall = gc[n] if n < len(gc) else {"id": None, "name": None, "arguments": None}
                for k in ("id", "name", "arguments"):
                    check(fld, f"{where} {j} tool_call {n} {k}", call[k], gcall[k], raw)
            continue
        # a message missing from the reading: a difference only when the producer recorded it
        probe = m["content"] or (m["tool_calls"] or [{}])[0].get("id") or m["tool_call_id"]
        check(fld, f"{where} {j} missing", probe, None, raw)
    for g in got[gi:]:
        check(fld, f"{where} extra", None, g, None)


def to_utc(ts: Any) -> datetime | None:
    return None if ts is None else ts.astimezone(timezone.utc)
