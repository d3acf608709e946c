"""Benchmark of lo.facets: traces through a local OpenAI-compatible fake server at concurrency 32.

Run: ``.venv/bin/python benchmarks/bench_facets.py`` (10,000 traces; ``--n 500`` for a short run).
Prints the runner's throughput beside the server's ideal (concurrency / server latency), both
measured in this run, and the calls a cached rerun makes (target: zero).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
for _k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_k, "1")

import pandas as pd  # noqa: E402

import llmops_nb as lo  # noqa: E402
from llmops_nb.llm import Runner  # noqa: E402
from llmops_nb.testing import FakeLLMServer  # noqa: E402

MODEL = "openai/bench-facets"
LATENCY_S = 0.2


def responder(req):
    text = req["messages"][-1]["content"]
    failed = "sorry" in text.lower()
    return json.dumps({"task": "track an order", "failure": "The order lookup fails with OrderNotFound." if failed
                       else "none", "intent": "shipping", "language": "en", "sentiment": "neutral"})


def traces(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "trace_id": [f"t{i:07d}" for i in range(n)],
        "input_text": [f"Where is my order ORD-{4_800_000 + i}?" for i in range(n)],
        "output_text": ["Sorry, I could not find that order." if i % 4 == 0 else f"Order {i} ships tomorrow."
                        for i in range(n)],
    })


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=32)
    a = ap.parse_args()
    df = traces(a.n)
    print(f"== lo.facets over {a.n:,} traces, concurrency {a.concurrency}, server latency {LATENCY_S * 1000:.0f} ms ==")
    with tempfile.TemporaryDirectory() as d, FakeLLMServer(responder=responder, latency_ms=LATENCY_S * 1000) as srv:
        cache = os.path.join(d, "calls.sqlite")
        runner = Runner(concurrency=a.concurrency, cache=cache)
        kw = {"api_base": srv.url, "api_key": "x"}
        warm = traces(16).assign(trace_id=lambda f: "warm-" + f["trace_id"], input_text=lambda f: "warm " + f["input_text"])
        lo.facets(warm, model=MODEL, runner=Runner(concurrency=a.concurrency, cache=False), progress=False, **kw)
        srv.status_counts.clear()  # litellm imported and connections open before timing
        t0, c0 = time.perf_counter(), time.process_time()
        rows = lo.facets(df, model=MODEL, runner=runner, progress=False, **kw)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        errors = int(rows["error"].notna().sum())
        ideal = a.concurrency / LATENCY_S
        print(f"first run: {a.n / wall:,.1f} traces/s vs ideal {ideal:,.1f} ({100 * a.n / wall / ideal:.0f}% of ideal); "
              f"{1000 * cpu / a.n:.2f} ms CPU per trace; {len(rows):,} result rows, {errors} errors; "
              f"server calls {srv.calls:,}")
        before = srv.calls
        t0 = time.perf_counter()
        again = lo.facets(df, model=MODEL, runner=Runner(concurrency=a.concurrency, cache=cache), progress=False, **kw)
        wall2 = time.perf_counter() - t0
        same = lo.facet_table(again).equals(lo.facet_table(rows))
        print(f"cached rerun: {srv.calls - before} server calls (target 0) in {wall2:.1f} s; same answers: {same}")


if __name__ == "__main__":
    main()
