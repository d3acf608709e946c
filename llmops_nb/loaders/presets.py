"""Record mappings for trajectory and chat-log files: ``tau_bench`` and ``openai_chat``.

- ``tau_bench``: tau-bench trajectories (``[{task_id, trial, reward, info, traj}]``). One trace
  per trajectory: a root ``agent`` span with the whole conversation, the reward and task in
  ``metadata``, and one ``tool`` span per tool call (its arguments and the matching tool
  message as result). Trajectories carry no times, so times stay empty.
- ``openai_chat``: OpenAI-style chat logs, one request/response pair per record
  (``{request, response}``, ``{body, response}``, or a Batch API output line
  ``{custom_id, response: {status_code, body}}``): one ``llm`` span per pair.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

from llmops_nb.loaders._common import (
    LoadError,
    as_map,
    assistant_text,
    json_text,
    last_user_text,
    message,
    per_record,
    text_id,
    text_of,
    to_utc,
)
from llmops_nb.loaders._messages import maybe_json, normalize_messages

__all__ = ["parse_tau_bench", "is_tau_bench", "parse_openai_chat", "is_openai_chat"]


def _hid(*parts: Any, n: int = 16) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:n]


# ------------------------------------------------------------------------------ tau-bench

def is_tau_bench(doc: Any) -> bool:
    """Whether a record is a tau-bench trajectory (or a list of them)."""
    if isinstance(doc, list) and doc:
        return is_tau_bench(doc[0])
    return isinstance(doc, Mapping) and "traj" in doc and "reward" in doc and "task_id" in doc


def parse_tau_bench(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from one tau-bench trajectory: a root agent span and one tool span per call.

    Example:
        >>> traj = {"task_id": 3, "trial": 0, "reward": 1.0, "info": {"task": {"user_id": "u1"}}, "traj": [
        ...     {"role": "system", "content": "policy"}, {"role": "user", "content": "book it"},
        ...     {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
        ...      "function": {"name": "book", "arguments": "{}"}}]},
        ...     {"role": "tool", "tool_call_id": "c1", "name": "book", "content": "done"},
        ...     {"role": "assistant", "content": "Booked."}]}
        >>> rows = list(parse_tau_bench(traj))
        >>> [(r["kind"], r.get("tool_name"), r["output_text"]) for r in rows]
        [('agent', None, 'Booked.'), ('tool', 'book', 'done')]
        >>> rows[0]["metadata"]["reward"], rows[0]["metadata"]["success"]
        (1.0, True)
    """
    if isinstance(doc, list):
        for i, d in enumerate(doc):
            yield from per_record(ctx, f"item {i}", lambda d=d: list(parse_tau_bench(d, None))) or []
        return
    if not is_tau_bench(doc):
        raise LoadError("not a tau-bench trajectory", expected="{task_id, trial, reward, info, traj: [messages]}")
    traj = doc["traj"]
    if not isinstance(traj, list):
        raise LoadError("traj is not a list", expected="traj as a list of chat messages")
    task_id, trial = text_id(doc.get("task_id")), text_id(doc.get("trial", 0))
    trace_id = f"tau-{task_id}-{trial}"
    root_id = _hid(trace_id, "root")
    msgs = normalize_messages(traj, "input") or []
    info = as_map(doc.get("info"))
    task = as_map(info.get("task"))
    reward = doc.get("reward")
    last_assistant = next((m["content"] for m in reversed(msgs) if m["role"] == "assistant" and m["content"]), None)
    first_user = next((m["content"] for m in msgs if m["role"] == "user" and m["content"]), None)
    n_calls = sum(len(m["tool_calls"] or []) for m in msgs)
    meta = {
        "task_id": task_id, "trial": trial, "reward": reward,
        "success": None if reward is None else bool(float(reward) >= 1.0),
        "user_id": task.get("user_id"), "instruction": task.get("instruction"),
        "expected_actions": task.get("actions"), "user_cost": info.get("user_cost"),
        "reward_info": info.get("reward_info"), "n_tool_calls": n_calls,
    }
    yield {
        "trace_id": trace_id, "span_id": root_id, "parent_span_id": None, "name": "tau_bench.trajectory",
        "kind": "agent", "status": "ok", "input_messages": msgs[:-1] if msgs and msgs[-1]["role"] == "assistant" else msgs,
        "output_messages": [msgs[-1]] if msgs and msgs[-1]["role"] == "assistant" else None,
        "input_text": first_user, "output_text": last_assistant,
        "user_id": task.get("user_id"), "session_id": trace_id,
        "metadata": {k: v for k, v in meta.items() if v is not None},
        "source_format": "tau_bench",
    }
    # tool results are the tool messages that follow the assistant turn, matched by position
    # (tau-bench reuses call ids inside a trajectory, so ids alone are ambiguous)
    n = 0
    for i, m in enumerate(traj):
        if not isinstance(m, Mapping) or m.get("role") != "assistant":
            continue
        calls = m.get("tool_calls") or []
        results = []
        j = i + 1
        while j < len(traj) and isinstance(traj[j], Mapping) and traj[j].get("role") == "tool":
            results.append(traj[j])
            j += 1
        for k, c in enumerate(calls):
            fn = c.get("function") or {}
            res = results[k] if k < len(results) else None
            content = res.get("content") if res else None
            is_err = isinstance(content, str) and content.startswith("Error")
            yield {
                "trace_id": trace_id, "span_id": _hid(trace_id, "tool", n), "parent_span_id": root_id,
                "name": fn.get("name") or c.get("name"), "kind": "tool",
                "status": "error" if is_err else "ok", "error_message": content if is_err else None,
                "tool_name": fn.get("name") or c.get("name"), "tool_arguments": json_text(fn.get("arguments")),
                "tool_result": content, "input_text": json_text(fn.get("arguments")), "output_text": content,
                "metadata": {"tool_call_id": c.get("id"), "step": i, "call_index": n},
                "source_format": "tau_bench",
            }
            n += 1


