"""Benchmark: OTLP JSON -> spans DataFrame -> store, beside the parse floor and a naive baseline.

Generates OTLP/JSON (JSONL, one export of 500 spans per line, as collectors' file exporters
write) with realistic LLM, retriever, tool and chain spans, half with OpenInference attributes and
half with OpenTelemetry gen_ai ones, at 10k, 100k and 1M spans. For each size, in fresh
subprocesses (so peak memory is the process's own):

- floor: ``orjson.loads`` of every line, nothing else (the fastest parser available);
- naive: ``json.loads`` + ``pandas.json_normalize`` of the spans;
- read: ``llmops_nb.read_traces(file)`` (file -> spans DataFrame), through the native OTLP/JSON
  decoder (``loaders/_otlp_json.c``) when it is built; jpy = the same with ``LLMOPS_NB_NATIVE=0``
  (orjson's dicts walked in Python: what runs without the extension);
- store: ``read_traces`` then ``Store.add_spans`` (file -> store, end to end);
- peak RSS of the read, beside the final frame's memory (nested cells walked, each object once);
- the query "error rate and p95 latency by model" over the stored spans;
- the same spans as OTLP protobuf exports of 512 spans (one ``.pb`` file each, as the receiver
  gets them): pfloor = ``ParseFromString`` of every export, nothing else; pread = ``read_traces``
  of the files (one worker), through the native decoder (``loaders/_otlp_pb.c``) when it is built;
  ppy = the same with ``LLMOPS_NB_NATIVE=0`` (upb walked in Python: what runs without the extension);
- ``import llmops_nb`` in a fresh interpreter.

Prints a table and the targets: >= 100,000 spans/s end to end, within 3x of the floor, peak
memory <= 2x the final frame, the query < 1 s (over 1M spans), import < 0.3 s.

The floor and read figures (JSON and protobuf) are the least CPU time of ``--repeat`` fresh runs
each (default 3), each floor run beside its read run: on a shared machine other processes only
ever add to them, and the load changes by the minute.

Usage: ``python benchmarks/bench_load.py [--sizes 10000,100000,1000000] [--dir DIR] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPANS_PER_LINE = 500
MODELS = ["gpt-4o-mini", "gpt-4o", "claude-3-5-sonnet-20241022", "gemini-2.5-flash", "llama-3.1-70b"]
QUESTIONS = [
    "How do I reset my password?", "What is the refund policy for annual plans?",
    "Can I change the billing address on an invoice?", "Why was my card declined?",
    "How do I export my data to CSV?", "Is there a discount for non-profits?",
]


def _kv(key: str, value: object) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _trace_spans(rng: random.Random, t: int, t0: int) -> list[dict]:
    """One trace: chain root, retriever, llm (tool call), tool, llm (answer), ~ 5 spans."""
    tid = f"{rng.getrandbits(128):032x}"
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(5)]
    q = rng.choice(QUESTIONS)
    model = MODELS[t % len(MODELS)]
    oi = t % 2 == 0  # OpenInference or gen_ai convention
    start = t0 + t * 1_000_000_000
    error = rng.random() < 0.05
    spans = []

    def span(i: int, parent: str | None, name: str, dur_ms: float, attrs: list, status_err: bool = False) -> None:
        s = {"traceId": tid, "spanId": ids[i], "name": name, "kind": 1,
             "startTimeUnixNano": str(start + i * 5_000_000),
             "endTimeUnixNano": str(start + i * 5_000_000 + int(dur_ms * 1e6)),
             "attributes": attrs, "status": {"code": 2, "message": "upstream timeout"} if status_err else {"code": 1}}
        if parent:
            s["parentSpanId"] = parent
        spans.append(s)

    docs = [f"Policy section {rng.randint(1, 400)}: " + "lorem ipsum dolor sit amet " * rng.randint(3, 12) for _ in range(3)]
    answer = "You can do that from Settings > Account. " * rng.randint(1, 4)
    pt, ct = rng.randint(200, 3000), rng.randint(20, 400)
    if oi:
        span(0, None, "support_agent", 900 + rng.random() * 3000, [
            _kv("openinference.span.kind", "CHAIN"), _kv("input.value", q), _kv("output.value", answer),
            _kv("session.id", f"sess-{t % 997}"), _kv("user.id", f"user-{t % 313}"),
            _kv("metadata", json.dumps({"tenant": f"acme-{t % 7}", "prompt_version": "v3"}))])
        ret = [_kv("openinference.span.kind", "RETRIEVER"), _kv("input.value", q)]
        for k, d in enumerate(docs):
            ret += [_kv(f"retrieval.documents.{k}.document.id", f"doc-{k}"),
                    _kv(f"retrieval.documents.{k}.document.content", d),
                    _kv(f"retrieval.documents.{k}.document.score", round(rng.random(), 4))]
        span(1, ids[0], "retrieve", 20 + rng.random() * 80, ret)
        span(2, ids[0], "ChatCompletion", 300 + rng.random() * 2000, [
            _kv("openinference.span.kind", "LLM"), _kv("llm.model_name", model), _kv("llm.provider", "openai"),
            _kv("llm.input_messages.0.message.role", "system"),
            _kv("llm.input_messages.0.message.content", "You are a helpful support agent. Use the tools."),
            _kv("llm.input_messages.1.message.role", "user"), _kv("llm.input_messages.1.message.content", q),
            _kv("llm.output_messages.0.message.role", "assistant"),
            _kv("llm.output_messages.0.message.tool_calls.0.tool_call.id", f"call_{t}"),
            _kv("llm.output_messages.0.message.tool_calls.0.tool_call.function.name", "lookup_account"),
            _kv("llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments", json.dumps({"user": f"user-{t % 313}"})),
            _kv("llm.token_count.prompt", pt), _kv("llm.token_count.completion", ct // 4),
            _kv("llm.token_count.total", pt + ct // 4)], status_err=error)
        span(3, ids[0], "lookup_account", 5 + rng.random() * 50, [
            _kv("openinference.span.kind", "TOOL"), _kv("tool.name", "lookup_account"),
            _kv("input.value", json.dumps({"user": f"user-{t % 313}"})), _kv("output.value", json.dumps({"plan": "annual", "status": "active"}))])
        span(4, ids[0], "ChatCompletion", 300 + rng.random() * 2000, [
            _kv("openinference.span.kind", "LLM"), _kv("llm.model_name", model), _kv("llm.provider", "openai"),
            _kv("llm.input_messages.0.message.role", "user"), _kv("llm.input_messages.0.message.content", q),
            _kv("llm.output_messages.0.message.role", "assistant"), _kv("llm.output_messages.0.message.content", answer),
            _kv("llm.token_count.prompt", pt), _kv("llm.token_count.completion", ct), _kv("llm.token_count.total", pt + ct)])
    else:
        span(0, None, "invoke_agent support", 900 + rng.random() * 3000, [
            _kv("gen_ai.operation.name", "invoke_agent"), _kv("gen_ai.agent.name", "support"),
            _kv("gen_ai.conversation.id", f"sess-{t % 997}"), _kv("user.id", f"user-{t % 313}")])
        span(1, ids[0], "retrieval kb", 20 + rng.random() * 80, [
            _kv("gen_ai.operation.name", "retrieval"), _kv("gen_ai.data_source.id", "kb"),
            _kv("gen_ai.retrieval.documents", json.dumps([{"id": f"doc-{k}", "content": d, "score": round(rng.random(), 4)} for k, d in enumerate(docs)]))])
        span(2, ids[0], f"chat {model}", 300 + rng.random() * 2000, [
            _kv("gen_ai.operation.name", "chat"), _kv("gen_ai.provider.name", "openai"), _kv("gen_ai.request.model", model),
            _kv("gen_ai.response.model", model), _kv("gen_ai.usage.input_tokens", pt), _kv("gen_ai.usage.output_tokens", ct // 4),
            _kv("gen_ai.input.messages", json.dumps([{"role": "system", "parts": [{"type": "text", "content": "You are a helpful support agent."}]},
                                                     {"role": "user", "parts": [{"type": "text", "content": q}]}])),
            _kv("gen_ai.output.messages", json.dumps([{"role": "assistant", "parts": [{"type": "tool_call", "id": f"call_{t}", "name": "lookup_account",
                                                                                       "arguments": {"user": f"user-{t % 313}"}}], "finish_reason": "tool_call"}]))],
             status_err=error)
        span(3, ids[0], "execute_tool lookup_account", 5 + rng.random() * 50, [
            _kv("gen_ai.operation.name", "execute_tool"), _kv("gen_ai.tool.name", "lookup_account"), _kv("gen_ai.tool.call.id", f"call_{t}"),
            _kv("gen_ai.tool.call.arguments", json.dumps({"user": f"user-{t % 313}"})), _kv("gen_ai.tool.call.result", json.dumps({"plan": "annual"}))])
        span(4, ids[0], f"chat {model}", 300 + rng.random() * 2000, [
            _kv("gen_ai.operation.name", "chat"), _kv("gen_ai.provider.name", "openai"), _kv("gen_ai.request.model", model),
            _kv("gen_ai.usage.input_tokens", pt), _kv("gen_ai.usage.output_tokens", ct),
            _kv("gen_ai.input.messages", json.dumps([{"role": "user", "parts": [{"type": "text", "content": q}]}])),
            _kv("gen_ai.output.messages", json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}]))])
    return spans


def documents(n_spans: int, seed: int = 0, per_export: int = SPANS_PER_LINE) -> Iterator[dict]:
    """``n_spans`` generated spans as OTLP/JSON exports of ``per_export`` spans each."""
    rng = random.Random(seed)
    t0 = 1_735_689_600_000_000_000
    buf: list[dict] = []
    t = 0
    written = 0
    while written < n_spans:
        spans = _trace_spans(rng, t, t0)[: n_spans - written]
        t += 1
        buf.extend(spans)
        written += len(spans)
        if len(buf) >= per_export or written >= n_spans:
            yield {"resourceSpans": [{"resource": {"attributes": [_kv("service.name", "support-bot")]},
                                      "scopeSpans": [{"scope": {"name": "bench"}, "spans": buf}]}]}
            buf = []


def generate(path: Path, n_spans: int, seed: int = 0) -> None:
    """Write ``n_spans`` spans of OTLP/JSON as JSONL (one export per line)."""
    with open(path, "w") as f:
        for doc in documents(n_spans, seed):
            f.write(json.dumps(doc, separators=(",", ":")) + "\n")


def generate_proto(folder: Path, n_spans: int, seed: int = 0, per_export: int = 512) -> None:
    """Write the same spans as OTLP protobuf exports of ``per_export`` spans (as the receiver gets
    them), one ``.pb`` file each."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, doc in enumerate(documents(n_spans, seed, per_export)):
        (folder / f"export_{i:06d}.pb").write_bytes(to_proto(doc).SerializeToString())


