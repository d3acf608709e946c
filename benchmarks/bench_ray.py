"""Benchmark: the heavy verbs on Ray with 1 and 2 workers on this machine, beside one process.

For each of 1 and 2 Ray worker CPUs (``ray.init(num_cpus=n)``, one node) and for ``engine="local"``
in the same run:

- load: ``read_traces(files, engine=...)`` of OTLP/JSON files written by ``bench_load.py``'s
  generator (spans/s);
- judge: ``evaluate(frame, LLMJudge(...), engine=...)`` against a fake OpenAI-compatible server in
  its own process, 50 ms latency, no cache (rows/s);
- slices: ``find_slices(frame, outcome, columns="all", engine=...)`` (rows/s).

Prints each rate per wall-clock second and per CPU second (CPU time of this process and of the
Ray runtime it started: GCS, raylet, workers; the fake server left out), the scaling from 1 to 2
workers, then the estimate of CPUs for 1 billion spans loaded, 10 million judged and 1 billion
sliced in one hour, from the per-CPU-second rates of the 2-worker run. This machine has 2 cores
shared with other work: wall-clock scaling is a floor; the per-CPU-second rates do not depend on
how busy the machine is.

Usage: ``nice .venv/bin/python benchmarks/bench_ray.py [--spans 200000] [--judged 600] [--sliced 200000]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
for _k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_k, "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load import generate  # noqa: E402  (the OTLP/JSON generator)

import llmops_nb as lo  # noqa: E402
from llmops_nb.evals import LLMJudge  # noqa: E402

MODEL = "openai/bench-ray-judge"
LATENCY_S = 0.05


def judge_responder(req):
    text = req["messages"][-1]["content"]
    return json.dumps({"reasoning": "checked", "answer": "pass" if "ok" in text[-300:] else "fail"})


def serve(conn, latency_ms: float) -> None:
    """The fake judge server's own process (so it takes no CPU from the driver's interpreter)."""
    from llmops_nb.testing import FakeLLMServer

    with FakeLLMServer(responder=judge_responder, latency_ms=latency_ms) as srv:
        conn.send(srv.url)
        conn.recv()  # until told to stop


class ServerProcess:
    def __init__(self, latency_s: float) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, latency_s * 1000), daemon=True, name="fake-judge")
        self.proc.start()
        self.url = self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()


def judge_frame(n: int) -> pd.DataFrame:
    return lo.read_traces([{"trace_id": f"t{i:07d}", "span_id": f"s{i:07d}", "kind": "llm",
                            "input_text": f"question {i}?", "output_text": f"answer {i} {'ok' if i % 3 else 'no'}"}
                           for i in range(n)], format="records")


def slice_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenant = rng.choice([f"tenant-{i}" for i in range(12)], n)
    channel = rng.choice(["email", "chat", "voice", "api"], n)
    model = rng.choice(["gpt-4o-mini", "gpt-4o", "claude", "gemini"], n)
    df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(n)], "model": model,
                       "metadata": [{"tenant": t, "channel": c} for t, c in zip(tenant, channel)],
                       "latency_ms": rng.gamma(2.0, 300.0, n), "total_tokens": rng.integers(50, 4000, n)})
    p = 0.05 + 0.2 * (tenant == "tenant-3") + 0.1 * ((channel == "voice") & (model == "claude"))
    df["failed"] = rng.random(n) < p
    return df


_CPU: dict[int, float] = {}


def cpu_seconds(skip: int) -> float:
    """CPU seconds used so far by this process and its descendants (the Ray runtime it started:
    GCS, raylet, workers), the fake server (pid ``skip``) left out. A process that ended keeps
    the last figure seen."""
    import psutil

    me = psutil.Process()
    for p in [me, *me.children(recursive=True)]:
        if p.pid == skip:
            continue
        try:
            t = p.cpu_times()
            _CPU[p.pid] = t.user + t.system
        except psutil.Error:
            pass
    return sum(_CPU.values())


def timed(fn, skip: int):
    c0, t0 = cpu_seconds(skip), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, cpu_seconds(skip) - c0, out


def run(engine, files, jframe, sframe, srv) -> dict[str, float]:
    """One engine: spans loaded, rows judged and rows sliced per wall-clock second, and per CPU
    second (this process and the Ray runtime's, so the figure holds however busy the machine is)."""
    out: dict[str, float] = {}
    skip = srv.proc.pid
    t, c, spans = timed(lambda: lo.read_traces(files, engine=engine, workers=1), skip)
    out["load"], out["load_cpu"] = len(spans) / t, len(spans) / c
    judge = LLMJudge("Does the answer say ok?", model=MODEL, api_base=srv.url, api_key="x")
    t, c, res = timed(lambda: lo.evaluate(jframe, judge, engine=engine, cache=False, concurrency=32,
                                          progress=False), skip)
    assert res["error"].isna().all(), res["error"].dropna().head()
    out["judge"], out["judge_cpu"] = len(jframe) / t, len(jframe) / c
    t, c, _ = timed(lambda: lo.find_slices(sframe, outcome="failed", columns="all", engine=engine), skip)
    out["slices"], out["slices_cpu"] = len(sframe) / t, len(sframe) / c
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--judged", type=int, default=600)
    ap.add_argument("--sliced", type=int, default=200_000)
    a = ap.parse_args(argv)
    import ray

    tmp = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    files = []
    for i in range(a.files):
        f = tmp / f"spans-{i}.jsonl"
        generate(f, a.spans // a.files, seed=i)
        files.append(str(f))
    import litellm

    litellm.register_model({MODEL: {"input_cost_per_token": 1e-7, "output_cost_per_token": 4e-7,
                                    "litellm_provider": "openai", "mode": "chat"}})
    jframe = judge_frame(a.judged)
    sframe = slice_frame(a.sliced)
    srv = ServerProcess(LATENCY_S)
    rows: dict[str, dict[str, float]] = {}
    try:
        run("local", files[:2], jframe.head(64), sframe.head(5000), srv)  # imports and first calls, as below
        rows["local (1 process)"] = run("local", files, jframe, sframe, srv)
        for n in (1, 2):
            with lo.engine("ray", num_cpus=n, log_to_driver=False) as eng:
                run(eng, files[:2], jframe.head(64), sframe.head(5000), srv)  # warm the workers up
                rows[f"ray, {n} worker(s)"] = run(eng, files, jframe, sframe, srv)
            ray.shutdown()
    finally:
        srv.stop()
    print(f"\nRay on this machine ({os.cpu_count()} cores, shared): {a.spans:,} spans in {a.files} files loaded, "
          f"{a.judged:,} rows judged (fake server, {LATENCY_S * 1000:.0f} ms), {a.sliced:,} rows sliced\n")
    print(f"{'engine':<20} {'load spans/s':>14} {'per CPU s':>10} {'judge rows/s':>13} {'per CPU s':>10} "
          f"{'slice rows/s':>13} {'per CPU s':>10}")
    for name, r in rows.items():
        print(f"{name:<20} {r['load']:>14,.0f} {r['load_cpu']:>10,.0f} {r['judge']:>13,.1f} {r['judge_cpu']:>10,.1f} "
              f"{r['slices']:>13,.0f} {r['slices_cpu']:>10,.0f}")
    one, two = rows["ray, 1 worker(s)"], rows["ray, 2 worker(s)"]
    print(f"\nload average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("scaling of wall-clock rates 1 -> 2 workers: "
          + ", ".join(f"{k} x{two[k] / one[k]:.2f}" for k in ("load", "judge", "slices")))
    per_cpu = {k: two[f"{k}_cpu"] for k in ("load", "judge", "slices")}
    print("per CPU second, 2-worker run (driver + Ray runtime + workers): "
          + ", ".join(f"{k} {v:,.1f}/s" for k, v in per_cpu.items()))
    print("\nestimate for one hour (CPUs = items / (per-CPU-second rate x 3600 s)):")
    for k, total, what in (("load", 1e9, "spans loaded"), ("judge", 1e7, "rows judged"), ("slices", 1e9, "rows sliced")):
        cpus = total / (per_cpu[k] * 3600)
        print(f"  {total:,.0f} {what}: {total:,.0f} / ({per_cpu[k]:,.1f} x 3600) = {cpus:,.1f} CPUs "
              f"(or {cpus:,.1f} hours on one)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