# ------------------------------------------------------------------------------ OpenAI chat logs

def _pair(doc: Mapping[str, Any]) -> tuple[Any, Any] | None:
    req = doc.get("request", doc.get("body", doc.get("input")))
    resp = doc.get("response", doc.get("output"))
    if isinstance(resp, Mapping) and "body" in resp and "status_code" in resp:
        resp = resp["body"]
    req, resp = maybe_json(req), maybe_json(resp)
    if isinstance(req, Mapping) and isinstance(req.get("body"), Mapping):
        req = req["body"]
    if isinstance(req, Mapping) and ("messages" in req or "input" in req or "prompt" in req):
        return req, resp
    if isinstance(resp, Mapping) and ("choices" in resp or resp.get("object") in ("chat.completion", "response")):
        return req, resp
    return None


def is_openai_chat(doc: Any) -> bool:
    """Whether a record is an OpenAI-style request/response pair."""
    if isinstance(doc, list) and doc:
        return is_openai_chat(doc[0])
    if not isinstance(doc, Mapping) or any("." in str(k) for k in doc):  # attribute dicts are spans
        return False
    return _pair(doc) is not None


def parse_openai_chat(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """One llm span per request/response pair.

    Example:
        >>> r = next(parse_openai_chat({"request": {"model": "gpt-4o-mini", "messages": [
        ...     {"role": "user", "content": "Hi"}]}, "response": {"id": "chatcmpl-1", "created": 1728803136,
        ...     "model": "gpt-4o-mini-2024-07-18", "choices": [{"message": {"role": "assistant",
        ...     "content": "Hello!"}}], "usage": {"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10}}}))
        >>> r["model"], r["input_text"], r["output_text"], r["total_tokens"]
        ('gpt-4o-mini-2024-07-18', 'Hi', 'Hello!', 10)
    """
    if isinstance(doc, list):
        for i, d in enumerate(doc):
            yield from per_record(ctx, f"item {i}", lambda d=d: list(parse_openai_chat(d, None))) or []
        return
    if not isinstance(doc, Mapping) or _pair(doc) is None:
        raise LoadError("not a request/response pair", expected="{request: {model, messages}, response: {choices, usage}}")
    req, resp = _pair(doc)  # type: ignore[misc]
    req = req if isinstance(req, Mapping) else {}
    resp_m = resp if isinstance(resp, Mapping) else {}
    inp = normalize_messages(req.get("messages", req.get("input", req.get("prompt"))), "input")
    if isinstance(req.get("instructions"), str):
        inp = [message("system", req["instructions"]), *(inp or [])]
    out = normalize_messages(resp, "output") if resp is not None else None
    usage = as_map(resp_m.get("usage"))
    pt = usage.get("prompt_tokens", usage.get("input_tokens"))
    ct = usage.get("completion_tokens", usage.get("output_tokens"))
    tt = usage.get("total_tokens")
    if tt is None and (pt is not None or ct is not None):
        tt = (pt or 0) + (ct or 0)
    err = doc.get("error") or resp_m.get("error")
    rid = resp_m.get("id") or doc.get("custom_id") or doc.get("id")
    trace_id = text_id(doc.get("trace_id") or rid) or _hid(json_text(doc), n=32)
    start = to_utc(doc.get("start_time") or doc.get("timestamp") or resp_m.get("created") or resp_m.get("created_at"))
    end = to_utc(doc.get("end_time"))
    meta = {k: req[k] for k in ("temperature", "top_p", "max_tokens", "max_completion_tokens", "seed") if k in req}
    if isinstance(req.get("metadata"), Mapping):
        meta.update(req["metadata"])
    yield {
        "trace_id": trace_id, "span_id": text_id(doc.get("span_id")) or _hid(trace_id, "llm"), "parent_span_id": None,
        "name": doc.get("name") or "chat.completion", "kind": "llm", "start_time": start, "end_time": end,
        "latency_ms": float(doc["latency_ms"]) if doc.get("latency_ms") is not None else None,
        "status": "error" if err else "ok", "error_message": text_of(err) if isinstance(err, str) else json_text(err),
        "model": resp_m.get("model") or req.get("model"), "provider": doc.get("provider") or "openai",
        "input_messages": inp, "output_messages": out,
        "input_text": last_user_text(inp), "output_text": assistant_text(out),
        "prompt_tokens": pt, "completion_tokens": ct, "total_tokens": tt,
        "cost_usd": doc.get("cost_usd"), "user_id": req.get("user") or doc.get("user_id"),
        "session_id": doc.get("session_id"), "tags": doc.get("tags"),
        "metadata": meta or None,
        "attributes": {k: v for k, v in {"request": req, "response": resp}.items() if v is not None} or None,
        "source_format": "openai_chat",
    }
