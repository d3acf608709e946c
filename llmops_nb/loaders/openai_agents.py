"""OpenAI Agents SDK traces: what its tracing exporter posts to the traces ingest endpoint
(``{"data": [items]}``), lists and JSONL of those items, and single items.

An item is a trace (``{"object": "trace", "id", "workflow_name", "group_id", "metadata"}``) or a
span (``{"object": "trace.span", "id", "trace_id", "parent_id", "started_at", "ended_at",
"span_data": {"type": ...}, "error"}``). One span item is one span; a trace item gives its
spans ``metadata.workflow_name`` and ``session_id`` (its ``group_id``), it is not a span itself.

``span_data.type`` decides the kind: ``agent`` -> agent, ``generation`` and ``response`` ->
llm, ``function`` and ``mcp_tools`` -> tool, ``guardrail`` -> guardrail, ``handoff`` and
``custom`` -> chain. The exporter leaves a ``response`` span's messages out (only its
``response_id`` and usage are sent): they are read when a custom processor included them
(``response`` and ``input`` keys).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from llmops_nb.loaders._common import (
    LoadError,
    as_map,
    assistant_text,
    json_text,
    last_user_text,
    text_of,
    to_utc,
)
from llmops_nb.loaders._messages import maybe_json, normalize_messages

__all__ = ["parse_openai_agents", "is_openai_agents"]

_KINDS = {
    "agent": "agent", "generation": "llm", "response": "llm", "function": "tool", "mcp_tools": "tool",
    "guardrail": "guardrail", "handoff": "chain", "custom": "chain", "transcription": "llm", "speech": "llm",
    "speech_group": "chain", "workflow": "chain", "task": "chain", "turn": "chain",
}


def _is_item(r: Any) -> bool:
    return isinstance(r, Mapping) and r.get("object") in ("trace", "trace.span") and ("id" in r or "span_id" in r or "trace_id" in r)


def is_openai_agents(doc: Any) -> bool:
    """Whether a record is an Agents SDK ingest payload, a trace/span item or a list of items."""
    if isinstance(doc, Mapping):
        data = doc.get("data")
        if isinstance(data, list):
            return bool(data) and _is_item(data[0])
        return _is_item(doc)
    if isinstance(doc, list) and doc:
        return _is_item(doc[0])
    return False


def _usage(u: Any) -> tuple[int | None, int | None, int | None]:
    u = as_map(u)
    pt = u.get("input_tokens", u.get("prompt_tokens"))
    ct = u.get("output_tokens", u.get("completion_tokens"))
    tt = u.get("total_tokens")
    if tt is None and (pt is not None or ct is not None):
        tt = (pt or 0) + (ct or 0)
    return pt, ct, tt


def _span_row(s: Mapping[str, Any], trace: Mapping[str, Any] | None) -> dict[str, Any]:
    data = dict(as_map(s.get("span_data")))
    typ = str(data.pop("type", "") or "")
    kind = _KINDS.get(typ, "unknown")
    name = data.pop("name", None)
    err = s.get("error")
    row: dict[str, Any] = {
        "trace_id": s.get("trace_id"),
        "span_id": s.get("id", s.get("span_id")),
        "parent_span_id": s.get("parent_id") or None,
        "kind": kind,
        "start_time": to_utc(s.get("started_at")),
        "end_time": to_utc(s.get("ended_at")),
        "status": "error" if err else "ok",
        "error_message": (as_map(err).get("message") or json_text(err)) if err else None,
        "source_format": "openai_agents",
    }
    meta: dict[str, Any] = {}
    if trace:
        if trace.get("workflow_name"):
            meta["workflow_name"] = trace["workflow_name"]
        meta.update(as_map(trace.get("metadata")))
        if trace.get("group_id"):
            row["session_id"] = str(trace["group_id"])
    attrs: dict[str, Any] = {"openai_agents.span_type": typ}
    if err and as_map(err).get("data") is not None:
        attrs["error.data"] = err["data"]
    if typ in ("generation", "response", "transcription", "speech"):
        usage = data.pop("usage", None)
        resp = maybe_json(data.pop("response", None))
        inp = data.pop("input", None)
        out = data.pop("output", None)
        model = data.pop("model", None)
        if isinstance(resp, Mapping):
            model = model or resp.get("model")
            usage = usage or resp.get("usage")
            out = resp if out is None else out
        pt, ct, tt = _usage(usage)
        row.update(model=model, prompt_tokens=pt, completion_tokens=ct, total_tokens=tt, provider="openai")
        if typ in ("generation", "response"):
            im = normalize_messages(inp, "input") if inp is not None else None
            om = normalize_messages(out, "output") if out is not None else None
            row.update(input_messages=im, output_messages=om,
                       input_text=last_user_text(im) if im else text_of(inp), output_text=assistant_text(om) if om else text_of(out))
        else:
            row.update(input_text=text_of(as_map(inp).get("data", inp)) if typ == "speech" else None,
                       output_text=text_of(out) if typ == "transcription" else None)
        if isinstance(usage, Mapping):
            extra = {k: v for k, v in usage.items() if k not in ("input_tokens", "output_tokens", "total_tokens",
                                                                 "prompt_tokens", "completion_tokens")}
            if extra:
                attrs["usage"] = extra
        name = name or typ
    elif typ == "function":
        args, out = data.pop("input", None), data.pop("output", None)
        row.update(tool_name=name, tool_arguments=json_text(args), tool_result=text_of(out) if not isinstance(out, (dict, list)) else json_text(out),
                   input_text=json_text(args), output_text=text_of(out) if not isinstance(out, (dict, list)) else json_text(out))
    elif typ == "mcp_tools":
        server, result = data.pop("server", None), data.pop("result", None)
        name = name or f"mcp list tools {server}"
        row.update(tool_name="list_tools", tool_result=json_text(result))
        attrs["mcp.server"] = server
    elif typ == "handoff":
        src, dst = data.pop("from_agent", None), data.pop("to_agent", None)
        name = name or f"handoff {src} -> {dst}"
        meta.update(from_agent=src, to_agent=dst)
    elif typ == "guardrail":
        attrs["guardrail.triggered"] = data.pop("triggered", None)
    elif typ == "workflow":
        name = name or data.get("workflow_name")
    elif typ == "custom" and as_map(data.get("data")).get("sdk_span_type") == "task":  # one Runner run
        name = data["data"].get("name") or name
    row["name"] = name or typ or None
    attrs.update({k: v for k, v in data.items() if v is not None})
    row["metadata"] = meta or None
    row["attributes"] = attrs
    return row


def parse_openai_agents(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from an ingest payload, a list of items or one item.

    Example:
        >>> rows = list(parse_openai_agents({"data": [
        ...     {"object": "trace", "id": "trace_1", "workflow_name": "Agent workflow", "group_id": "g1"},
        ...     {"object": "trace.span", "id": "span_2", "trace_id": "trace_1", "parent_id": None,
        ...      "started_at": "2025-06-01T10:00:00.000001+00:00", "ended_at": "2025-06-01T10:00:01+00:00",
        ...      "span_data": {"type": "function", "name": "get_weather", "input": '{"city": "Paris"}',
        ...                    "output": "18C"}, "error": None}]}))
        >>> [(r["kind"], r["tool_name"], r["tool_result"], r["session_id"]) for r in rows]
        [('tool', 'get_weather', '18C', 'g1')]
    """
    if isinstance(doc, Mapping) and isinstance(doc.get("data"), list):
        items = doc["data"]
    elif isinstance(doc, Mapping):
        items = [doc]
    elif isinstance(doc, list):
        items = doc
    else:
        raise LoadError(f"an Agents SDK record is a {type(doc).__name__}", expected='{"data": [trace and span items]}')
    traces = {t.get("id", t.get("trace_id")): t for t in items if isinstance(t, Mapping) and t.get("object") == "trace"}
    for i, s in enumerate(items):
        if not isinstance(s, Mapping) or s.get("object") not in ("trace", "trace.span"):
            raise LoadError(f"item {i} is not a trace or trace.span object", expected='items with "object": "trace" or "trace.span"')
        if s["object"] == "trace.span":
            yield _span_row(s, traces.get(s.get("trace_id")))
