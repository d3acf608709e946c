"""Inspect AI eval logs (JSON ``EvalLog``: ``{version, status, eval, plan, results, stats, samples}``).

One trace per sample (and epoch): a root ``agent`` span named after the task, with the sample's
input, final output, messages, target and scores (``metadata.scores``), and one ``llm`` span per
``model`` event and one ``tool`` span per ``tool`` event of the sample's transcript (times,
model, usage, messages, tool arguments and results as Inspect recorded them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

from llmops_nb.loaders._common import (
    LoadError,
    as_map,
    assistant_text,
    current_decompressed_limit,
    json_text,
    last_user_text,
    per_record,
    text_id,
    text_of,
    to_utc,
    too_big,
)
from llmops_nb.loaders._messages import normalize_messages

__all__ = ["parse_inspect", "is_inspect", "read_eval_file", "sniff_eval_file"]


def sniff_eval_file(path: str) -> bool:
    """Whether a file is a zip (an Inspect ``.eval`` log)."""
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


_ZSTD = 93  # zip compression method of zstd, used by newer Inspect versions for .eval members


def _member(z: Any, path: str, name: str) -> bytes:
    """A zip member's bytes; zstd members (method 93, which Python's zipfile reads only from 3.14)
    are decompressed with the ``zstandard`` package."""
    info = z.getinfo(name)
    if info.compress_type != _ZSTD:
        return z.read(name)
    import struct

    try:
        import zstandard
    except ImportError:
        raise LoadError(f"member {name} is zstd-compressed and the zstandard package is not installed", file=path,
                        expected='zstandard to read it: pip install "llmops-nb[recordings]"') from None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        head = f.read(30)
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            raise LoadError(f"member {name} has no local header", file=path, expected="a readable zip")
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        raw = f.read(info.compress_size)
    try:
        return zstandard.ZstdDecompressor().decompress(raw, max_output_size=max(info.file_size, 1))
    except zstandard.ZstdError as e:
        raise LoadError(f"member {name}: corrupt zstd data ({e})", file=path, expected="a readable zip") from None


def read_eval_file(path: str) -> Iterator[Any]:
    """An Inspect ``.eval`` log (a zip of ``header.json`` and ``samples/*.json``) as one
    ``EvalLog`` document, samples in the order of their names."""
    import zipfile

    import orjson

    try:
        z = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise LoadError(f"not a readable zip ({e})", file=path, expected="an Inspect .eval log (a zip)") from None
    with z:
        names = z.namelist()
        if "header.json" not in names and "_journal/start.json" not in names:
            raise LoadError(f"the zip holds no header.json (entries: {names[:6]})", file=path,
                            expected="an Inspect .eval log with header.json and samples/")
        header = orjson.loads(_member(z, path, "header.json" if "header.json" in names else "_journal/start.json"))
        samples = []
        limit = current_decompressed_limit()  # a zip bomb stops at the same settable limit as a .gz
        inflated = 0
        for n in sorted(x for x in names if x.startswith("samples/") and x.endswith(".json")):
            inflated += z.getinfo(n).file_size
            if limit is not None and inflated > limit:
                raise too_big(path, limit)
            samples.append(orjson.loads(_member(z, path, n)))
    doc = dict(header)
    doc.setdefault("status", "started")
    doc["samples"] = samples
    yield doc


def is_inspect(doc: Any) -> bool:
    """Whether a parsed record is an Inspect eval log."""
    return isinstance(doc, Mapping) and isinstance(doc.get("eval"), Mapping) and "status" in doc and (
        "samples" in doc or "results" in doc) and "task" in doc["eval"]


def _hid(*parts: Any) -> str:
    return hashlib.sha1("\x1f".join(map(str, parts)).encode()).hexdigest()[:16]


def _usage(u: Any) -> tuple[int | None, int | None, int | None]:
    u = as_map(u)
    if not u:
        return None, None, None
    return u.get("input_tokens"), u.get("output_tokens"), u.get("total_tokens")


def _resolve(v: Any, att: Mapping[str, Any]) -> Any:
    """Replace Inspect's ``attachment://<hash>`` references by the attached content."""
    if isinstance(v, str):
        if v.startswith("attachment://"):
            return att.get(v[len("attachment://"):], v)
        return v
    if isinstance(v, list):
        return [_resolve(x, att) for x in v]
    if isinstance(v, Mapping):
        return {k: _resolve(x, att) for k, x in v.items()}
    return v


def _messages(v: Any, side: str) -> list[dict[str, Any]] | None:
    """Canonical messages from Inspect ``ChatMessage`` dicts. A tool message whose call failed
    has empty ``content`` and the failure in ``error: {type, message}``; the model is sent that
    message (Inspect's Anthropic and Google providers send it as is, its OpenAI provider with an
    ``Error:`` prefix), so it is the message's content here."""
    if isinstance(v, list):
        v = [{**m, "content": as_map(m["error"]).get("message") or json_text(m["error"])}
             if isinstance(m, Mapping) and m.get("role") == "tool" and m.get("error") and not text_of(m.get("content")) else m
             for m in v]
    return normalize_messages(v, side)


def _sample(ev: Mapping[str, Any], s: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    att = as_map(s.get("attachments"))
    if att:
        s = {k: (_resolve(v, att) if k in ("messages", "events", "input", "output") else v) for k, v in s.items()}
    run = ev.get("run_id") or ev.get("eval_id") or ev.get("task")
    sample_key = text_id(s.get("uuid")) or f"{text_id(s.get('id'))}:{s.get('epoch', 1)}"
    trace_id = f"inspect-{run}-{sample_key}"
    root = _hid(trace_id, "root")
    msgs = _messages(s.get("messages"), "input") if s.get("messages") else None
    inp = s.get("input")
    in_msgs = _messages(inp, "input") if isinstance(inp, list) else None
    out = as_map(s.get("output"))
    out_msgs = normalize_messages(out, "output") if out.get("choices") else None
    raw_events = s.get("events") or as_map(s.get("transcript")).get("events") or []  # older logs: sample.transcript.events
    events = [e for e in raw_events if isinstance(e, Mapping)]
    pool = s.get("message_pool") or as_map(s.get("events_data")).get("messages")  # deduplicated message pools
    pool = pool if isinstance(pool, list) else None
    spans = {e.get("id"): _hid(trace_id, "span", e.get("id")) for e in events if e.get("event") == "span_begin" and e.get("id")}

    def parent_of(e: Mapping[str, Any]) -> str:
        return spans.get(e.get("span_id"), root)
    times = [t for e in events if e.get("timestamp") and (t := to_utc(e.get("timestamp"))) is not None]
    start = min(times) if times else None
    end = None
    if start is not None and s.get("total_time") is not None:
        from datetime import timedelta

        end = start + timedelta(seconds=float(s["total_time"]))
    err = s.get("error")
    scores = s.get("scores") or None
    meta = {
        "task": ev.get("task"), "sample_id": s.get("id"), "epoch": s.get("epoch"), "target": s.get("target"),
        "scores": scores, "eval_model": ev.get("model"), "output_model": out.get("model"),
        **{k: v for k, v in as_map(s.get("metadata")).items() if k not in ("scores",)},
    }
    yield {
        "trace_id": trace_id, "span_id": root, "parent_span_id": None, "name": ev.get("task"), "kind": "agent",
        "start_time": start, "end_time": end, "status": "error" if err else "ok",
        "error_message": (as_map(err).get("message") or json_text(err)) if err else None,
        "model": ev.get("model") or out.get("model"), "input_messages": in_msgs or msgs, "output_messages": out_msgs,
        "input_text": inp if isinstance(inp, str) else last_user_text(in_msgs),
        "output_text": out.get("completion") or assistant_text(out_msgs),
        "metadata": {k: v for k, v in meta.items() if v is not None} or None,
        "attributes": {k: v for k, v in {"model_usage": s.get("model_usage"), "working_time": s.get("working_time"),
                                         "total_time": s.get("total_time")}.items() if v is not None} or None,
        "source_format": "inspect",
    }
    ends = {e.get("id"): e for e in events if e.get("event") == "span_end"}
    for i, e in enumerate(events):
        kind = e.get("event")
        if kind == "span_begin" and e.get("id") in spans:
            end_ev = ends.get(e.get("id"), {})
            typ = e.get("type")
            yield {
                "trace_id": trace_id, "span_id": spans[e["id"]],
                "parent_span_id": spans.get(e.get("parent_id"), root), "name": e.get("name"),
                "kind": {"scorer": "evaluator", "scorers": "evaluator", "agent": "agent"}.get(str(typ), "chain"),
                "start_time": to_utc(e.get("timestamp")), "end_time": to_utc(end_ev.get("timestamp")),
                "status": "ok" if end_ev else "unset",
                "metadata": {"inspect.event": "span_begin", "inspect.span_type": typ, "inspect.span_id": e.get("id")},
                "source_format": "inspect",
            }
        elif kind == "model":
            o = as_map(e.get("output"))
            raw_in = e.get("input")
            if not raw_in and pool is not None and e.get("input_refs"):  # deduplicated messages: [start, end) ranges into the pool
                raw_in = [m for a, b in e["input_refs"] for m in pool[a:b]]
            im = _messages(raw_in, "input") if raw_in else None
            om = normalize_messages(o, "output") if o.get("choices") else None
            ept, ect, ett = _usage(o.get("usage"))
            e_err = e.get("error")
            yield {
                "trace_id": trace_id, "span_id": _hid(trace_id, "model", i), "parent_span_id": parent_of(e),
                "name": f"model {e.get('model')}", "kind": "llm",
                "start_time": to_utc(e.get("timestamp")), "end_time": to_utc(e.get("completed")),
                "status": "error" if e_err else "ok", "error_message": text_of(e_err) if e_err else None,
                "model": e.get("model") or o.get("model"), "provider": str(e.get("model") or "").split("/")[0] or None,
                "input_messages": im, "output_messages": om, "input_text": last_user_text(im), "output_text": assistant_text(om),
                "prompt_tokens": ept, "completion_tokens": ect, "total_tokens": ett,
                "attributes": {k: v for k, v in {"config": e.get("config") or None, "tool_choice": e.get("tool_choice"),
                                                 "response_model": o.get("model")}.items() if v is not None} or None,
                "source_format": "inspect",
            }
        elif kind == "tool":
            t_err = e.get("error")
            res = e.get("result")
            yield {
                "trace_id": trace_id, "span_id": _hid(trace_id, "tool", i), "parent_span_id": parent_of(e),
                "name": e.get("function"), "kind": "tool",
                "start_time": to_utc(e.get("timestamp")), "end_time": to_utc(e.get("completed")),
                "status": "error" if t_err else "ok",
                "error_message": (as_map(t_err).get("message") or json_text(t_err)) if t_err else None,
                "tool_name": e.get("function"), "tool_arguments": json_text(e.get("arguments")),
                "tool_result": res if isinstance(res, str) else json_text(res),
                "input_text": json_text(e.get("arguments")), "output_text": res if isinstance(res, str) else json_text(res),
                "metadata": {"tool_call_id": e.get("id")} if e.get("id") else None,
                "source_format": "inspect",
            }


def parse_inspect(doc: Any, ctx: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Spans rows from one Inspect eval log (one trace per sample).

    Example:
        >>> log = {"version": 2, "status": "success", "eval": {"task": "qa", "run_id": "r1", "model": "openai/gpt-4o-mini"},
        ...        "samples": [{"id": 1, "epoch": 1, "input": "2+2?", "target": "4",
        ...                     "output": {"model": "gpt-4o-mini", "choices": [{"message": {"role": "assistant", "content": "4"}}],
        ...                                "usage": {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6}},
        ...                     "scores": {"match": {"value": "C"}}}]}
        >>> r = next(parse_inspect(log))
        >>> r["kind"], r["input_text"], r["output_text"], r["metadata"]["scores"]["match"]["value"]
        ('agent', '2+2?', '4', 'C')
    """
    if isinstance(doc, list) and doc and all(is_inspect(d) for d in doc):  # several logs (records passed in)
        for d in doc:
            yield from parse_inspect(d, ctx)
        return
    if not is_inspect(doc):
        raise LoadError("not an Inspect eval log", expected="{version, status, eval: {task, ...}, samples: [...]}")
    ev = doc["eval"]
    for i, s in enumerate(doc.get("samples") or []):  # a bad sample fails, or is skipped, alone
        yield from per_record(ctx, f"sample {i}", _one_sample, ev, s) or []


def _one_sample(ev: Mapping[str, Any], s: Any) -> list[dict[str, Any]]:
    if not isinstance(s, Mapping):
        raise LoadError("a sample is not an object", expected="samples as objects")
    return list(_sample(ev, s))
