"""Agent trajectories: one trace per run, a root ``agent`` span carrying the run's own totals,
an ``llm`` span per model call and a ``tool`` span per tool call.

- ``atif``: Harbor's Agent Trajectory Interchange Format (``schema_version: ATIF-v1.x``,
  ``steps[]`` with ``source``, ``message``, ``tool_calls``, ``observation``, ``metrics``;
  ``final_metrics`` on the root, which may exceed the steps' sum when subagent calls live in
  other files);
- ``swe_agent``: SWE-agent ``.traj`` (``trajectory[]`` steps, ``history[]`` chat,
  ``info.model_stats``: totals on the root; steps are ``llm`` spans when ``api_calls`` > 0 and
  ``chain`` spans in replays that called no model);
- ``openhands``: OpenHands event streams (a list of action / observation events); the LiteLLM
  response repeated on an action and on its observation is one call (deduplicated by id);
- ``claude_agent_sdk``: Claude Agent SDK / Claude Code stream-json message recordings
  (``{messages: [...]}``): one call per assistant message id, subagent turns under their Task
  tool span, ``result.modelUsage`` totals and cost on the root (the per-message usage of a
  stream is partial and is kept in ``attributes`` only);
- ``google_adk``: Google ADK sessions (``events[]`` with Gemini ``content.parts``, optional
  ``event_logs[]`` of model requests and responses with ``usage_metadata``);
- ``anthropic_sessions``: Anthropic managed-agents session traffic recorded as JSONL
  ``[sdk_method, payload]`` lines (``span.model_request_start/end`` pairs with ``model_usage``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from llmops_nb.loaders._common import (
    LoadError,
    as_map,
    assistant_text,
    json_text,
    last_user_text,
    message,
    text_of,
    to_utc,
)
from llmops_nb.loaders._messages import normalize_messages

__all__ = [
    "is_atif", "parse_atif", "is_swe_agent", "parse_swe_agent", "is_openhands", "parse_openhands",
    "is_claude_agent_sdk", "parse_claude_agent_sdk", "is_google_adk", "parse_google_adk",
    "is_anthropic_sessions", "parse_anthropic_sessions", "sniff_anthropic_sessions", "read_anthropic_sessions",
]


def _hid(*parts: Any, n: int = 16) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:n]


def _digest(doc: Any) -> str:
    return hashlib.sha1(orjson.dumps(doc, default=str)).hexdigest()


def _i(v: Any) -> int | None:
    try:
        return None if v is None or isinstance(v, bool) else int(v)
    except (TypeError, ValueError):
        return None


def _f(v: Any) -> float | None:
    try:
        return None if v is None or isinstance(v, bool) else float(v)
    except (TypeError, ValueError):
        return None


def _total(pt: int | None, ct: int | None, tt: int | None = None) -> int | None:
    if tt is not None:
        return tt
    return None if pt is None and ct is None else (pt or 0) + (ct or 0)


def _row(fmt: str, trace_id: str, span_id: str, parent: str | None, name: Any, kind: str, **kw: Any) -> dict[str, Any]:
    row = {"trace_id": trace_id, "span_id": span_id, "parent_span_id": parent, "name": None if name is None else str(name),
           "kind": kind, "status": kw.pop("status", "ok"), "source_format": fmt}
    row.update(kw)
    if row.get("input_messages") and "input_text" not in kw:
        row["input_text"] = last_user_text(row["input_messages"])
    if row.get("output_messages") and "output_text" not in kw:
        row["output_text"] = assistant_text(row["output_messages"])
    return row


def _tool_row(fmt: str, trace_id: str, span_id: str, parent: str | None, name: Any, args: Any, result: Any,
              **kw: Any) -> dict[str, Any]:
    res = result if isinstance(result, str) or result is None else (text_of(result) if isinstance(result, list) else json_text(result))
    return _row(fmt, trace_id, span_id, parent, name, "tool", tool_name=None if name is None else str(name),
                tool_arguments=json_text(args), tool_result=res, input_text=json_text(args), output_text=res, **kw)


# ------------------------------------------------------------------------------ Harbor ATIF

def is_atif(doc: Any) -> bool:
    """Whether a record is a Harbor ATIF trajectory."""
    return isinstance(doc, Mapping) and str(doc.get("schema_version", "")).startswith("ATIF") and isinstance(doc.get("steps"), list)


def parse_atif(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from one ATIF trajectory.

    Example:
        >>> rows = list(parse_atif({"schema_version": "ATIF-v1.5", "session_id": "s1", "agent": {"name": "a"},
        ...     "steps": [{"step_id": 1, "source": "user", "message": "hi"},
        ...               {"step_id": 2, "source": "agent", "model_name": "gpt-4o", "message": "hello",
        ...                "metrics": {"prompt_tokens": 5, "completion_tokens": 2}}],
        ...     "final_metrics": {"total_prompt_tokens": 5, "total_completion_tokens": 2}}))
        >>> [(r["kind"], r.get("model"), r.get("total_tokens")) for r in rows]
        [('agent', None, 7), ('llm', 'gpt-4o', 7)]
    """
    fmt = "atif"
    agent = as_map(doc.get("agent"))
    session = doc.get("session_id")
    trace_id = _hid(fmt, session, _digest(doc.get("steps"))[:16], n=32)
    root = _hid(trace_id, "root")
    fm = as_map(doc.get("final_metrics"))
    pending: list[dict[str, Any]] = []  # messages since the last agent step
    rows: list[dict[str, Any]] = []
    first_user = last_agent = None
    times = [t for s in doc["steps"] if isinstance(s, Mapping) and (t := to_utc(s.get("timestamp"))) is not None]
    for s in doc["steps"]:
        if not isinstance(s, Mapping):
            raise LoadError("a step is not an object", expected="ATIF steps as objects")
        src = s.get("source")
        msg_text = text_of(s.get("message"))
        if src in ("user", "system"):
            pending.append(message(src, msg_text))
            if src == "user" and first_user is None:
                first_user = msg_text
            continue
        sid = _hid(trace_id, "step", s.get("step_id"))
        calls = [{"id": c.get("tool_call_id"), "name": c.get("function_name"), "arguments": c.get("arguments")}
                 for c in s.get("tool_calls") or [] if isinstance(c, Mapping)]
        out = [message("assistant", msg_text, calls)]
        m = as_map(s.get("metrics"))
        pt, ct = _i(m.get("prompt_tokens")), _i(m.get("completion_tokens"))
        attrs = {k: v for k, v in m.items() if k not in ("prompt_tokens", "completion_tokens", "cost_usd", "prompt_token_ids",
                                                       "completion_token_ids", "logprobs")}
        for k in ("reasoning_content", "extra", "subagent_trajectory_ref"):
            if s.get(k) is not None:
                attrs[k] = s[k]
        obs = as_map(s.get("observation"))
        for r in obs.get("results") or []:
            if isinstance(as_map(r).get("subagent_trajectory_ref"), (Mapping, list)):
                attrs.setdefault("subagent_trajectory_ref", r["subagent_trajectory_ref"])
        rows.append(_row(fmt, trace_id, sid, root, f"step {s.get('step_id')}", "llm" if m or src == "agent" else "chain",
                         start_time=to_utc(s.get("timestamp")), model=s.get("model_name"),
                         input_messages=pending or None, output_messages=out, prompt_tokens=pt, completion_tokens=ct,
                         total_tokens=_total(pt, ct), cost_usd=_f(m.get("cost_usd")), attributes=attrs or None))
        last_agent = msg_text
        results = [as_map(r) for r in obs.get("results") or []]
        by_id = {r.get("source_call_id"): r for r in results if r.get("source_call_id")}
        pending = []
        for j, c in enumerate(calls):
            r = by_id.get(c["id"]) or (results[j] if j < len(results) and not results[j].get("source_call_id") else None)
            content = None if r is None else r.get("content")
            rows.append(_tool_row(fmt, trace_id, _hid(sid, "tool", j), sid, c["name"], c["arguments"], content,
                                  metadata={"tool_call_id": c["id"]} if c["id"] else None))
            if content is not None:
                pending.append(message("tool", text_of(content), None, c["id"]))
        if not calls and results:
            pending.extend(message("user", text_of(r.get("content"))) for r in results)
    pt, ct = _i(fm.get("total_prompt_tokens")), _i(fm.get("total_completion_tokens"))
    meta = {k: v for k, v in {"agent_version": agent.get("version"), "agent_model": agent.get("model_name"),
                              "schema_version": doc.get("schema_version"), "notes": doc.get("notes")}.items() if v}
    root_row = _row(fmt, trace_id, root, None, agent.get("name") or "trajectory", "agent",
                    start_time=min(times) if times else None, end_time=max(times) if times else None,
                    session_id=None if session is None else str(session), input_text=first_user, output_text=last_agent,
                    prompt_tokens=pt, completion_tokens=ct, total_tokens=_total(pt, ct, _i(fm.get("total_tokens"))),
                    cost_usd=_f(fm.get("total_cost_usd")), metadata=meta or None,
                    attributes={k: v for k, v in {"final_metrics": fm or None, "agent.extra": agent.get("extra"),
                                                  "tool_definitions": agent.get("tool_definitions")}.items() if v} or None)
    yield root_row
    yield from rows


