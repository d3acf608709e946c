"""Benchmarks of llmops_nb.evals: the judge runner, rate limits, the cache and rule checks.

Run: ``.venv/bin/python benchmarks/bench_evaluate.py`` (``--quick`` for a shorter run).
Prints each figure beside its target; baselines (the ideal, litellm alone) are measured in the
same run against a local OpenAI-compatible server (FakeLLMServer) on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
for _k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_k, "1")

import pandas as pd  # noqa: E402

import llmops_nb as lo  # noqa: E402
from llmops_nb.evals import PII, IsJSON, LLMJudge, Regex  # noqa: E402
from llmops_nb.llm import Runner  # noqa: E402
from llmops_nb.testing import FakeLLMServer, FaultConfig  # noqa: E402

MODEL = "openai/bench-judge"


def responder(req):
    text = req["messages"][-1]["content"]
    return json.dumps({"reasoning": "checked", "answer": "pass" if "ok" in text[-300:] else "fail"})


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = random.Random(seed)
    return pd.DataFrame({
        "trace_id": [f"t{i:07d}" for i in range(n)],
        "span_id": [f"s{i:07d}" for i in range(n)],
        "input_text": [f"Question {i}: where is order {rng.randint(1000, 9999)}?" for i in range(n)],
        "output_text": [f"Answer {i}: it shipped {'ok' if rng.random() < 0.8 else 'late'}." for i in range(n)],
    })


def judge(srv) -> LLMJudge:
    return LLMJudge("Does the answer say the order is ok?", model=MODEL, api_base=srv.url, api_key="x")


def cpu_wall(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def litellm_alone(srv, rows: pd.DataFrame, concurrency: int) -> tuple[float, float]:
    """litellm.acompletion with a semaphore and the same prompts: (cpu s, wall s)."""
    import litellm

    j = judge(srv)
    calls = [j.call(j.messages(r)) for r in rows.to_dict("records")]

    async def go():
        sem = asyncio.Semaphore(concurrency)

        async def one(c):
            async with sem:
                p = {k: v for k, v in c.params.items()}
                r = await litellm.acompletion(model=c.model, messages=c.messages, num_retries=0, **p)
                return r.choices[0].message.content

        return await asyncio.gather(*(one(c) for c in calls))

    _, cpu, wall = cpu_wall(lambda: asyncio.run(go()))
    return cpu, wall


def bench_throughput(quick: bool) -> None:
    print("\n== judge runner throughput, server latency 200 ms ==")
    print(f"{'concurrency':>11} {'rows':>5} {'rows/s':>8} {'ideal':>7} {'% ideal':>8} {'litellm rows/s':>15} "
          f"{'runner CPU ms/row':>18} {'litellm CPU ms/row':>19} {'overhead ms/row':>16}")
    with FakeLLMServer(responder=responder, latency_ms=200) as srv:
        warm = frame(8, seed=99)
        litellm_alone(srv, warm, 8)
        for c in (1, 8, 32, 64):
            n = max(10, c * (3 if quick else 6))
            rows = frame(n, seed=c)
            lcpu, lwall = litellm_alone(srv, rows, c)
            rows2 = frame(n, seed=c + 1000)  # fresh prompts: no cache hits
            with tempfile.TemporaryDirectory() as d:
                res, cpu, wall = cpu_wall(lambda rows2=rows2, c=c, d=d: lo.evaluate(
                    rows2, judge(srv), concurrency=c, progress=False, cache=os.path.join(d, "c.sqlite")))
            assert res["error"].isna().all(), res["error"].dropna().head()
            ideal = c / 0.2
            print(f"{c:>11} {n:>5} {n / wall:>8.1f} {ideal:>7.1f} {100 * n / wall / ideal:>7.0f}% {n / lwall:>15.1f} "
                  f"{1000 * cpu / n:>18.2f} {1000 * lcpu / n:>19.2f} {1000 * (cpu - lcpu) / n:>16.2f}")
    print("targets: >= 80% of ideal until litellm's own CPU per call is the limit (compare litellm rows/s); "
          "runner overhead < 2 ms CPU per row beyond litellm's")


def bench_rate_limit(quick: bool) -> None:
    seconds = 20 if quick else 60
    print(f"\n== server enforcing 600 requests/min with 429s ({seconds} s run) ==")
    n = 10 * seconds
    rows = frame(n, seed=5)
    with FakeLLMServer(responder=responder, latency_ms=50, faults=FaultConfig(requests_per_minute=600)) as srv:
        runner = Runner(concurrency=32, requests_per_minute=600, cache=False)
        res, _, wall = cpu_wall(lambda: lo.evaluate(rows, judge(srv), runner=runner, progress=False))
        lost = int(res["error"].notna().sum()) + (n - len(res))
        print(f"paced runner (requests_per_minute=600): {n} rows in {wall:.1f} s = {60 * n / wall:.0f} req/min "
              f"({100 * (n / wall) / 10:.0f}% of the limit); 429s seen: {srv.status_counts[429]}; rows lost: {lost}")
    if not quick:
        n2 = 720
        rows2 = frame(n2, seed=6)
        with FakeLLMServer(responder=responder, latency_ms=50, faults=FaultConfig(requests_per_minute=600)) as srv:
            runner = Runner(concurrency=32, cache=False)  # no client-side limit: only 429s + Retry-After
            res, _, wall = cpu_wall(lambda: lo.evaluate(rows2, judge(srv), runner=runner, progress=False))
            lost = int(res["error"].notna().sum()) + (n2 - len(res))
            print(f"unpaced runner (429 + Retry-After only): {n2} rows in {wall:.1f} s; 429s: "
                  f"{srv.status_counts[429]}; rows lost: {lost} (the server admits 600 per rolling minute)")
    print("targets: >= 90% of the limit sustained, zero rows lost")


def bench_cache(quick: bool) -> None:
    n = 2_000 if quick else 10_000
    print(f"\n== cached rerun of {n:,} judged rows ==")
    rows = frame(n, seed=11)
    with tempfile.TemporaryDirectory() as d, FakeLLMServer(responder=responder) as srv:
        path = os.path.join(d, "c.sqlite")
        _, _, wall1 = cpu_wall(lambda: lo.evaluate(rows, judge(srv), concurrency=64, progress=False, cache=path))
        calls = sum(srv.status_counts.values())
        res, cpu2, wall2 = cpu_wall(lambda: lo.evaluate(rows, judge(srv), concurrency=64, progress=False, cache=path))
        again = sum(srv.status_counts.values()) - calls
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"first run: {n / wall1:,.0f} rows/s ({calls:,} server calls); cached rerun: {n / wall2:,.0f} rows/s "
              f"({n / cpu2:,.0f} rows per CPU second; load average {load:.1f} on {os.cpu_count()} cores), "
              f"server calls = {again}, cost = ${res['cost_usd'].sum():.4f}")
    print("targets: >= 5,000 rows/s, zero server calls")


def bench_rules(quick: bool) -> None:
    n = 200_000 if quick else 1_000_000
    print(f"\n== rule checks over {n:,} rows (regex, JSON, PII) ==")
    rng = random.Random(3)
    pii = ["mail me at jo.smith@corp.io", "card 4111 1111 1111 1111", "call +1 415 555 0132", "IBAN DE89370400440532013000",
           "ip 10.1.2.3", "key sk-proj-Abcdefghijklmnop1234567890"]
    outs = []
    for i in range(n):
        r = rng.random()
        if r < 0.1:
            outs.append(json.dumps({"order": i, "status": "shipped"}))
        elif r < 0.15:
            outs.append(f"Sure, {rng.choice(pii)} for order {i}.")
        else:
            outs.append(f"Your order {i} shipped on day {i % 28 + 1} and should arrive within 3 to 5 business days.")
    df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(n)], "span_id": [f"s{i}" for i in range(n)],
                       "output_text": outs})
    evs = [Regex(r"order \d+"), IsJSON(), PII()]
    res, cpu, wall = cpu_wall(lambda: lo.evaluate(df, evs, cache=False, progress=False))
    per = {}
    for ev in evs:
        _, _, w = cpu_wall(lambda ev=ev: ev.evaluate_batch(df))
        per[ev.evaluation_name] = w
    assert len(res) == 3 * n
    print(f"evaluate() with 3 rule checks: {wall:.1f} s wall, {cpu:.1f} s CPU ({3 * n / wall:,.0f} result rows/s); "
          "check alone: " + ", ".join(f"{k} {v:.2f} s" for k, v in per.items()))
    if quick:
        print(f"(extrapolated to 1M rows: {wall * 1_000_000 / n:.1f} s wall, {cpu * 1_000_000 / n:.1f} s CPU)")
    print("target: under 10 s for 1M rows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller runs (about 1 minute)")
    ap.add_argument("--only", choices=["throughput", "rate", "cache", "rules"], default=None)
    args = ap.parse_args()
    import litellm

    litellm.register_model({MODEL: {"input_cost_per_token": 1e-7, "output_cost_per_token": 4e-7,
                                    "litellm_provider": "openai", "mode": "chat"}})
    litellm.suppress_debug_info = True
    steps = {"throughput": bench_throughput, "rate": bench_rate_limit, "cache": bench_cache, "rules": bench_rules}
    for name, fn in steps.items():
        if args.only in (None, name):
            fn(args.quick)


if __name__ == "__main__":
    main()