class _NotConvertible(ValueError):
    pass


def _any_value(pb: Any, v: Any) -> None:
    if not isinstance(v, dict):
        raise _NotConvertible(f"value {v!r}")
    if "stringValue" in v:
        pb.string_value = v["stringValue"]
    elif "intValue" in v:
        pb.int_value = int(v["intValue"])
    elif "doubleValue" in v:
        pb.double_value = float(v["doubleValue"])
    elif "boolValue" in v:
        pb.bool_value = bool(v["boolValue"])
    elif "arrayValue" in v:
        pb.array_value.SetInParent()
        for x in (v["arrayValue"] or {}).get("values") or []:
            _any_value(pb.array_value.values.add(), x)
    elif "kvlistValue" in v:
        pb.kvlist_value.SetInParent()
        for kv in (v["kvlistValue"] or {}).get("values") or []:
            item = pb.kvlist_value.values.add(key=kv["key"])
            _any_value(item.value, kv.get("value") or {})
    elif "bytesValue" in v:
        pb.bytes_value = base64.b64decode(v["bytesValue"], validate=True)
    elif v:
        raise _NotConvertible(f"value {v!r}")


def _attributes(target: Any, kvs: Any) -> None:
    if not isinstance(kvs, list):
        raise _NotConvertible("attributes")
    for kv in kvs:
        item = target.add(key=kv["key"])
        if kv.get("value") is not None:
            _any_value(item.value, kv["value"])