# ------------------------------------------------------------------------------ SWE-agent

def is_swe_agent(doc: Any) -> bool:
    """Whether a record is a SWE-agent trajectory (``.traj``)."""
    if not isinstance(doc, Mapping):
        return False
    if isinstance(doc.get("trajectory"), list) and ("history" in doc or "info" in doc):
        return True
    h = doc.get("history")
    return (set(doc) <= {"history", "info", "environment", "replay_config"} and isinstance(h, list) and bool(h)
            and all(isinstance(m, Mapping) and "role" in m and ("agent" in m or "message_type" in m) for m in h[:3]))


def parse_swe_agent(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from one SWE-agent trajectory: a root ``agent`` span with ``info.model_stats``,
    one span per step (its response and action) and a ``tool`` span for each action."""
    fmt = "swe_agent"
    info = as_map(doc.get("info"))
    stats = as_map(info.get("model_stats"))
    history = [m for m in doc.get("history") or [] if isinstance(m, Mapping)]
    steps = [s for s in doc.get("trajectory") or [] if isinstance(s, Mapping)]
    api_calls = _i(stats.get("api_calls"))
    step_kind = "chain" if api_calls == 0 else "llm"
    trace_id = _hid(fmt, _digest([history[:2], steps[:1], info])[:24], n=32)
    root = _hid(trace_id, "root")
    # group history: each assistant message closes one step; what precedes it is its input
    turns: list[tuple[list[dict[str, Any]], Mapping[str, Any]]] = []
    pending: list[dict[str, Any]] = []
    tool_results: dict[str, str | None] = {}
    for m in history:
        role = m.get("role")
        if role == "assistant":
            turns.append((pending, m))
            pending = []
        else:
            if role == "tool":
                for cid in m.get("tool_call_ids") or ([m["tool_call_id"]] if m.get("tool_call_id") else []):
                    tool_results[cid] = text_of(m.get("content"))
            pending.extend(normalize_messages([{k: v for k, v in m.items() if k in ("role", "content", "tool_call_id")}
                                               | ({"tool_call_id": (m.get("tool_call_ids") or [None])[0]} if role == "tool" else {})],
                                              "input") or [])
    first_user = next((text_of(m.get("content")) for m in history if m.get("role") == "user"), None)
    rows = []
    n = max(len(steps), len(turns))
    for k in range(n):
        st = steps[k] if k < len(steps) else {}
        inp, am = turns[k] if k < len(turns) else ([message("user", text_of(steps[k - 1].get("observation")))] if k else [], {})
        sid = _hid(trace_id, "step", k)
        response = am.get("content") if am else st.get("response")
        calls = [c for c in am.get("tool_calls") or []] if am else []
        out = [message("assistant", text_of(response), calls)]
        rows.append(_row(fmt, trace_id, sid, root, f"step {k}", step_kind, input_messages=inp or None,
                         output_messages=out, metadata={k2: v for k2, v in {"thought": st.get("thought") or am.get("thought"),
                                                                             "state": st.get("state")}.items() if v} or None))
        action = st.get("action") or am.get("action")
        if calls:
            for j, c in enumerate(calls):
                fn = as_map(c.get("function"))
                rows.append(_tool_row(fmt, trace_id, _hid(sid, "tool", j), sid, fn.get("name") or c.get("name"),
                                      fn.get("arguments", c.get("arguments")), tool_results.get(c.get("id"), st.get("observation")),
                                      metadata={"tool_call_id": c.get("id"), "action": action}))
        elif action:
            name = str(action).strip().split(None, 1)[0] if str(action).strip() else "action"
            rows.append(_tool_row(fmt, trace_id, _hid(sid, "tool", 0), sid, name, action, st.get("observation")))
    pt, ct = _i(stats.get("tokens_sent")), _i(stats.get("tokens_received"))
    cost = stats.get("instance_cost", stats.get("total_cost"))
    exit_status = info.get("exit_status")
    yield _row(fmt, trace_id, root, None, "swe-agent", "agent", input_text=first_user,
               output_text=info.get("submission") if isinstance(info.get("submission"), str) else None,
               prompt_tokens=pt, completion_tokens=ct, total_tokens=_total(pt, ct), cost_usd=_f(cost),
               status="error" if isinstance(exit_status, str) and "error" in exit_status.lower() else "ok",
               metadata={k: v for k, v in {"exit_status": exit_status, "environment": doc.get("environment")}.items() if v} or None,
               attributes={k: v for k, v in {"model_stats": stats or None, "api_calls": api_calls}.items() if v is not None} or None)
    yield from rows


# ------------------------------------------------------------------------------ OpenHands

def is_openhands(doc: Any) -> bool:
    """Whether a record is an OpenHands event stream (a list of action / observation events)."""
    if not isinstance(doc, list) or not doc:
        return False
    head = [e for e in doc[:5]]
    return all(isinstance(e, Mapping) and "source" in e and ("action" in e or "observation" in e) and "id" in e for e in head)


def parse_openhands(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from an OpenHands event stream: one ``llm`` span per distinct LiteLLM response
    (an action and its observation carry the same one), one ``tool`` span per tool action."""
    fmt = "openhands"
    events = [e for e in doc if isinstance(e, Mapping)]
    trace_id = _hid(fmt, events[0].get("timestamp"), _digest(events[:2])[:16], n=32)
    root = _hid(trace_id, "root")
    obs_by_cause = {e.get("cause"): e for e in events if "observation" in e and e.get("cause") is not None}
    rows: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    history: list[dict[str, Any]] = []
    first_user = final = None
    times = [t for e in events if (t := to_utc(e.get("timestamp"))) is not None]
    for e in events:
        src = e.get("source")
        if e.get("action") == "message":
            text = as_map(e.get("args")).get("content") or e.get("message")
            history.append(message("user" if src == "user" else "assistant", text))
            if src == "user" and first_user is None:
                first_user = text
            elif src == "agent":
                final = text
        meta = as_map(e.get("tool_call_metadata"))
        resp = as_map(meta.get("model_response"))
        if not resp or "action" not in e:
            continue
        rid = str(resp.get("id") or _hid(e.get("id")))
        if rid not in seen:
            sid = _hid(trace_id, "llm", rid)
            seen[rid] = sid
            u = as_map(resp.get("usage"))
            pt, ct = _i(u.get("prompt_tokens")), _i(u.get("completion_tokens"))
            out = normalize_messages(resp, "output")
            attrs = {k: u[k] for k in ("cache_creation_input_tokens", "cache_read_input_tokens") if u.get(k) is not None}
            attrs["response_id"] = rid
            rows.append(_row(fmt, trace_id, sid, root, f"llm {resp.get('model')}", "llm", start_time=to_utc(e.get("timestamp")),
                             model=resp.get("model"), input_messages=list(history) or None, output_messages=out,
                             prompt_tokens=pt, completion_tokens=ct, total_tokens=_total(pt, ct, _i(u.get("total_tokens"))),
                             attributes=attrs))
            if out:
                history.extend(out)
        if e.get("action") in ("message",):
            continue
        ob = obs_by_cause.get(e.get("id"))
        result = None if ob is None else (ob.get("content") if ob.get("content") is not None else ob.get("message"))
        args = {k: v for k, v in as_map(e.get("args")).items() if v is not None}
        rows.append(_tool_row(fmt, trace_id, _hid(trace_id, "tool", e.get("id")), seen[rid], meta.get("function_name") or e.get("action"),
                              args, result, start_time=to_utc(e.get("timestamp")),
                              end_time=to_utc(ob.get("timestamp")) if ob else None,
                              metadata={"tool_call_id": meta.get("tool_call_id"), "action": e.get("action")}))
        if result is not None:
            history.append(message("tool", text_of(result), None, meta.get("tool_call_id")))
        if e.get("action") == "finish":
            final = as_map(e.get("args")).get("final_thought") or e.get("message") or final
    yield _row(fmt, trace_id, root, None, "openhands", "agent", start_time=min(times) if times else None,
               end_time=max(times) if times else None, input_text=first_user, output_text=final,
               input_messages=history or None)
    yield from rows


# ------------------------------------------------------------------------------ Claude Agent SDK

_SDK_TYPES = {"system", "assistant", "user", "result", "stream_event"}


def _sdk_messages(doc: Any) -> list[Any] | None:
    msgs = doc.get("messages") if isinstance(doc, Mapping) else doc
    if not isinstance(msgs, list) or not msgs:
        return None
    typed = [m for m in msgs if isinstance(m, Mapping) and m.get("type") in _SDK_TYPES]
    if not typed or not any((m.get("type") in ("result", "system") and m.get("session_id")) or m.get("sessionId")
                            for m in typed):
        return None
    return msgs


def sniff_claude_jsonl(path: str) -> bool:
    """Whether a JSONL file is a Claude Code transcript or Agent SDK stream-json output (first line)."""
    with open(path, "rb") as f:
        line = f.readline(1 << 20)
    try:
        first = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(first, Mapping) and first.get("type") in (*_SDK_TYPES, "summary") and any(
        k in first for k in ("sessionId", "session_id", "uuid"))


def _jsonl(path: str, expected: str) -> list[Any]:
    """Every line of a JSONL file (gzip and the decompressed-size limit as for other files)."""
    from llmops_nb.loaders._common import open_lines

    out = []
    for n, line in enumerate(open_lines(path), 1):
        if line.strip():
            try:
                out.append(orjson.loads(line))
            except orjson.JSONDecodeError as e:
                raise LoadError(f"invalid JSON ({e})", file=path, record=f"line {n}", expected=expected) from None
    return out


def read_claude_jsonl(path: str) -> Iterator[Any]:
    """The whole transcript as one record ``{messages: [...]}`` (one message per line)."""
    yield {"messages": _jsonl(path, "one JSON object per line")}


def is_claude_agent_sdk(doc: Any) -> bool:
    """Whether a record is a Claude Agent SDK / Claude Code stream-json message log."""
    msgs = _sdk_messages(doc)
    return msgs is not None and any(isinstance(m, Mapping) and m.get("type") == "assistant" for m in msgs)


def parse_claude_agent_sdk(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from a Claude Agent SDK message log (``{messages: [...]}`` or a list)."""
    fmt = "claude_agent_sdk"
    msgs = [m for m in _sdk_messages(doc) or [] if isinstance(m, Mapping)]
    session = next((m.get("session_id") or m.get("sessionId") for m in msgs if m.get("session_id") or m.get("sessionId")), None)
    init = next((m for m in msgs if m.get("type") == "system" and m.get("subtype") == "init"), {})
    result = next((m for m in reversed(msgs) if m.get("type") == "result"), {})
    trace_id = _hid(fmt, session, _digest(msgs[:3])[:16], n=32)
    root = _hid(trace_id, "root")
    calls: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    tool_span: dict[str, str] = {}
    tool_rows: dict[str, dict[str, Any]] = {}
    context: dict[Any, list[dict[str, Any]]] = {}
    first_user = None
    for m in msgs:
        t = m.get("type")
        parent_tool = m.get("parent_tool_use_id")
        mm = as_map(m.get("message"))
        if t == "user":
            for b in mm.get("content") or [] if isinstance(mm.get("content"), list) else []:
                if isinstance(b, Mapping) and b.get("type") == "tool_result" and str(b.get("tool_use_id")) in tool_rows:
                    r = tool_rows[str(b["tool_use_id"])]
                    res = text_of(b.get("content"))
                    r.update(tool_result=res, output_text=res, status="error" if b.get("is_error") else "ok",
                             error_message=res if b.get("is_error") else None)
            got = normalize_messages([mm], "input") if mm else None
            if got:
                context.setdefault(parent_tool, []).extend(got)
                if first_user is None and parent_tool is None and got[0]["content"]:
                    first_user = got[0]["content"]
        elif t == "assistant":
            mid = str(mm.get("id") or m.get("uuid"))
            if mid not in calls:
                order.append(mid)
                calls[mid] = {"model": mm.get("model"), "content": [], "usage": mm.get("usage"), "parent_tool": parent_tool,
                              "input": list(context.get(parent_tool, [])), "error": m.get("error"),
                              "time": to_utc(m.get("timestamp")) if m.get("timestamp") else None}
            c = calls[mid]
            c["content"].extend(b for b in mm.get("content") or [] if isinstance(b, Mapping))
            c["usage"] = mm.get("usage") or c["usage"]
            sid = _hid(trace_id, "llm", mid)
            for b in mm.get("content") or []:
                if isinstance(b, Mapping) and b.get("type") == "tool_use":
                    tid = _hid(trace_id, "tool", b.get("id"))
                    tool_span[str(b.get("id"))] = tid
                    tool_rows[str(b.get("id"))] = _tool_row(fmt, trace_id, tid, sid, b.get("name"), b.get("input"), None,
                                                       metadata={"tool_call_id": b.get("id")})
            got = normalize_messages([{"role": "assistant", "content": mm.get("content")}], "output")
            got = [g for g in got or [] if g["content"] or g["tool_calls"]]  # a thinking-only entry says nothing
            if got:
                context.setdefault(parent_tool, []).extend(got)
    rows = []
    per_call_usage = not result  # a transcript without a result message: each message's own usage is all there is
    for mid in order:
        c = calls[mid]
        out = normalize_messages([{"role": "assistant", "content": c["content"]}], "output")
        parent = tool_span.get(str(c["parent_tool"]), root) if c["parent_tool"] else root
        u = as_map(c["usage"]) if per_call_usage else {}
        cpt, cct = _i(u.get("input_tokens")), _i(u.get("output_tokens"))
        rows.append(_row(fmt, trace_id, _hid(trace_id, "llm", mid), parent, f"llm {c['model']}", "llm", model=c["model"],
                         start_time=c["time"], prompt_tokens=cpt, completion_tokens=cct, total_tokens=_total(cpt, cct),
                         provider="anthropic", input_messages=c["input"] or None, output_messages=out,
                         status="error" if c["error"] else "ok", error_message=json_text(c["error"]) if c["error"] else None,
                         attributes={"message_id": mid, "stream_usage": c["usage"]} if c["usage"] else {"message_id": mid},
                         metadata={"subagent_of_tool_call": c["parent_tool"]} if c["parent_tool"] else None))
    mu = as_map(result.get("modelUsage"))
    pt = sum(_i(as_map(v).get("inputTokens")) or 0 for v in mu.values()) if mu else None
    ct = sum(_i(as_map(v).get("outputTokens")) or 0 for v in mu.values()) if mu else None
    if not mu and isinstance(result.get("usage"), Mapping):
        pt, ct = _i(result["usage"].get("input_tokens")), _i(result["usage"].get("output_tokens"))
    attrs = {k: v for k, v in {"modelUsage": mu or None, "usage": result.get("usage"), "num_turns": result.get("num_turns"),
                               "duration_ms": result.get("duration_ms"), "claude_code_version": init.get("claude_code_version"),
                               "cache_read_input_tokens": sum(_i(as_map(v).get("cacheReadInputTokens")) or 0 for v in mu.values()) if mu else None,
                               "cache_creation_input_tokens": sum(_i(as_map(v).get("cacheCreationInputTokens")) or 0 for v in mu.values()) if mu else None,
                               }.items() if v is not None}
    is_err = bool(result.get("is_error"))
    final = result.get("result") if isinstance(result.get("result"), str) else next(
        (r["output_text"] for r in reversed(rows) if r.get("output_text") and r["parent_span_id"] == root), None)
    times = [t for m in msgs if m.get("timestamp") and (t := to_utc(m["timestamp"])) is not None]
    yield _row(fmt, trace_id, root, None, "claude_agent_sdk.query", "agent", session_id=None if session is None else str(session),
               start_time=min(times) if times else None, end_time=max(times) if times else None,
               input_text=first_user, output_text=final,
               prompt_tokens=pt, completion_tokens=ct, total_tokens=_total(pt, ct), cost_usd=_f(result.get("total_cost_usd")),
               status="error" if is_err else "ok", error_message=result.get("subtype") if is_err else None,
               metadata={k: v for k, v in {"model": init.get("model"), "permission_mode": init.get("permissionMode")}.items() if v} or None,
               attributes=attrs or None)
    yield from rows
    yield from tool_rows.values()


# ------------------------------------------------------------------------------ Google ADK

def is_google_adk(doc: Any) -> bool:
    """Whether a record is a Google ADK session (``events`` with Gemini ``content.parts``)."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("events"), list):
        return False
    evs = [e for e in doc["events"][:5] if isinstance(e, Mapping)]
    return bool(evs) and all("author" in e and ("invocation_id" in e or "invocationId" in e) for e in evs)


def _adk_usage(u: Any) -> tuple[int | None, int | None, int | None]:
    u = as_map(u)
    pt = _i(u.get("prompt_token_count", u.get("promptTokenCount")))
    cand = _i(u.get("candidates_token_count", u.get("candidatesTokenCount")))
    th = _i(u.get("thoughts_token_count", u.get("thoughtsTokenCount")))
    ct = None if cand is None and th is None else (cand or 0) + (th or 0)
    return pt, ct, _i(u.get("total_token_count", u.get("totalTokenCount")))


def parse_google_adk(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from a Google ADK session: a root per session, an ``agent`` span per invocation,
    an ``llm`` span per model call (from ``event_logs`` when present, else per model event) and a
    ``tool`` span per ``function_call`` part with its ``function_response``."""
    fmt = "google_adk"
    events = [e for e in doc["events"] if isinstance(e, Mapping)]
    logs = [lg for lg in doc.get("event_logs") or [] if isinstance(lg, Mapping)]
    trace_id = _hid(fmt, doc.get("id"), _digest(events[:2])[:16], n=32)
    root = _hid(trace_id, "root")
    inv_span: dict[Any, str] = {}
    rows: list[dict[str, Any]] = []
    log_by_event = {lg.get("event_id"): lg for lg in logs}
    responses: dict[str, list[tuple[int, Any]]] = {}  # call id (or name) -> [(event index, response)], in order
    for n, e in enumerate(events):
        for p in as_map(e.get("content")).get("parts") or []:
            fr = as_map(p).get("function_response") or as_map(p).get("functionResponse")
            if isinstance(fr, Mapping):
                responses.setdefault(str(fr.get("id") or fr.get("name")), []).append((n, fr.get("response")))

    def response_to(key: str, n: int) -> Any:
        """The first response to ``key`` after event ``n`` (taken: each answers one call)."""
        queue = responses.get(key) or []
        for i, (m, resp) in enumerate(queue):
            if m > n:
                del queue[i]
                return resp
        return None
    history: list[dict[str, Any]] = []
    first_user = final = None
    times = [t for e in events if (t := to_utc(e.get("timestamp"))) is not None]
    for n_ev, e in enumerate(events):
        inv = e.get("invocation_id") or e.get("invocationId")
        if inv not in inv_span:
            inv_span[inv] = _hid(trace_id, "inv", inv)
        content = as_map(e.get("content"))
        msgs = normalize_messages([content], "input") if content else None
        author = e.get("author")
        if author == "user":
            if msgs:
                history.extend(msgs)
                if first_user is None:
                    first_user = last_user_text(msgs)
            continue
        is_model = content.get("role") == "model"
        lg = log_by_event.get(e.get("id"))
        if is_model and (lg is not None or not logs):
            req = as_map(lg.get("model_request")) if lg else {}
            resp = as_map(lg.get("model_response")) if lg else {}
            pt, ct, tt = _adk_usage(resp.get("usage_metadata") or resp.get("usageMetadata") or e.get("usage_metadata") or e.get("usageMetadata"))
            inp = normalize_messages({"contents": req.get("contents"), "config": req.get("config")}, "input") if req.get("contents") else list(history)
            out = normalize_messages(resp, "output") if resp.get("candidates") else normalize_messages([{**content, "role": "model"}], "output")
            model = req.get("model") or e.get("model_version") or e.get("modelVersion")
            attrs = {k: v for k, v in {"model_version": resp.get("model_version") or e.get("model_version"),
                                       "event_id": e.get("id"), "author": author}.items() if v}
            rows.append(_row(fmt, trace_id, _hid(trace_id, "llm", e.get("id")), inv_span[inv], f"llm {author}", "llm",
                             start_time=to_utc(e.get("timestamp")), model=model, provider="gemini",
                             input_messages=inp or None, output_messages=out, prompt_tokens=pt, completion_tokens=ct,
                             total_tokens=_total(pt, ct, tt), attributes=attrs))
        for j, p in enumerate(content.get("parts") or []):
            fc = as_map(p).get("function_call") or as_map(p).get("functionCall")
            if isinstance(fc, Mapping):
                key = str(fc.get("id") or fc.get("name"))
                rows.append(_tool_row(fmt, trace_id, _hid(trace_id, "tool", e.get("id"), j), inv_span[inv], fc.get("name"),
                                      fc.get("args"), response_to(key, n_ev), start_time=to_utc(e.get("timestamp")),
                                      metadata={"tool_call_id": fc.get("id"), "author": author}))
        if msgs:
            history.extend(msgs)
            txt = assistant_text([m for m in msgs if m["role"] == "assistant"])
            final = txt or final
    for inv, sid in inv_span.items():
        evs = [e for e in events if (e.get("invocation_id") or e.get("invocationId")) == inv]
        ts = [t for e in evs if (t := to_utc(e.get("timestamp"))) is not None]
        rows.insert(0, _row(fmt, trace_id, sid, root, f"invocation {inv}", "agent", start_time=min(ts) if ts else None,
                            end_time=max(ts) if ts else None,
                            metadata={"authors": list(dict.fromkeys(e.get("author") for e in evs))}))
    user = doc.get("user_id") or doc.get("userId")
    yield _row(fmt, trace_id, root, None, doc.get("app_name") or doc.get("appName") or "adk session", "agent",
               start_time=min(times) if times else None, end_time=max(times) if times else None,
               session_id=None if doc.get("id") is None else str(doc["id"]),
               user_id=None if user is None else str(user),
               input_text=first_user, output_text=final,
               metadata={"state": doc.get("state") or doc.get("context")} if doc.get("state") or doc.get("context") else None)
    yield from rows


# ------------------------------------------------------------------------------ Anthropic managed agents

def _session_lines(doc: Any) -> bool:
    return isinstance(doc, list) and bool(doc) and all(
        isinstance(x, list) and len(x) == 2 and isinstance(x[0], str) and x[0].startswith("client.beta.sessions") for x in doc[:3])


def is_anthropic_sessions(doc: Any) -> bool:
    """Whether a record is Anthropic managed-agents session traffic (``[sdk_method, payload]`` pairs)."""
    return _session_lines(doc)


def sniff_anthropic_sessions(path: str) -> bool:
    """Whether a JSONL file's first line is an ``["client.beta.sessions...", ...]`` pair."""
    with open(path, "rb") as f:
        head = f.read(64).lstrip()
    return head.startswith(b'["client.beta.sessions')


def read_anthropic_sessions(path: str) -> Iterator[Any]:
    """The whole file as one record: the list of its ``[method, payload]`` lines."""
    yield _jsonl(path, "one JSON array per line")


def parse_anthropic_sessions(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from managed-agents session traffic: a root per session, an ``llm`` span per
    ``span.model_request_start``/``end`` pair (usage from ``model_usage``), a ``tool`` span per
    tool use with its result."""
    fmt = "anthropic_sessions"
    session: dict[str, Any] = {}
    events: list[Mapping[str, Any]] = []
    for method, payload in doc:
        if method.endswith("sessions.create") and isinstance(payload, Mapping):
            session = dict(payload)
        elif method.endswith("events.stream") and isinstance(payload, Mapping):
            events.append(payload)
        elif method.endswith("events.send") and isinstance(payload, list) and len(payload) == 2:
            session.setdefault("id", payload[0])
    agent = as_map(session.get("agent"))
    model = as_map(agent.get("model")).get("id") or agent.get("model")
    trace_id = _hid(fmt, session.get("id"), n=32)
    root = _hid(trace_id, "root")
    rows: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    if agent.get("system"):
        history.append(message("system", agent["system"]))
    results: dict[Any, Mapping[str, Any]] = {}
    for ev in events:
        t = ev.get("type", "")
        if t in ("user.custom_tool_result", "agent.mcp_tool_result", "agent.tool_result"):
            results[ev.get("custom_tool_use_id") or ev.get("mcp_tool_use_id") or ev.get("tool_use_id")] = ev
    starts = {ev.get("id"): ev for ev in events if ev.get("type") == "span.model_request_start"}
    current: dict[str, Any] | None = None
    first_user = final = None
    for ev in events:
        t = ev.get("type", "")
        if t == "span.model_request_start":
            current = {"start": ev, "out": [], "tools": []}
        elif t == "user.message":
            msg = message("user", ev.get("content"))
            history.append(msg)
            first_user = first_user or msg["content"]
        elif t == "agent.message" and current is not None:
            current["out"].append(message("assistant", ev.get("content")))
            final = text_of(ev.get("content")) or final
        elif t in ("agent.custom_tool_use", "agent.mcp_tool_use", "agent.tool_use") and current is not None:
            current["tools"].append(ev)
        elif t == "span.model_request_end":
            st = starts.get(ev.get("model_request_start_id")) or (current or {}).get("start") or {}
            cur = current or {"out": [], "tools": []}
            sid = _hid(trace_id, "llm", ev.get("id"))
            u = as_map(ev.get("model_usage"))
            pt, ct = _i(u.get("input_tokens")), _i(u.get("output_tokens"))
            calls = [{"id": tu.get("id"), "name": tu.get("name"), "arguments": tu.get("input")} for tu in cur["tools"]]
            out = cur["out"] + ([message("assistant", None, calls)] if calls else [])
            rows.append(_row(fmt, trace_id, sid, root, f"llm {model}", "llm", model=model, provider="anthropic",
                             start_time=to_utc(st.get("processed_at")), end_time=to_utc(ev.get("processed_at")),
                             status="error" if ev.get("is_error") else "ok", input_messages=list(history) or None,
                             output_messages=out or None, prompt_tokens=pt, completion_tokens=ct, total_tokens=_total(pt, ct),
                             attributes={k: v for k, v in u.items() if k not in ("input_tokens", "output_tokens")} or None))
            history.extend(out)
            for tu in cur["tools"]:
                res = results.get(tu.get("id"), {})
                rows.append(_tool_row(fmt, trace_id, _hid(trace_id, "tool", tu.get("id")), sid, tu.get("name"), tu.get("input"),
                                      res.get("content"), start_time=to_utc(tu.get("processed_at")),
                                      end_time=to_utc(res.get("processed_at")), status="error" if res.get("is_error") else "ok",
                                      metadata={k: v for k, v in {"tool_call_id": tu.get("id"), "mcp_server": tu.get("mcp_server_name"),
                                                                   "type": tu.get("type")}.items() if v}))
                if res:
                    history.append(message("tool", text_of(res.get("content")), None, tu.get("id")))
            current = None
    times = [t for ev in events if (t := to_utc(ev.get("processed_at"))) is not None]
    yield _row(fmt, trace_id, root, None, agent.get("name") or "session", "agent", session_id=session.get("id"),
               start_time=min(times) if times else None, end_time=max(times) if times else None,
               input_text=first_user, output_text=final,
               metadata={k: v for k, v in {"agent_id": agent.get("id"), "model": model, "title": session.get("title")}.items() if v} or None,
               attributes={k: v for k, v in {"session.usage": session.get("usage"), "session.stats": session.get("stats")}.items() if v} or None)
    yield from rows
