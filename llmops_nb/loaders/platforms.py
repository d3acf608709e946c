"""Span payloads written by other LLM platforms and frameworks:

- ``mastra``: Mastra AI-tracing span trees (``{span, children}`` nodes, or flat span lists):
  ``agent_run`` -> agent, ``model_generation`` -> llm (its usage is the call's; the
  ``model_step`` spans under it are its parts and keep their usage in ``attributes``),
  ``tool_call``/``mcp_tool_call`` -> tool, ``workflow_*`` -> chain;
- ``langwatch``: single spans as ``{scopeName, spanName, attributes}`` with flat typed
  attributes (gen_ai.*, Vercel ``ai.*``, Codex CLI ``codex.turn.token_usage.*``), mapped
  through the OTLP attribute mapping;
- ``litellm``: LiteLLM ``StandardLoggingPayload`` records (one logged call each).
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
    text_of,
    to_utc,
)
from llmops_nb.loaders._messages import normalize_messages
from llmops_nb.loaders.otlp import map_span

__all__ = ["is_mastra", "parse_mastra", "is_langwatch", "parse_langwatch", "is_litellm_payload", "parse_litellm_payload"]


def _hid(*parts: Any, n: int = 16) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:n]


def _i(v: Any) -> int | None:
    try:
        return None if v is None or isinstance(v, bool) else int(v)
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------------------ Mastra

_MASTRA_KINDS = {
    "agent_run": "agent", "model_generation": "llm", "llm_generation": "llm", "model_step": "chain",
    "model_chunk": "chain", "llm_chunk": "chain", "tool_call": "tool", "mcp_tool_call": "tool",
    "workflow_run": "chain", "workflow_step": "chain", "workflow_conditional": "chain",
    "workflow_conditional_eval": "chain", "workflow_parallel": "chain", "workflow_loop": "chain",
    "workflow_sleep": "chain", "workflow_wait_event": "chain", "processor_run": "guardrail", "generic": "chain",
}


def _type(s: Mapping[str, Any]) -> Any:
    return s.get("type") or s.get("spanType")


def _is_mastra_span(s: Any) -> bool:
    return isinstance(s, Mapping) and _type(s) in _MASTRA_KINDS and "traceId" in s and ("id" in s or "spanId" in s)


def is_mastra(doc: Any) -> bool:
    """Whether a record is a Mastra AI-tracing export (span tree or span list)."""
    if isinstance(doc, Mapping) and isinstance(doc.get("spans"), list) and doc["spans"]:
        first = doc["spans"][0]
        return (isinstance(first, Mapping) and _is_mastra_span(first.get("span"))) or _is_mastra_span(first)
    if isinstance(doc, list) and doc:
        return _is_mastra_span(doc[0]) or (isinstance(doc[0], Mapping) and _is_mastra_span(doc[0].get("span")))
    return False


def _mastra_flat(nodes: list[Any]) -> Iterator[Mapping[str, Any]]:
    for n in nodes:
        if isinstance(n, Mapping) and isinstance(n.get("span"), Mapping):
            yield n["span"]
            yield from _mastra_flat(n.get("children") or [])
        elif _is_mastra_span(n):
            yield n


def parse_mastra(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from a Mastra AI-tracing export.

    Example:
        >>> rows = list(parse_mastra({"spans": [{"span": {"id": "s1", "traceId": "t1", "type": "model_generation",
        ...     "name": "llm: 'gpt-4o'", "input": "hi", "output": {"text": "hello"},
        ...     "attributes": {"model": "gpt-4o", "usage": {"inputTokens": 3, "outputTokens": 2}}}, "children": []}]}))
        >>> [(r["kind"], r["model"], r["output_text"], r["total_tokens"]) for r in rows]
        [('llm', 'gpt-4o', 'hello', 5)]
    """
    nodes = doc.get("spans") if isinstance(doc, Mapping) else doc
    for s in _mastra_flat(nodes or []):
        typ = _type(s)
        kind = _MASTRA_KINDS.get(typ, "unknown")
        a = dict(as_map(s.get("attributes")))
        meta = dict(as_map(s.get("metadata")))
        raw_in, raw_out = s.get("input"), s.get("output")
        usage = as_map(a.pop("usage", None)) if kind == "llm" else as_map(a.get("usage"))
        pt, ct = _i(usage.get("inputTokens", usage.get("promptTokens"))), _i(usage.get("outputTokens", usage.get("completionTokens")))
        tt = _i(usage.get("totalTokens"))
        if tt is None and (pt is not None or ct is not None):
            tt = (pt or 0) + (ct or 0)
        inp = out = None
        if kind in ("llm", "agent"):
            inp = normalize_messages(raw_in, "input") if raw_in is not None else None
            out = normalize_messages(raw_out, "output") if raw_out is not None else None
        err = s.get("errorInfo") or s.get("error")
        model = a.pop("model", None) if kind == "llm" else None
        provider = a.pop("provider", None) if kind == "llm" else None
        cost = a.pop("cost", None) if kind == "llm" else None
        yield {
            "trace_id": str(s.get("traceId")),
            "span_id": str(s.get("id") or s.get("spanId")),
            "parent_span_id": None if (s.get("parentId") or s.get("parentSpanId")) in (None, "") else str(
                s.get("parentId") or s.get("parentSpanId")),
            "name": s.get("name"),
            "kind": kind,
            "start_time": to_utc(s.get("startTime")) if s.get("startTime") not in (None, "<date>") else None,
            "end_time": to_utc(s.get("endTime")) if s.get("endTime") not in (None, "<date>") else None,
            "status": "error" if err else ("ok" if s.get("completed", True) or s.get("isEvent") else "unset"),
            "error_message": (as_map(err).get("message") or json_text(err)) if err else None,
            "model": model,
            "provider": provider,
            "input_messages": inp,
            "output_messages": out,
            "input_text": last_user_text(inp) if inp else (raw_in if isinstance(raw_in, str) else json_text(raw_in)),
            "output_text": assistant_text(out) if out else (text_of(raw_out) if isinstance(raw_out, (str, Mapping)) else json_text(raw_out)),
            "tool_name": (s.get("entityId") or s.get("name")) if kind == "tool" else None,
            "tool_arguments": json_text(raw_in) if kind == "tool" else None,
            "tool_result": json_text(raw_out) if kind == "tool" and not isinstance(raw_out, str) else (raw_out if kind == "tool" else None),
            "prompt_tokens": pt if kind == "llm" else None,
            "completion_tokens": ct if kind == "llm" else None,
            "total_tokens": tt if kind == "llm" else None,
            "cost_usd": None if cost is None else float(cost),
            "session_id": a.get("conversationId") or meta.get("threadId"),
            "user_id": meta.get("resourceId"),
            "metadata": meta or None,
            "attributes": {**a, **({"mastra.type": typ, "mastra.isEvent": s.get("isEvent")}),
                           **({"usage": dict(usage)} if kind == "llm" and usage else {})} or None,
            "source_format": "mastra",
        }