def _id(v: Any) -> bytes:
    if not v:
        return b""
    if not isinstance(v, str):
        raise _NotConvertible(f"id {v!r}")
    return bytes.fromhex(v)


def to_proto(doc: dict, strict: bool = True) -> Any:
    """An OTLP/JSON export as the protobuf ``ExportTraceServiceRequest`` (hex ids to bytes). A document
    using something the conversion does not know raises, or gives None when not ``strict``."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    try:
        for rs in doc["resourceSpans"]:
            prs = req.resource_spans.add()
            _attributes(prs.resource.attributes, (rs.get("resource") or {}).get("attributes") or [])
            for ss in rs.get("scopeSpans") or []:
                pss = prs.scope_spans.add()
                pss.scope.name = (ss.get("scope") or {}).get("name") or ""
                for sp in ss.get("spans") or []:
                    p = pss.spans.add(trace_id=_id(sp.get("traceId")), span_id=_id(sp.get("spanId")),
                                      parent_span_id=_id(sp.get("parentSpanId")), name=sp.get("name") or "",
                                      kind=int(sp.get("kind") or 0), start_time_unix_nano=int(sp.get("startTimeUnixNano") or 0),
                                      end_time_unix_nano=int(sp.get("endTimeUnixNano") or 0))
                    _attributes(p.attributes, sp.get("attributes") or [])
                    for e in sp.get("events") or []:
                        pe = p.events.add(name=e.get("name") or "", time_unix_nano=int(e.get("timeUnixNano") or 0))
                        _attributes(pe.attributes, e.get("attributes") or [])
                    st = sp.get("status") or {}
                    p.status.code = int(st.get("code") or 0)
                    p.status.message = st.get("message") or ""
    except (_NotConvertible, KeyError, TypeError, ValueError, AttributeError):
        if strict:
            raise
        return None
    return req


_CHILD = r'''
import gc, json, os, resource, sys, time
mode, path, store_dir = sys.argv[1], sys.argv[2], sys.argv[3]
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
import orjson, pandas as pd, pyarrow
import llmops_nb as lo
from llmops_nb.loaders import read_traces
from llmops_nb.store import Store
import llmops_nb.loaders._builtin, duckdb
gc.collect()
base = rss_mb()
t = time.perf_counter()
c = time.process_time()
out = {}
if mode == "floor":
    n = 0
    with open(path, "rb") as f:
        for line in f:
            doc = orjson.loads(line)
            n += sum(len(ss["spans"]) for rs in doc["resourceSpans"] for ss in rs["scopeSpans"])
    out["n"] = n
elif mode == "naive":
    frames = []
    with open(path) as f:
        for line in f:
            doc = json.loads(line)
            frames.append(pd.json_normalize(doc["resourceSpans"], record_path=["scopeSpans", "spans"]))
    df = pd.concat(frames, ignore_index=True)
    out["n"] = len(df)
elif mode == "jpy":
    df = read_traces(path)
    out["n"] = len(df)
elif mode == "read":
    df = read_traces(path)
    out["native"] = llmops_nb.loaders.otlp.native_available("json")
    out["compiled"] = not llmops_nb.loaders._otlp_fast.__file__.endswith(".py")  # this process's module (PYTHONPATH=ROOT)
    out["native_map"] = llmops_nb.loaders._otlp_fast.NATIVE_MAP is not None  # _map in C (_otlp_pb.map)
    out["seconds"] = time.perf_counter() - t
    out["cpu"] = time.process_time() - c
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    out["n"] = len(df)
    # the frame's real size: pandas' deep=True counts a dict or list cell as its shell only, so
    # nested values (messages, documents, attributes) are walked too, each object once
    seen = set()
    def size(v):
        if id(v) in seen:
            return 0
        seen.add(id(v))
        n = sys.getsizeof(v)
        if isinstance(v, dict):
            n += sum(size(k) + size(x) for k, x in v.items())
        elif isinstance(v, (list, tuple)):
            n += sum(size(x) for x in v)
        return n
    total = 0
    for c in df.columns:
        if df[c].dtype == object:
            total += 8 * len(df) + sum(size(v) for v in df[c].tolist())
        else:
            total += df[c].memory_usage(deep=True, index=False)
    out["frame_mb"] = total / 2**20
    print(json.dumps(out))
    sys.exit(0)
elif mode == "pfloor":
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    n = 0
    for name in sorted(os.listdir(path)):
        with open(os.path.join(path, name), "rb") as f:
            req = ExportTraceServiceRequest()
            req.ParseFromString(f.read())
        n += sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
    out["n"] = n
elif mode in ("pread", "ppy"):
    df = read_traces([os.path.join(path, name) for name in sorted(os.listdir(path))], workers=1)
    out["n"] = len(df)
    out["native"] = llmops_nb.loaders.otlp.native_available()
elif mode == "store":
    df = read_traces(path)
    Store(store_dir).add_spans(df)
    out["n"] = len(df)
elif mode == "query":
    s = Store(store_dir)
    s.sql("SELECT 1")
    t = time.perf_counter()
    c = time.process_time()
    q = s.sql("SELECT model, avg(CASE WHEN status = 'error' THEN 1.0 ELSE 0.0 END) AS error_rate, "
              "quantile_cont(latency_ms, 0.95) AS p95_latency_ms, count(*) AS n "
              "FROM spans WHERE kind = 'llm' GROUP BY model ORDER BY model")
    out["n"] = int(q["n"].sum())
out["seconds"] = time.perf_counter() - t
out["cpu"] = time.process_time() - c
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["peak_mb"] = peak - base
print(json.dumps(out))
'''


def _run(mode: str, path: Path, store_dir: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    if mode in ("ppy", "jpy"):
        env["LLMOPS_NB_NATIVE"] = "0"  # upb / orjson walked in Python, beside the native decoders
    p = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path), str(store_dir)], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def import_time(repeat: int = 5) -> float:
    """Best of ``repeat`` fresh-interpreter timings of ``import llmops_nb``."""
    code = "import time; t = time.perf_counter(); import llmops_nb; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return min(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env).stdout) for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated span counts")
    ap.add_argument("--dir", default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--skip-naive-above", type=int, default=1_000_000, help="skip the naive baseline above this size")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of floor/read/pfloor/pread per size; the least CPU time of each is kept (others' load only adds)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench_load_"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for n in sizes:
        f = work / f"otlp_{n}.jsonl"
        if not f.exists():
            t = time.perf_counter()
            generate(f, n)
            print(f"generated {n:,} spans ({f.stat().st_size / 2**20:.0f} MB) in {time.perf_counter() - t:.1f}s", flush=True)
        store_dir = work / f"store_{n}"
        if store_dir.exists():
            import shutil

            shutil.rmtree(store_dir)
        row = {"n": n, "mb": f.stat().st_size / 2**20}
        pb = work / f"otlp_{n}_pb"
        if not pb.exists():
            generate_proto(pb, n)
        # each floor run next to its read run (the load of a shared machine changes by the minute),
        # the least CPU time of the repeats kept for each
        for _ in range(max(1, args.repeat)):
            for mode in ("floor", "read", "jpy", "pfloor", "pread", "ppy"):
                r = _run(mode, pb if mode.startswith("p") else f, store_dir)
                if mode not in row or r["cpu"] < row[mode]["cpu"]:
                    row[mode] = r
        for mode in ("floor", "naive", "read", "jpy", "store", "query", "pfloor", "pread", "ppy"):
            if mode == "naive" and n > args.skip_naive_above:
                continue
            if mode not in row:
                row[mode] = _run(mode, f, store_dir)
            r = row[mode]
            print(f"  {n:>9,} {mode:<6} {r['seconds']:8.2f}s wall {r['cpu']:8.2f}s CPU  peak +{r['peak_mb']:8.0f} MB", flush=True)
        results.append(row)
    imp = import_time()
    compiled = all(r["read"].get("compiled") for r in results)
    native_map = all(r["read"].get("native_map") for r in results)

    print()
    print(f"{'spans':>10} {'file MB':>8} {'floor s':>8} {'naive s':>8} {'read s':>8} {'store s':>8} "
          f"{'spans/s e2e':>12} {'x floor':>8} {'peak MB':>8} {'frame MB':>9} {'peak/frame':>10} {'query s':>8}")
    ok_all = {}
    cpu_all: dict[int, tuple[float, float]] = {}
    for r in results:
        e2e = r["n"] / r["store"]["seconds"]
        xf = r["read"]["seconds"] / r["floor"]["seconds"]
        ratio = r["read"]["peak_mb"] / max(r["read"]["frame_mb"], 1e-9)
        naive = f"{r['naive']['seconds']:8.2f}" if "naive" in r else f"{'-':>8}"
        print(f"{r['n']:>10,} {r['mb']:>8.0f} {r['floor']['seconds']:>8.2f} {naive} {r['read']['seconds']:>8.2f} "
              f"{r['store']['seconds']:>8.2f} {e2e:>12,.0f} {xf:>8.1f} {r['read']['peak_mb']:>8.0f} {r['read']['frame_mb']:>9.0f} "
              f"{ratio:>10.1f} {r['query']['seconds']:>8.3f}")
        ok_all[r["n"]] = (e2e, xf, ratio, r["query"]["seconds"])
        cpu_rate = r["n"] / r["read"]["cpu"]
        cpu_xf = r["read"]["cpu"] / r["floor"]["cpu"]
        print(f"{'':>10} CPU time (one core; wall time is noisy on a shared machine): orjson floor {r['floor']['cpu']:.2f}s")
        for mode, label in (("read", "native decoder" if r["read"].get("native") else "native decoder NOT BUILT, orjson"),
                            ("jpy", "orjson walked in Python (LLMOPS_NB_NATIVE=0)")):
            x = r[mode]["cpu"]
            print(f"{'':>10}   read, {label}: {x:.2f}s = {r['n'] / x:,.0f} spans/s per core, {x / r['floor']['cpu']:.1f}x floor")
        cpu_all[r["n"]] = (cpu_rate, cpu_xf)
        p_rate = r["n"] / r["pread"]["cpu"]
        p_xf = r["pread"]["cpu"] / r["pfloor"]["cpu"]
        print(f"{'':>10} protobuf, exports of 512 spans (CPU time): ParseFromString floor {r['pfloor']['cpu']:.2f}s, "
              f"orjson floor of the same spans as JSON {r['floor']['cpu']:.2f}s")
        for mode, label in (("pread", "native decoder" if r["pread"].get("native") else "native decoder NOT BUILT, upb"),
                            ("ppy", "upb walked in Python (LLMOPS_NB_NATIVE=0)")):
            x = r[mode]["cpu"]
            print(f"{'':>10}   read, {label}: {x:.2f}s = {r['n'] / x:,.0f} spans/s per core, "
                  f"{x / r['pfloor']['cpu']:.1f}x ParseFromString, {x / r['floor']['cpu']:.1f}x orjson floor")
        cpu_all[-r["n"]] = (p_rate, p_xf)
        cpu_all[-r["n"] - 1] = (p_rate, r["pread"]["cpu"] / r["floor"]["cpu"])
    biggest = max(ok_all)
    e2e, xf, ratio, q = ok_all[biggest]
    print()
    print("OTLP mapping: " + ("compiled with mypyc (LLMOPS_NB_COMPILE=1 install)" if compiled else
                              "plain Python (LLMOPS_NB_COMPILE=1 pip install -e . compiles it, about 1.5x faster)")
          + ("; per-span _map in C (native map, off with LLMOPS_NB_NATIVE=0)" if native_map else "; per-span _map in Python"))
    print(f"targets (at {biggest:,} spans):")
    cpu_rate, cpu_xf = cpu_all[biggest]
    p_rate, p_xf = cpu_all[-biggest]
    p_xjf = cpu_all[-biggest - 1][1]
    checks = [
        (">= 100,000 spans/s per core, file -> DataFrame (CPU time)", f"{cpu_rate:,.0f} spans/s", cpu_rate >= 100_000),
        ("file -> DataFrame within 3x of the parse floor (CPU time)", f"{cpu_xf:.1f}x", cpu_xf <= 3),
        (">= 100,000 spans/s per core, protobuf exports -> DataFrame (CPU time)", f"{p_rate:,.0f} spans/s", p_rate >= 100_000),
        ("protobuf exports -> DataFrame within 3x of the orjson floor of the same spans (CPU time)", f"{p_xjf:.1f}x",
         p_xjf <= 3),
        (">= 100,000 spans/s end to end (file -> store)", f"{e2e:,.0f} spans/s", e2e >= 100_000),
        ("file -> DataFrame within 3x of the parse floor", f"{xf:.1f}x", xf <= 3),
        ("peak memory <= 2x the final DataFrame", f"{ratio:.1f}x", ratio <= 2),
        ("error rate + p95 latency by model < 1 s" + ("" if biggest >= 1_000_000 else " (measured below 1M spans)"),
         f"{q:.3f} s", q < 1),
        ("import llmops_nb < 0.3 s", f"{imp:.3f} s", imp < 0.3),
    ]
    for label, value, ok in checks:
        print(f"  [{'met' if ok else 'MISSED'}] {label}: {value}")
    # not a target: upb parses lazily and builds nothing (about 0.6 us a span), so no mapping that
    # builds a frame comes within 3x of it; the floor protobuf is held to is orjson's, as for JSON
    print(f"  [info] protobuf exports -> DataFrame vs the ParseFromString floor (CPU time): {p_xf:.1f}x "
          "(upb parses lazily and builds no objects: not a floor a frame-building mapping can approach)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
