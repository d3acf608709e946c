"""LangSmith runs: run JSON objects (as ``list_runs``/``read_run`` return them, or exported),
lists and JSONL of them, and the ingest payloads ``{"post": [...], "patch": [...]}`` where a
``patch`` completes the ``post`` of the same run (matched by ``id``, or by ``dotted_order``
when the JS SDK leaves the id out).

One run is one span: ``id`` -> span_id, ``parent_run_id`` -> parent, ``run_type`` -> kind,
``error`` -> status error; usage from ``outputs.usage_metadata`` (LangChain), ``outputs.usage``
(OpenAI) or the run's own token fields; model from the response, else ``ls_model_name``.
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
    per_record,
    text_id,
    text_of,
    to_utc,
)
from llmops_nb.loaders._messages import maybe_json, normalize_messages

__all__ = ["parse_langsmith", "is_langsmith"]

_KINDS = {
    "llm": "llm", "chat_model": "llm", "chain": "chain", "tool": "tool", "retriever": "retriever",
    "embedding": "embedding", "prompt": "chain", "parser": "chain", "agent": "agent",
}
_RUN_KEYS = {"run_type", "dotted_order", "parent_run_id", "child_run_ids", "session_name", "session_id"}


def _is_run(r: Any) -> bool:
    return isinstance(r, Mapping) and "run_type" in r and ("id" in r or "trace_id" in r or "dotted_order" in r)


def is_langsmith(doc: Any) -> bool:
    """Whether a parsed record is a LangSmith run, a list of runs or a post/patch payload."""
    if isinstance(doc, Mapping):
        if ("post" in doc or "patch" in doc) and set(doc) <= {"post", "patch", "runs"}:
            return True
        return _is_run(doc) or (isinstance(doc.get("runs"), list) and bool(doc["runs"]) and _is_run(doc["runs"][0]))
    if isinstance(doc, list) and doc:
        return _is_run(doc[0])
    return False


def _run_id(r: Mapping[str, Any]) -> str | None:
    if r.get("id"):
        return text_id(r["id"])
    do = r.get("dotted_order")
    if isinstance(do, str) and "Z" in do:
        return do.rsplit(".", 1)[-1].split("Z", 1)[-1] or None
    return None


def _checked_run_id(r: Any) -> str:
    if not isinstance(r, Mapping):
        raise LoadError(f"a run is a {type(r).__name__}", expected="run objects in post/patch")
    rid = _run_id(r)
    if rid is None:
        raise LoadError("a run has neither id nor dotted_order", expected="every run to have an id")
    text_id(r.get("trace_id"))
    text_id(r.get("parent_run_id"))
    return rid


def _merge(post: list[Mapping[str, Any]], patch: list[Mapping[str, Any]],
           ctx: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    runs: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for i, r in enumerate([*post, *patch]):
        ref = f"run {i}" if i < len(post) else f"patch {i - len(post)}"
        rid = per_record(ctx, ref, _checked_run_id, r)  # a bad run fails, or is skipped, alone
        if rid is None:
            continue
        if rid not in runs:
            runs[rid] = {"id": rid}
            order.append(rid)
        for k, v in r.items():
            if v is None and k in runs[rid]:
                continue
            if k == "extra" and isinstance(v, Mapping) and isinstance(runs[rid].get("extra"), Mapping):
                merged = dict(runs[rid]["extra"])
                for ek, ev in v.items():
                    merged[ek] = {**merged.get(ek, {}), **ev} if isinstance(ev, Mapping) and isinstance(merged.get(ek), Mapping) else ev
                runs[rid]["extra"] = merged
            else:
                runs[rid][k] = v
    return [runs[i] for i in order]


def _usage(run: Mapping[str, Any], outputs: Any) -> tuple[int | None, int | None, int | None]:
    def i(v: Any) -> int | None:
        try:
            return None if v is None else int(v)
        except (TypeError, ValueError):
            return None

    if isinstance(outputs, Mapping):
        um = outputs.get("usage_metadata")
        if isinstance(um, Mapping):
            return i(um.get("input_tokens")), i(um.get("output_tokens")), i(um.get("total_tokens"))
        u = outputs.get("usage") or (outputs.get("llm_output") or {}).get("token_usage") if isinstance(outputs.get("llm_output"), Mapping) else outputs.get("usage")
        if isinstance(u, Mapping):
            pt = u.get("prompt_tokens", u.get("input_tokens"))
            ct = u.get("completion_tokens", u.get("output_tokens"))
            return i(pt), i(ct), i(u.get("total_tokens"))
    if any(run.get(k) is not None for k in ("prompt_tokens", "completion_tokens", "total_tokens")):
        return i(run.get("prompt_tokens")), i(run.get("completion_tokens")), i(run.get("total_tokens"))
    return None, None, None


def _run(r: Mapping[str, Any]) -> dict[str, Any]:
    extra = as_map(r.get("extra"))
    md = dict(extra.get("metadata") or {}) if isinstance(extra.get("metadata"), Mapping) else {}
    kind = _KINDS.get(str(r.get("run_type") or "").lower(), "unknown")
    inputs = maybe_json(r.get("inputs"))
    outputs = maybe_json(r.get("outputs"))
    inp = out = None
    if kind in ("llm", "chain", "agent"):
        inp = normalize_messages(inputs, "input") if inputs else None
        out = normalize_messages(outputs, "output") if outputs else None
    pt, ct, tt = _usage(r, outputs)
    if tt is None and (pt is not None or ct is not None):
        tt = (pt or 0) + (ct or 0)
    model = None
    if kind in ("llm", "embedding"):
        model = (outputs.get("model") if isinstance(outputs, Mapping) else None) or md.get("ls_model_name") or (
            inputs.get("model") if isinstance(inputs, Mapping) else None)
    err = r.get("error")
    status = "error" if err else ("ok" if r.get("end_time") else "unset")
    session = md.get("session_id") or md.get("thread_id") or md.get("conversation_id")
    tags = r.get("tags") or None

    def readable(v: Any) -> str | None:
        if v is None or v == {}:
            return None
        if isinstance(v, Mapping) and len(v) == 1:
            (only,) = v.values()
            if isinstance(only, str):
                return only
        return text_of(v) if isinstance(v, str) else json_text(v)

    in_text = last_user_text(inp) if inp else readable(inputs)
    out_text = assistant_text(out) if out else readable(outputs)
    attrs = {k: v for k, v in r.items() if k not in {
        "id", "trace_id", "parent_run_id", "name", "run_type", "start_time", "end_time", "error", "tags",
        "extra", "inputs", "outputs", "prompt_tokens", "completion_tokens", "total_tokens", "total_cost"} and v not in (None, {}, [])}
    if isinstance(extra.get("runtime"), Mapping):
        attrs["runtime"] = extra["runtime"]
    if inputs is not None:
        attrs["inputs"] = inputs
    if outputs is not None:
        attrs["outputs"] = outputs
    cost = r.get("total_cost")
    tool_args = tool_res = None
    if kind == "tool":
        tool_args = json_text(inputs.get("input", inputs) if isinstance(inputs, Mapping) else inputs)
        tool_res = readable(outputs.get("output", outputs) if isinstance(outputs, Mapping) else outputs)
    docs = None
    found = outputs.get("documents", outputs.get("output")) if isinstance(outputs, Mapping) else None
    if kind == "retriever" and isinstance(found, list):  # LangChain retrievers; @traceable(run_type="retriever") returns
        docs = []
        for i, d in enumerate(found):
            if isinstance(d, Mapping):
                meta = d.get("metadata")
                docs.append({"id": str(d.get("id") or (meta or {}).get("id") or i), "content": text_of(d.get("page_content", d.get("content"))),
                             "score": (meta or {}).get("score") if isinstance(meta, Mapping) else None, "metadata": json_text(meta)})
    return {
        "trace_id": text_id(r.get("trace_id")) or _run_id(r),
        "span_id": _run_id(r),
        "parent_span_id": None if not r.get("parent_run_id") else text_id(r["parent_run_id"]),
        "name": r.get("name"),
        "kind": kind,
        "start_time": to_utc(r.get("start_time")),
        "end_time": to_utc(r.get("end_time")),
        "status": status,
        "error_message": err if isinstance(err, str) else json_text(err),
        "model": model,
        "provider": md.get("ls_provider"),
        "input_messages": inp,
        "output_messages": out,
        "input_text": in_text,
        "output_text": out_text,
        "documents": docs,
        "tool_name": r.get("name") if kind == "tool" else None,
        "tool_arguments": tool_args,
        "tool_result": tool_res,
        "prompt_tokens": pt,
        "completion_tokens": ct,
        "total_tokens": tt,
        "cost_usd": None if cost is None else float(cost),
        "session_id": None if session is None else str(session),
        "user_id": None if md.get("user_id") is None else str(md["user_id"]),
        "tags": list(tags) if tags else None,
        "metadata": md or None,
        "attributes": attrs or None,
        "source_format": "langsmith",
    }


PATCH_ROWS = "langsmith_patch"
"""``source_format`` of the partial row a patch-only batch gives; ``read_traces`` merges it into its run."""
_RUN_TYPES = {"llm": "llm", "chain": "chain", "tool": "tool", "retriever": "retriever", "embedding": "embedding", "agent": "agent"}


def merge_patch(row: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a later patch sets on the run ``row`` a post gave (its end, outputs, error, usage)."""
    full = _run({**patch, "run_type": _RUN_TYPES.get(row.get("kind") or "", "chain"), "name": row.get("name")})
    upd = {c: full[c] for c in ("end_time", "model", "output_messages", "output_text", "documents", "tool_result",
                                "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "error_message")
           if row.get(c) is None and full.get(c) is not None}
    if patch.get("error") or patch.get("end_time"):
        upd["status"] = full["status"]
    if full.get("attributes"):
        upd["attributes"] = {**(row.get("attributes") or {}), **full["attributes"]}
    return upd


def parse_langsmith(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from LangSmith runs (a run, a list of runs, or a post/patch payload).

    Example:
        >>> rows = list(parse_langsmith({"post": [{"id": "r1", "trace_id": "r1", "run_type": "llm",
        ...     "name": "ChatOpenAI", "inputs": {"messages": [{"role": "user", "content": "hi"}]},
        ...     "start_time": "2024-10-11T20:58:24Z"}], "patch": [{"id": "r1",
        ...     "end_time": "2024-10-11T20:58:25Z", "outputs": {"choices": [{"message": {"content": "hello"}}],
        ...     "model": "gpt-4o-mini", "usage": {"prompt_tokens": 3, "completion_tokens": 2}}}]}))
        >>> [(r["kind"], r["model"], r["input_text"], r["output_text"], r["total_tokens"]) for r in rows]
        [('llm', 'gpt-4o-mini', 'hi', 'hello', 5)]
    """
    if isinstance(doc, list):
        runs = _merge(doc, [], ctx)
    elif isinstance(doc, Mapping) and ("post" in doc or "patch" in doc) and not _is_run(doc):
        post, patch = doc.get("post") or [], doc.get("patch") or []
        if not isinstance(post, list) or not isinstance(patch, list):
            raise LoadError("post/patch are not lists", expected="{post: [runs], patch: [runs]}")
        runs = _merge(post, patch, ctx)
        posted = {_run_id(r) for r in post if isinstance(r, Mapping)}
        for r in [r for r in runs if r.get("id") not in posted]:
            # a patch whose post came in an earlier batch: completes that run when both are read
            runs.remove(r)
            yield {"trace_id": text_id(r.get("trace_id")) or r["id"], "span_id": r["id"], "kind": "unknown", "status": "unset",
                   "source_format": PATCH_ROWS, "attributes": {"langsmith.patch": r}}
    elif isinstance(doc, Mapping) and isinstance(doc.get("runs"), list):
        runs = _merge(doc["runs"], [], ctx)
    elif isinstance(doc, Mapping):
        runs = _merge([doc], [], ctx)
    else:
        raise LoadError(f"a LangSmith record is a {type(doc).__name__}", expected="a run object or {post, patch}")
    stack = list(runs)
    while stack:  # child_runs nested inside a run (LangChain tracers)
        r = stack.pop()
        for c in r.pop("child_runs", None) or []:
            if isinstance(c, Mapping):
                c = dict(c)
                c.setdefault("parent_run_id", r.get("id"))
                c.setdefault("trace_id", r.get("trace_id"))
                runs.append(c)
                stack.append(c)
    for r in runs:
        row = per_record(ctx, f"run id {r.get('id')}", _run, r)
        if row is not None:
            yield row
