"""Benchmark of lo.facets: traces through a local OpenAI-compatible fake server at concurrency 32.

The fake server runs in its own process (so its work is not counted as the runner's CPU), with a
fixed latency. Printed, all measured in this run:

- the server's ideal throughput (concurrency / latency) and what a minimal client (raw aiohttp
  POSTs, no LLM library) gets from it: the ceiling the server allows on this machine;
- plain ``litellm.acompletion`` calls at the same concurrency (the same prompts): the floor of
  the LLM library every call goes through, throughput and CPU per call;
- ``lo.facets`` (prompts, the shared runner with its on-disk cache, budget and retries, result
  rows): traces per second, CPU per trace, errors, server calls;
- a cached rerun: the calls it makes (target: zero), its time, and whether the answers are the same.

Run: ``.venv/bin/python benchmarks/bench_facets.py`` (10,000 traces; ``--n 500`` for a short run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import tempfile
import time
import warnings

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
for _k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_k, "1")

import pandas as pd  # noqa: E402

MODEL = "openai/bench-facets"
LATENCY_S = 0.2


def responder(req):
    text = req["messages"][-1]["content"]
    failed = "sorry" in text.lower()
    return json.dumps({"task": "track an order", "failure": "The order lookup fails with OrderNotFound." if failed
                       else "none", "intent": "shipping", "language": "en", "sentiment": "neutral"})


def serve(conn, latency_ms: float) -> None:
    """The fake server's process: answers requests until told to stop; reports its call count."""
    from llmops_nb.testing import FakeLLMServer

    with FakeLLMServer(responder=responder, latency_ms=latency_ms) as srv:
        srv.requests = _Discard()  # keep no request bodies (10k prompts)
        conn.send(srv.url)
        while True:
            cmd = conn.recv()
            if cmd == "calls":
                conn.send(srv.calls)
            elif cmd == "clear":
                srv.status_counts.clear()
                conn.send(True)
            else:
                break


class _Discard(list):
    def append(self, _x) -> None:  # noqa: D401
        return None


class ServerProcess:
    def __init__(self, latency_s: float) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=serve, args=(child, latency_s * 1000), daemon=True, name="fake-llm-server")
        self.proc.start()
        self.url = self.conn.recv()

    @property
    def calls(self) -> int:
        self.conn.send("calls")
        return int(self.conn.recv())

    def clear(self) -> None:
        self.conn.send("clear")
        self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()


def traces(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "trace_id": [f"t{i:07d}" for i in range(n)],
        "input_text": [f"Where is my order ORD-{4_800_000 + i}?" for i in range(n)],
        "output_text": ["Sorry, I could not find that order." if i % 4 == 0 else f"Order {i} ships tomorrow."
                        for i in range(n)],
    })


def prompts(df: pd.DataFrame) -> list[str]:
    from llmops_nb.analysis._facets import DEFAULT_FACETS, facet_prompt

    return [facet_prompt(DEFAULT_FACETS, f"<input>\n{q}\n</input>\n<output>\n{a}\n</output>")
            for q, a in zip(df["input_text"], df["output_text"])]


async def raw_client(url: str, texts: list[str], concurrency: int) -> None:
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        async def one(t: str) -> None:
            async with sem, s.post(f"{url}/chat/completions", json={
                    "model": "bench", "messages": [{"role": "user", "content": t}]}) as r:
                await r.read()

        await asyncio.gather(*[one(t) for t in texts])


async def plain_litellm(url: str, texts: list[str], concurrency: int) -> None:
    import litellm

    sem = asyncio.Semaphore(concurrency)

    async def one(t: str) -> None:
        async with sem:
            await litellm.acompletion(model=MODEL, messages=[{"role": "user", "content": t}], api_base=url,
                                      api_key="x", num_retries=0, max_retries=0)

    await asyncio.gather(*[one(t) for t in texts])


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--floor-n", type=int, default=None, help="calls for the raw-client and plain-litellm rows "
                    "(default: n / 5, at least 200)")
    a = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*has no price in litellm's price map.*")
    import llmops_nb as lo
    from llmops_nb.llm import Runner

    df = traces(a.n)
    m = a.floor_n or max(200, a.n // 5)
    ideal = a.concurrency / LATENCY_S
    print(f"== lo.facets over {a.n:,} traces, concurrency {a.concurrency}, server latency {LATENCY_S * 1000:.0f} ms, "
          f"fake server in its own process; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores ==")
    srv = ServerProcess(LATENCY_S)
    try:
        kw = {"api_base": srv.url, "api_key": "x"}
        warm = traces(40).assign(trace_id=lambda f: "warm-" + f["trace_id"], input_text=lambda f: "warm " + f["input_text"])
        lo.facets(warm, model=MODEL, runner=Runner(concurrency=a.concurrency, cache=False), progress=False, **kw)
        asyncio.run(plain_litellm(srv.url, prompts(warm), a.concurrency))  # imports and connections before timing

        texts = prompts(traces(m).assign(input_text=lambda f: "floor " + f["input_text"]))
        _, w_raw, _ = timed(lambda: asyncio.run(raw_client(srv.url, texts, a.concurrency)))
        _, w_lit, c_lit = timed(lambda: asyncio.run(plain_litellm(srv.url, texts, a.concurrency)))
        print(f"server ideal (concurrency / latency)      {ideal:8.1f} calls/s")
        print(f"minimal client (raw aiohttp), {m:,} calls  {m / w_raw:8.1f} calls/s")
        print(f"plain litellm.acompletion, {m:,} calls     {m / w_lit:8.1f} calls/s   {1000 * c_lit / m:6.2f} ms CPU per call")

        with tempfile.TemporaryDirectory() as d:
            cache = os.path.join(d, "calls.sqlite")
            srv.clear()
            rows, wall, cpu = timed(lambda: lo.facets(df, model=MODEL, runner=Runner(concurrency=a.concurrency, cache=cache),
                                                      progress=False, **kw))
            calls = srv.calls
            errors = int(rows["error"].notna().sum())
            print(f"lo.facets, {a.n:,} traces                  {a.n / wall:8.1f} traces/s {1000 * cpu / a.n:6.2f} ms CPU per "
                  f"trace ({100 * a.n / wall / ideal:.0f}% of ideal); {len(rows):,} result rows, {errors} errors; "
                  f"server calls {calls:,}")
            again, wall2, cpu2 = timed(lambda: lo.facets(df, model=MODEL, runner=Runner(concurrency=a.concurrency, cache=cache),
                                                         progress=False, **kw))
            same = lo.facet_table(again).equals(lo.facet_table(rows))
            print(f"cached rerun: {srv.calls - calls} server calls (target 0) in {wall2:.1f} s "
                  f"({1000 * cpu2 / a.n:.2f} ms CPU per trace); same answers: {same}")
    finally:
        srv.stop()


if __name__ == "__main__":
    main()
