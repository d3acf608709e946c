"""Write simulated traces into a store or as OTLP/JSON files, with the truth kept apart.

The ground truth goes to a hidden ``.truth/`` folder beside the traces (``truth.parquet``,
``plan.parquet``, ``config.json``): never into span attributes or metadata, never read by
``read_traces`` (which skips hidden folders) nor by the store's tables.

OTLP files use OpenInference attributes for the ``support-assistant`` service (web chat and
mobile app) and OpenTelemetry gen_ai attributes for ``support-email-bot`` and
``support-messaging``, so both loader paths are exercised.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from llmops_nb.demo import _content as C
from llmops_nb.demo._generate import DemoData

__all__ = ["write_store", "write_otlp", "load_truth", "load_plan", "TRUTH_DIR"]

TRUTH_DIR = ".truth"
"""Name of the hidden folder that holds the ground truth beside the traces."""


def _write_truth(data: DemoData, folder: Path) -> Path:
    d = folder / TRUTH_DIR
    d.mkdir(parents=True, exist_ok=True)
    _write_parquet(pa.Table.from_pandas(data.truth, preserve_index=False), d / "truth.parquet")
    _write_parquet(pa.Table.from_pandas(data.plan, preserve_index=False), d / "plan.parquet")
    (d / "config.json").write_bytes(orjson.dumps(data.config, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    if data.session_truth is not None:  # planted session failures: one row per session
        _write_parquet(pa.Table.from_pandas(data.session_truth, preserve_index=False), d / "session_truth.parquet")
    return d / "truth.parquet"


def _write_parquet(table: pa.Table, path: Path) -> None:
    # no pandas metadata and fixed settings, so two runs give byte-identical files
    table = table.replace_schema_metadata(None)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd", store_schema=False)
    os.replace(tmp, path)


def write_store(data: DemoData, store: Any = None, *, batch_spans: int = 200_000) -> int:
    """Add the simulated spans to a store, and the truth to ``<store>/.truth/``; returns rows written.

    ``store`` is a :class:`llmops_nb.Store`, a path, or None for the default store. Spans go in
    batches of ``batch_spans`` rows (one segment each), which bounds memory for millions of
    spans; writing the same data again adds nothing.

    Example:
        >>> import tempfile, llmops_nb as lo
        >>> from llmops_nb.demo import generate, write_store, load_truth
        >>> store = lo.Store(tempfile.mkdtemp())
        >>> data = generate(20, seed=0)
        >>> write_store(data, store) == len(data.spans), len(load_truth(store)) == 20
        (True, True)
    """
    from llmops_nb.store import as_store

    st = as_store(store)
    n = 0
    table = data.arrow
    for off in range(0, max(table.num_rows, 1), max(1, batch_spans)):
        n += st.add("spans", table.slice(off, batch_spans))
    st.ensure()
    _write_truth(data, Path(st.path))
    return n


def load_truth(where: Any) -> pd.DataFrame:
    """The ground truth written beside simulated traces (one row per trace).

    ``where``: a Store, a store folder, an OTLP output folder, its ``.truth`` folder or a
    ``truth.parquet`` file.

    Example:
        >>> import tempfile
        >>> from llmops_nb.demo import generate, write_otlp, load_truth
        >>> out = tempfile.mkdtemp()
        >>> _ = write_otlp(generate(10, seed=0), out)
        >>> load_truth(out).shape[0]
        10
    """
    p = Path(getattr(where, "path", where))
    for cand in (p, p / "truth.parquet", p / TRUTH_DIR / "truth.parquet"):
        if cand.is_file():
            df = pd.read_parquet(cand)
            df["trace_id"] = df["trace_id"].astype(object)
            return df
    raise FileNotFoundError(
        f"no ground truth at {str(p)!r}: expected {p / TRUTH_DIR / 'truth.parquet'}. "
        "Write it with llmops_nb.demo.write_store(data, store) or write_otlp(data, out_dir)."
    )


def load_session_truth(where: Any) -> pd.DataFrame | None:
    """The session-level truth written beside simulated traces when session failures were
    planted (one row per session), or None when there is none. ``where`` as for :func:`load_truth`.

    Example:
        >>> import tempfile, llmops_nb as lo
        >>> from llmops_nb.demo import generate, plant_session_failures, write_store
        >>> store = lo.Store(tempfile.mkdtemp())
        >>> _ = write_store(plant_session_failures(generate(60, seed=0)), store)
        >>> load_session_truth(store).columns[0]
        'session_id'
    """
    p = Path(str(where.path)) if hasattr(where, "path") and hasattr(where, "spans") else Path(str(where))
    for cand in (p / "session_truth.parquet", p / TRUTH_DIR / "session_truth.parquet",
                 p.parent / "session_truth.parquet"):
        if cand.is_file():
            df = pd.read_parquet(cand)
            df["session_id"] = df["session_id"].astype(object)
            return df
    return None


def load_plan(where: Any) -> pd.DataFrame:
    """The generator's per-trace plan written beside simulated traces: one row per trace with its
    slice memberships (``in_slice_<mode>``) and which modes could apply (``eligible_<mode>``).

    Example:
        >>> import tempfile
        >>> from llmops_nb.demo import generate, write_otlp, load_plan
        >>> out = tempfile.mkdtemp()
        >>> _ = write_otlp(generate(10, seed=0), out)
        >>> "in_slice_over_refusal" in load_plan(out).columns
        True
    """
    p = Path(getattr(where, "path", where))
    for cand in (p / "plan.parquet", p / TRUTH_DIR / "plan.parquet"):
        if cand.is_file():
            return pd.read_parquet(cand)
    raise FileNotFoundError(f"no plan.parquet under {str(p)!r}")


# --------------------------------------------------------------------------- OTLP/JSON

def _val(v: Any) -> dict[str, Any]:
    t = type(v)
    if t is str:
        return {"stringValue": v}
    if t is bool:
        return {"boolValue": v}
    if t is int:
        return {"intValue": str(v)}
    if t is float:
        return {"doubleValue": v}
    if t is list or t is tuple:
        return {"arrayValue": {"values": [_val(x) for x in v]}}
    return {"stringValue": str(v)}


def _dumps(v: Any) -> str:
    return orjson.dumps(v).decode()


def _oi_messages(prefix: str, msgs: list[dict[str, Any]], a: dict[str, Any]) -> None:
    for i, m in enumerate(msgs):
        p = f"{prefix}.{i}.message"
        a[f"{p}.role"] = m["role"]
        if m.get("content") is not None:
            a[f"{p}.content"] = m["content"]
        if m.get("tool_call_id") is not None:
            a[f"{p}.tool_call_id"] = m["tool_call_id"]
        for j, c in enumerate(m.get("tool_calls") or ()):
            q = f"{p}.tool_calls.{j}.tool_call"
            a[f"{q}.id"] = c["id"]
            a[f"{q}.function.name"] = c["name"]
            a[f"{q}.function.arguments"] = c["arguments"]


def _genai_message(m: dict[str, Any], finish: bool = False) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if m["role"] == "tool":
        parts.append({"type": "tool_call_response", "id": m.get("tool_call_id"), "response": m.get("content")})
    else:
        if m.get("content") is not None:
            parts.append({"type": "text", "content": m["content"]})
        for c in m.get("tool_calls") or ():
            parts.append({"type": "tool_call", "id": c["id"], "name": c["name"], "arguments": c["arguments"]})
    out: dict[str, Any] = {"role": m["role"], "parts": parts}
    if finish:
        out["finish_reason"] = "tool_call" if m.get("tool_calls") else "stop"
    return out


_OI_KIND = {"agent": "AGENT", "llm": "LLM", "tool": "TOOL", "retriever": "RETRIEVER", "embedding": "EMBEDDING",
            "guardrail": "GUARDRAIL", "chain": "CHAIN"}
_GENAI_OP = {"agent": "invoke_agent", "llm": "chat", "tool": "execute_tool", "retriever": "retrieval",
             "embedding": "embeddings"}


def _attributes(row: dict[str, Any], conv: str, meta: dict[str, Any]) -> dict[str, Any]:
    kind = row["kind"]
    a: dict[str, Any] = {}
    gen = conv == "gen_ai"
    if not gen:
        a["openinference.span.kind"] = _OI_KIND[kind]
    elif kind in _GENAI_OP:
        a["gen_ai.operation.name"] = _GENAI_OP[kind]
    else:
        a["llmops.kind"] = kind  # gen_ai has no guardrail operation
    if row["model"] is not None:
        if gen:
            a["gen_ai.request.model"] = row["model"]
            a["gen_ai.response.model"] = row["model"]
            a["gen_ai.provider.name"] = row["provider"]
        elif kind == "embedding":
            a["embedding.model_name"] = row["model"]
            a["llm.provider"] = row["provider"]
        else:
            a["llm.model_name"] = row["model"]
            a["llm.provider"] = row["provider"]
            a["llm.system"] = row["provider"]
    if kind == "llm":
        if gen:
            a["gen_ai.request.temperature"] = 0.2
            a["gen_ai.input.messages"] = _dumps([_genai_message(m) for m in row["input_messages"] or ()])
            if row["output_messages"] is not None:
                outs = [_genai_message(m, finish=True) for m in row["output_messages"]]
                a["gen_ai.output.messages"] = _dumps(outs)
                a["gen_ai.response.finish_reasons"] = [o["finish_reason"] for o in outs]
        else:
            a["llm.invocation_parameters"] = '{"temperature": 0.2}'
            a["llm.tools"] = _dumps(sorted(C.TOOLS_SPEC))
            _oi_messages("llm.input_messages", row["input_messages"] or [], a)
            if row["output_messages"] is not None:
                _oi_messages("llm.output_messages", row["output_messages"], a)
    elif kind == "tool":
        if gen:
            a["gen_ai.tool.name"] = row["tool_name"]
            a["gen_ai.tool.call.arguments"] = row["tool_arguments"]
            a["gen_ai.tool.call.result"] = row["tool_result"]
        else:
            a["tool.name"] = row["tool_name"]
            a["tool.description"] = C.TOOLS_SPEC[row["tool_name"]]["description"]
            a["tool_call.function.arguments"] = row["tool_arguments"]
            a["input.value"] = row["input_text"]
            a["input.mime_type"] = "application/json"
            a["output.value"] = row["tool_result"]
            a["output.mime_type"] = "application/json"
    elif kind == "retriever":
        a["input.value"] = row["input_text"]
        docs = row["documents"] or []
        if gen:
            a["gen_ai.retrieval.documents"] = _dumps(docs)
        else:
            for i, d in enumerate(docs):
                p = f"retrieval.documents.{i}.document"
                a[f"{p}.id"] = d["id"]
                a[f"{p}.content"] = d["content"]
                a[f"{p}.score"] = d["score"]
                a[f"{p}.metadata"] = d["metadata"]
    else:  # agent, guardrail, embedding
        if row["input_text"] is not None:
            a["input.value"] = row["input_text"]
        if row["output_text"] is not None:
            a["output.value"] = row["output_text"]
        if kind == "agent":
            if gen:
                a["gen_ai.agent.name"] = "support_agent"
            else:
                a["agent.name"] = "support_agent"
    # tokens and cost
    pt, ct, tt = row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]
    if pt is not None:
        if gen:
            a["gen_ai.usage.input_tokens"] = pt
            if ct is not None:
                a["gen_ai.usage.output_tokens"] = ct
        else:
            a["llm.token_count.prompt"] = pt
            if ct is not None:
                a["llm.token_count.completion"] = ct
            a["llm.token_count.total"] = tt
    if row["cost_usd"] is not None:
        a["gen_ai.usage.cost" if gen else "llm.cost.total"] = row["cost_usd"]
    # session, user, tags, metadata
    if row["session_id"] is not None:
        a["gen_ai.conversation.id" if gen and kind in _GENAI_OP else "session.id"] = row["session_id"]
    if row["user_id"] is not None:
        a["enduser.id" if gen else "user.id"] = row["user_id"]
    if row["tags"]:
        a["tag.tags"] = list(row["tags"])
    extra = {k: v for k, v in meta.items() if k != "service.name"}
    if extra:
        if gen:
            for k, v in extra.items():
                a[f"metadata.{k}"] = v
        else:
            a["metadata"] = _dumps(extra)
    return a


def _otlp_span(row: dict[str, Any], conv: str, meta: dict[str, Any]) -> dict[str, Any]:
    start_ns, end_ns = row["start_time"], row["end_time"]  # integer nanoseconds
    attrs = _attributes(row, conv, meta)
    sp: dict[str, Any] = {"traceId": row["trace_id"], "spanId": row["span_id"]}
    if row["parent_span_id"]:
        sp["parentSpanId"] = row["parent_span_id"]
    sp.update({
        "name": row["name"],
        "kind": 3 if row["kind"] in ("llm", "embedding", "tool") else 1,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(end_ns),
        "attributes": [{"key": k, "value": _val(v)} for k, v in attrs.items()],
    })
    if row["status"] == "error":
        msg = row["error_message"] or ""
        etype = msg.split(":", 1)[0] if ":" in msg else "Error"
        sp["events"] = [{"name": "exception", "timeUnixNano": str(end_ns),
                         "attributes": [{"key": "exception.type", "value": {"stringValue": etype}},
                                        {"key": "exception.message", "value": {"stringValue": msg}}]}]
        sp["status"] = {"code": 2, "message": msg}
    else:
        sp["status"] = {"code": 1}
    return sp


def _resource(service: str) -> dict[str, Any]:
    attrs = {"service.name": service, "service.version": "2.8.1", "deployment.environment": "prod",
             "telemetry.sdk.language": "python", "telemetry.sdk.name": "opentelemetry"}
    return {"attributes": [{"key": k, "value": _val(v)} for k, v in attrs.items()]}


_SCOPE = {"openinference": "openinference.instrumentation", "gen_ai": "opentelemetry.instrumentation.genai"}


def _rows(table: pa.Table, batch: int = 20_000) -> Iterator[dict[str, Any]]:
    cols = ["trace_id", "span_id", "parent_span_id", "name", "kind", "start_time", "end_time", "status",
            "error_message", "model", "provider", "input_messages", "output_messages", "input_text", "output_text",
            "documents", "tool_name", "tool_arguments", "tool_result", "prompt_tokens", "completion_tokens",
            "total_tokens", "cost_usd", "session_id", "user_id", "tags", "metadata"]
    t = table.select(cols)
    # times as integer nanoseconds (exact)
    for off in range(0, t.num_rows, batch):
        part = t.slice(off, batch)
        st = part.column("start_time").cast(pa.int64()).to_pylist()
        en = part.column("end_time").cast(pa.int64()).to_pylist()
        part = part.drop_columns(["start_time", "end_time"])
        for k, row in enumerate(part.to_pylist()):
            row["start_time"] = st[k] * 1000
            row["end_time"] = en[k] * 1000
            yield row


def write_otlp(data: DemoData, out_dir: str | os.PathLike[str], *, spans_per_export: int = 2000,
               exports_per_file: int = 20) -> list[Path]:
    """Write the simulated spans as OTLP/JSON files (``<out_dir>/<service>/spans-NNNNN.jsonl``,
    one export request per line) and the truth to ``<out_dir>/.truth/``; returns the files.

    The support-assistant service uses OpenInference attributes; support-email-bot and
    support-messaging use gen_ai attributes. ``llmops_nb.read_traces(out_dir)`` loads them back.

    Example:
        >>> import tempfile, llmops_nb as lo
        >>> from llmops_nb.demo import generate, write_otlp
        >>> out = tempfile.mkdtemp()
        >>> data = generate(30, seed=0)
        >>> _ = write_otlp(data, out)
        >>> len(lo.read_traces(out)) == len(data.spans)
        True
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    buffers: dict[str, list[dict[str, Any]]] = {}
    lines: dict[str, list[bytes]] = {}
    counters: dict[str, int] = {}
    files: list[Path] = []
    meta_cache: dict[str, dict[str, Any]] = {}

    def flush_file(service: str) -> None:
        if not lines.get(service):
            return
        d = out / service
        d.mkdir(parents=True, exist_ok=True)
        n = counters.get(service, 0)
        p = d / f"spans-{n:05d}.jsonl"
        p.write_bytes(b"\n".join(lines[service]) + b"\n")
        files.append(p)
        counters[service] = n + 1
        lines[service] = []

    def flush_export(service: str) -> None:
        spans = buffers.get(service)
        if not spans:
            return
        conv = C.SERVICES_CONV[service]
        doc = {"resourceSpans": [{"resource": _resource(service), "scopeSpans": [
            {"scope": {"name": _SCOPE[conv], "version": "1.0.0"}, "spans": spans}]}]}
        lines.setdefault(service, []).append(orjson.dumps(doc))
        buffers[service] = []
        if len(lines[service]) >= exports_per_file:
            flush_file(service)

    prev_trace: str | None = None
    prev_service: str | None = None
    for row in _rows(data.arrow):
        mtext = row["metadata"]
        meta = meta_cache.get(mtext) if mtext is not None else {}
        if meta is None:
            meta = orjson.loads(mtext)
            if len(meta) == 1:
                meta_cache[mtext] = meta
        service = meta.get("service.name", "support-assistant")
        if row["trace_id"] != prev_trace and prev_service is not None and len(buffers.get(prev_service, ())) >= spans_per_export:
            flush_export(prev_service)
        buffers.setdefault(service, []).append(_otlp_span(row, C.SERVICES_CONV[service], meta))
        prev_trace, prev_service = row["trace_id"], service
    for service in sorted(buffers):
        flush_export(service)
    for service in sorted(lines):
        flush_file(service)
    _write_truth(data, out)
    return sorted(files)
