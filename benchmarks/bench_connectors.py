"""Benchmark: pull N spans (default 100,000) from a local Phoenix server into the store, and in
the same run time Phoenix's own ``Client().spans.get_spans_dataframe`` for the same spans.

Needs the Phoenix peer venv (``bash benchmarks/setup_peers.sh``). The loaded Phoenix working
dir is kept under ``.cache/bench-phoenix-<N>`` so a rerun skips the (slow) loading.

    .venv/bin/python benchmarks/bench_connectors.py [--spans 100000] [--annotations]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = ROOT / ".cache" / "phoenix-venv" / "bin" / "python"
PEERS = ROOT / "benchmarks" / "connectors_peers.py"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _count(url: str, project: str) -> int:
    import base64

    try:
        with urllib.request.urlopen(f"{url}/v1/projects/{project}/spans?limit=1&sort=id&order=desc", timeout=10) as r:
            data = json.loads(r.read())["data"]
        return int(base64.b64decode(data[0]["id"]).decode().split(":")[1]) if data else 0
    except OSError:
        return 0


def _up(url: str, proc: subprocess.Popen, timeout: float = 900) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"phoenix serve exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"Phoenix did not start in {timeout}s")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spans", type=int, default=100_000)
    ap.add_argument("--per-trace", type=int, default=5)
    ap.add_argument("--annotations", action="store_true", help="also fetch span annotations in the pull")
    ap.add_argument("--repeat", type=int, default=2, help="alternating runs of each; the best is reported")
    args = ap.parse_args()
    if not PY.exists():
        print(f"the Phoenix peer venv {PY.parent.parent} is absent; run `bash benchmarks/setup_peers.sh`")
        return 2
    import llmops_nb as lo

    n_traces = args.spans // args.per_trace
    n = n_traces * args.per_trace
    work = ROOT / ".cache" / f"bench-phoenix-{n}"
    port = _port()
    env = {**os.environ, "PHOENIX_WORKING_DIR": str(work), "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(port),
           "PHOENIX_GRPC_PORT": str(_port()), "PHOENIX_TELEMETRY_ENABLED": "false"}
    proc = subprocess.Popen([str(PY.parent / "phoenix"), "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _up(url, proc)
        have = _count(url, "bench")
        if have < n:
            if have:
                proc.terminate()
                proc.wait(30)
                shutil.rmtree(work)
                proc = subprocess.Popen([str(PY.parent / "phoenix"), "serve"], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                _up(url, proc)
            t0 = time.perf_counter()
            subprocess.run([str(PY), str(PEERS), "phoenix-send", url, "bench", str(n_traces), str(args.per_trace)],
                           env=env, check=True)
            print(f"loaded {n:,} spans into Phoenix (its own OTel client) in {time.perf_counter() - t0:.1f}s")
        print(f"Phoenix holds {_count(url, 'bench'):,} spans in project 'bench'")

        # library imports are outside both timings (Phoenix's export is timed after its import):
        # read_traces imports its lazy dependencies on first use
        lo.read_traces([], format="phoenix")
        pulls, exports = [], []
        for rep in range(args.repeat):  # alternate, so a load spike from other jobs hits both
            store = lo.Store(tempfile.mkdtemp(prefix="bench-connectors-"))
            t0 = time.perf_counter()
            r = lo.pull("phoenix", url=url, project="bench", store=store, progress=False,
                        filters=None if args.annotations else {"annotations": False})
            pulls.append(time.perf_counter() - t0)
            assert r.complete and r.spans_fetched == n, r
            assert len(store.spans()) == n
            shutil.rmtree(store.path, ignore_errors=True)
            out = Path(tempfile.mkdtemp()) / "phoenix.parquet"
            res = subprocess.run([str(PY), str(PEERS), "phoenix-export", url, "bench", str(out)], env=env,
                                 check=True, capture_output=True, text=True)
            ph = json.loads(res.stdout.strip().splitlines()[-1])
            assert ph["rows"] == n
            exports.append(ph["seconds"])
            print(f"run {rep + 1}: pull {pulls[-1]:.2f}s, phoenix export {exports[-1]:.2f}s")
        pull_s, ph["seconds"] = min(pulls), min(exports)
        print(f"llmops_nb pull (Arrow time windows -> phoenix loader -> store, annotations "
              f"{'on' if args.annotations else 'off'}): {n:,} spans in {pull_s:.2f}s "
              f"({n / pull_s:,.0f} spans/s; {r.requests} requests)")
        print(f"phoenix Client().spans.get_spans_dataframe: {ph['rows']:,} spans in {ph['seconds']:.2f}s "
              f"({ph['rows'] / ph['seconds']:,.0f} spans/s; DataFrame only, nothing stored)")
        ratio = ph["seconds"] / pull_s
        print(f"best of {args.repeat}; ratio (phoenix export time / pull time): {ratio:.2f}x -> pull is "
              f"{'faster' if ratio > 1 else 'slower'} than Phoenix's own DataFrame export")
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