# ------------------------------------------------------------------------------ LangWatch

def is_langwatch(doc: Any) -> bool:
    """Whether a record is a LangWatch span fixture ``{scopeName, spanName, attributes}``."""
    return isinstance(doc, Mapping) and "spanName" in doc and isinstance(doc.get("attributes"), Mapping) and (
        "scopeName" in doc or "traceId" in doc)


_CODEX_USAGE = {
    "codex.turn.token_usage.input_tokens": "gen_ai.usage.input_tokens",
    "codex.turn.token_usage.output_tokens": "gen_ai.usage.output_tokens",
    "codex.turn.token_usage.total_tokens": "gen_ai.usage.total_tokens",
}


def parse_langwatch(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """A spans row from a LangWatch span fixture (ids from the record, else a content hash)."""
    a = dict(doc["attributes"])
    for src, dst in _CODEX_USAGE.items():  # Codex CLI turn spans (codex_cli_rs)
        if src in a and dst not in a:
            a[dst] = a.pop(src)
    codex_turn = any(k.startswith("codex.turn.") for k in a)
    if codex_turn and "model" in a and "gen_ai.request.model" not in a:
        a["gen_ai.request.model"] = a.pop("model")
        a.setdefault("gen_ai.operation.name", "invoke_agent")  # a turn may wrap several model calls
    digest = hashlib.sha1(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()
    raw = {
        "trace_id": doc.get("traceId") or digest[:32],
        "span_id": doc.get("spanId") or digest[:16],
        "parent_span_id": doc.get("parentSpanId") or None,
        "name": doc.get("spanName"),
        "start_time": to_utc(doc.get("startTime")) if doc.get("startTime") else None,
        "end_time": to_utc(doc.get("endTime")) if doc.get("endTime") else None,
        "status": "unset",
        "attributes": a,
        "events": [],
        "scope": doc.get("scopeName"),
    }
    row = map_span(raw, "langwatch")
    if row["kind"] == "unknown" and (row["model"] or row["prompt_tokens"] is not None):
        row["kind"] = "llm"
    yield row


# ------------------------------------------------------------------------------ LiteLLM

def is_litellm_payload(doc: Any) -> bool:
    """Whether a record is a LiteLLM ``StandardLoggingPayload``."""
    return isinstance(doc, Mapping) and "call_type" in doc and "response_cost" in doc and "model" in doc and (
        "startTime" in doc or "messages" in doc)


def parse_litellm_payload(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """A spans row from one LiteLLM StandardLoggingPayload (cost as LiteLLM computed it).

    Example:
        >>> r = next(parse_litellm_payload({"id": "c1", "trace_id": None, "call_type": "acompletion",
        ...     "model": "gpt-4o", "response_cost": 0.001, "prompt_tokens": 3, "completion_tokens": 2,
        ...     "total_tokens": 5, "startTime": 1700000000.0, "endTime": 1700000001.0, "status": "success",
        ...     "messages": [{"role": "user", "content": "hi"}], "response": {"choices": [{"message":
        ...     {"role": "assistant", "content": "hello"}}]}}))
        >>> r["kind"], r["model"], r["output_text"], r["cost_usd"], r["latency_ms"]
        ('llm', 'gpt-4o', 'hello', 0.001, 1000.0)
    """
    if not isinstance(doc, Mapping):
        raise LoadError(f"a LiteLLM record is a {type(doc).__name__}", expected="a StandardLoggingPayload object")
    inp = normalize_messages(doc.get("messages"), "input") if doc.get("messages") else None
    resp = doc.get("response")
    out = normalize_messages(resp, "output") if resp else None
    start, end = to_utc(doc.get("startTime")), to_utc(doc.get("endTime"))
    meta = {k: v for k, v in as_map(doc.get("metadata")).items() if v not in (None, [], {})}
    err = doc.get("error_str") or as_map(doc.get("error_information")).get("error_message")
    status = str(doc.get("status") or "").lower()
    cid = str(doc.get("id") or _hid(doc.get("startTime"), doc.get("model")))
    skip = {"id", "trace_id", "messages", "response", "startTime", "endTime", "model", "custom_llm_provider", "response_cost",
            "prompt_tokens", "completion_tokens", "total_tokens", "metadata", "request_tags", "end_user", "status", "error_str",
            "session_id"}
    yield {
        "trace_id": str(doc.get("trace_id") or cid),
        "span_id": cid,
        "parent_span_id": None,
        "name": doc.get("call_type"),
        "kind": "embedding" if "embedding" in str(doc.get("call_type")) else "llm",
        "start_time": start,
        "end_time": end,
        "latency_ms": (end - start).total_seconds() * 1000 if start and end else None,
        "status": "error" if status == "failure" or err else ("ok" if status == "success" else "unset"),
        "error_message": err,
        "model": doc.get("model"),
        "provider": doc.get("custom_llm_provider"),
        "input_messages": inp,
        "output_messages": out,
        "input_text": last_user_text(inp),
        "output_text": assistant_text(out),
        "prompt_tokens": _i(doc.get("prompt_tokens")),
        "completion_tokens": _i(doc.get("completion_tokens")),
        "total_tokens": _i(doc.get("total_tokens")),
        "cost_usd": None if doc.get("response_cost") is None else float(doc["response_cost"]),
        "session_id": doc.get("session_id") or None,
        "user_id": doc.get("end_user") or None,
        "tags": list(doc.get("request_tags") or []) or None,
        "metadata": meta or None,
        "attributes": {k: v for k, v in doc.items() if k not in skip and v not in (None, [], {}, "")} or None,
        "source_format": "litellm",
    }
