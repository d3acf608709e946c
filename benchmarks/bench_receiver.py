"""Benchmark the OTLP/HTTP receiver (``llmops-nb collect``).

1. Baseline, in this process: parse + map + write the same protobuf bodies straight into a store
   (no HTTP) -> the pipeline's ceiling in spans/s.
2. Sustained: send 1,000 spans/s for ``--seconds`` (default 60) to a receiver running as a
   separate process (the real command), then check every span is in the store (zero loss).
3. Step up: 1.5k, 2.25k, 3.4k, ... spans/s (x1.5 a step) for ``--step-seconds`` each; a step passes when every span
   sent is stored, the receiver accepted at least 95% of the target rate and drained its queue.
   Reports the highest passing rate.
4. Burst: 8 senders as fast as they can for a few seconds: counts 503 (backpressure) answers,
   retries them as OTLP exporters do, and checks nothing is lost.
5. Stalled clients: latency of normal requests alone (the baseline), then with ``--stalled``
   (100) clients stalled mid-body; each answer must come within 1 s. Also prints how many
   fsyncs of the write-ahead log the requests shared (group commit).

Prints the figures and the receiver's peak RSS. Spans look like real LLM spans (OpenInference
attributes, messages, tokens). Sent with 503/429 retries honouring Retry-After.

    .venv/bin/python benchmarks/bench_receiver.py            # full run (about 2.5 min)
    .venv/bin/python benchmarks/bench_receiver.py --seconds 10 --step-seconds 5
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

WORDS = ["order", "refund", "shipping", "invoice", "account", "password", "delivery", "warranty", "return", "policy", "customer", "agent", "please", "thanks", "status", "tracking", "number", "billing", "card", "charge", "late", "missing", "damaged", "replace"]


def make_body(rng: random.Random, n_spans: int, trace_base: int) -> bytes:
    """One ExportTraceServiceRequest with ``n_spans`` spans: traces of 4 spans (agent, retriever,
    llm, tool) with OpenInference attributes, as protobuf bytes."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    kv = rs.resource.attributes.add()
    kv.key, kv.value.string_value = "service.name", "bench-app"
    ss = rs.scope_spans.add()
    ss.scope.name = "bench"
    t0 = time.time_ns()
    for i in range(n_spans):
        trace = trace_base + i // 4
        role = i % 4
        sp = ss.spans.add()
        sp.trace_id = trace.to_bytes(16, "big")
        sp.span_id = (trace * 4 + role + 1).to_bytes(8, "big")
        if role:
            sp.parent_span_id = (trace * 4 + 1).to_bytes(8, "big")
        sp.name = ("agent", "search", "chat gpt-4o-mini", "lookup_order")[role]
        sp.start_time_unix_nano = t0 + role * 1000
        sp.end_time_unix_nano = t0 + 5_000_000 + role * 1000
        question = " ".join(rng.choice(WORDS) for _ in range(25))
        attrs: dict[str, object] = {"openinference.span.kind": ("AGENT", "RETRIEVER", "LLM", "TOOL")[role],
                                    "session.id": f"s{trace % 1000}", "user.id": f"u{trace % 97}"}
        if role == 0:
            attrs["input.value"] = question
        elif role == 1:
            attrs["input.value"] = question
            for d in range(3):
                attrs[f"retrieval.documents.{d}.document.id"] = f"kb-{rng.randrange(1000)}"
                attrs[f"retrieval.documents.{d}.document.content"] = " ".join(rng.choice(WORDS) for _ in range(40))
                attrs[f"retrieval.documents.{d}.document.score"] = rng.random()
        elif role == 2:
            attrs.update({"llm.model_name": "gpt-4o-mini", "llm.provider": "openai",
                          "llm.input_messages.0.message.role": "system",
                          "llm.input_messages.0.message.content": "You are a helpful support agent.",
                          "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": question,
                          "llm.output_messages.0.message.role": "assistant",
                          "llm.output_messages.0.message.content": " ".join(rng.choice(WORDS) for _ in range(60)),
                          "llm.token_count.prompt": rng.randrange(50, 900), "llm.token_count.completion": rng.randrange(10, 300),
                          "llm.cost.total": rng.random() / 1000})
        else:
            attrs.update({"tool.name": "lookup_order", "input.value": f'{{"order_id": "A{trace}"}}',
                          "output.value": '{"status": "shipped"}'})
        for k, v in attrs.items():
            a = sp.attributes.add()
            a.key = k
            if isinstance(v, str):
                a.value.string_value = v
            elif isinstance(v, int):
                a.value.int_value = v
            else:
                a.value.double_value = float(v)  # type: ignore[arg-type]
    return req.SerializeToString()


class Sender:
    """Sends protobuf bodies to the receiver, retrying 429/503 after Retry-After like OTLP exporters."""

    def __init__(self, endpoint: str, threads: int = 4) -> None:
        import httpx

        self.endpoint = endpoint
        self.clients = threading.local()
        self.httpx = httpx
        self.pool = ThreadPoolExecutor(max_workers=threads)
        self.lock = threading.Lock()
        self.accepted = 0
        self.busy = 0
        self.failed = 0

    def _client(self):  # one keep-alive connection per thread
        c = getattr(self.clients, "c", None)
        if c is None:
            c = self.clients.c = self.httpx.Client(timeout=30)
        return c

    def _send(self, body: bytes, n: int) -> None:
        for _attempt in range(60):
            try:
                r = self._client().post(self.endpoint, content=body, headers={"Content-Type": "application/x-protobuf"})
            except self.httpx.HTTPError:
                time.sleep(0.2)
                continue
            if r.status_code == 200:
                with self.lock:
                    self.accepted += n
                return
            if r.status_code in (429, 503):
                with self.lock:
                    self.busy += 1
                time.sleep(float(r.headers.get("Retry-After", "1")))
                continue
            break
        with self.lock:
            self.failed += n

    def submit(self, body: bytes, n: int):
        return self.pool.submit(self._send, body, n)


def health(url: str) -> dict:
    import httpx

    return httpx.get(url + "/health", timeout=10).json()


def drain(url: str, expect_accepted: int, timeout: float = 60.0) -> float:
    """Seconds until the receiver has stored everything it accepted."""
    t = time.perf_counter()
    while time.perf_counter() - t < timeout:
        h = health(url)
        if h["accepted"] >= expect_accepted and h["queued"] == 0 and h["stored"] >= h["accepted"]:
            return time.perf_counter() - t
        time.sleep(0.05)
    return float("inf")


def stored_rows(store_dir: str) -> int:
    """Rows in the receiver's store (read from its manifest; the store deduplicates by id)."""
    from llmops_nb.store import Store

    return Store(store_dir).count("spans")


def run_rate(sender: Sender, url: str, store_dir: str, rate: float, seconds: float, batch: int,
             rng: random.Random, trace_base: int, rss: RssWatch) -> dict:
    """Send ``rate`` spans/s for ``seconds``; return the step's figures."""
    n_total = int(rate * seconds)
    n_total -= n_total % 4
    acc0 = sender.accepted
    stored0 = stored_rows(store_dir)
    rss.reset()
    futures = []
    sent = 0
    start = time.perf_counter()
    make_time = 0.0
    while sent < n_total:
        due = (time.perf_counter() - start) * rate
        if sent + batch <= due + batch:  # stay on schedule
            n = min(batch, n_total - sent)
            m0 = time.perf_counter()
            body = make_body(rng, n, trace_base + sent // 4)
            make_time += time.perf_counter() - m0
            futures.append(sender.submit(body, n))
            sent += n
        else:
            time.sleep(min(0.005, (sent + batch - due) / rate))
    for f in futures:
        f.result()
    send_s = time.perf_counter() - start
    accepted = sender.accepted - acc0
    drain_s = drain(url, health(url)["accepted"])
    stored = stored_rows(store_dir) - stored0
    return {"target": rate, "spans": n_total, "accepted": accepted, "stored": stored,
            "lost": n_total - stored, "achieved": accepted / send_s, "send_s": send_s, "drain_s": drain_s,
            "peak_rss_mb": rss.peak_mb, "sender_build_s": make_time}


class RssWatch:
    """Samples the receiver's resident memory every 50 ms."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self.overall = 0
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            try:
                r = self.proc.memory_info().rss
            except Exception:
                return
            self.peak = max(self.peak, r)
            self.overall = max(self.overall, r)

    def reset(self) -> None:
        self.peak = 0

    @property
    def peak_mb(self) -> float:
        return self.peak / 2**20


def baseline(rng: random.Random, n: int = 20_000, batch: int = 512) -> float:
    """Spans/s of parse + map + store write in-process, no HTTP (the pipeline's ceiling)."""
    from llmops_nb.loaders.otlp import iter_otlp_proto, map_span
    from llmops_nb.store import Store
    from llmops_nb.tracing._otel import finish_row, rows_to_arrow

    bodies = [make_body(rng, batch, 10**9 + i * batch) for i in range(n // batch)]
    store = Store(tempfile.mkdtemp(prefix="bench-recv-base-"))
    t = time.perf_counter()
    rows = []
    for b in bodies:
        rows.extend(finish_row(map_span(r, "otlp_proto")) for r in iter_otlp_proto(b))
        if len(rows) >= 5000:
            store.add("spans", rows_to_arrow(rows))
            rows = []
    if rows:
        store.add("spans", rows_to_arrow(rows))
    return len(bodies) * batch / (time.perf_counter() - t)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q / 100))]


def request_latencies(endpoint: str, rng: random.Random, trace_base: int, n: int) -> list[float]:
    """Seconds to answer each of ``n`` requests of 128 spans, one after the other."""
    import httpx

    out = []
    with httpx.Client(timeout=30) as http:
        for i in range(n):
            body = make_body(rng, 128, trace_base + i * 32)
            t = time.perf_counter()
            r = http.post(endpoint, content=body, headers={"Content-Type": "application/x-protobuf"})
            out.append(time.perf_counter() - t)
            if r.status_code != 200:
                raise RuntimeError(f"normal request answered {r.status_code}: {r.text[:200]}")
    return out


def stall(url: str, n: int) -> list:
    """``n`` clients that send headers and 10 bytes of a 100 kB body, then nothing."""
    import socket

    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)))
        s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                  b"Content-Length: 100000\r\n\r\n" + b"\n" * 10)
        socks.append(s)
    return socks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="duration of the sustained 1,000 spans/s run")
    ap.add_argument("--rate", type=float, default=1000.0, help="the sustained rate (spans/s)")
    ap.add_argument("--step-seconds", type=float, default=10.0, help="duration of each step-up rate")
    ap.add_argument("--max-rate", type=float, default=64_000.0, help="highest rate to try")
    ap.add_argument("--step-factor", type=float, default=1.5, help="each step's rate over the previous one")
    ap.add_argument("--burst-requests", type=int, default=160, help="requests of 512 spans sent at once in the burst")
    ap.add_argument("--stalled", type=int, default=100, help="clients stalled mid-body beside normal requests")
    args = ap.parse_args()
    rng = random.Random(0)

    base = baseline(rng)
    print(f"baseline (parse + map + store, no HTTP, in-process): {base:,.0f} spans/s")

    store_dir = tempfile.mkdtemp(prefix="bench-recv-")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmops_nb.cli", "collect", "--store", store_dir, "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline() if proc.stdout else ""
    if "listening on" not in line:
        print("receiver failed to start:", line, proc.stdout.read() if proc.stdout else "")
        return 1
    endpoint = line.split("listening on ")[1].split(" ")[0]
    url = endpoint.rsplit("/v1/traces", 1)[0]
    said: list[str] = []  # read the receiver's output as it comes, so a full pipe never blocks it
    reader = threading.Thread(target=lambda: said.extend(proc.stdout), daemon=True)
    reader.start()
    rss = RssWatch(proc.pid)
    time.sleep(0.5)
    idle_mb = rss.peak_mb
    print(f"receiver started: idle RSS {idle_mb:.0f} MB")
    sender = Sender(endpoint, threads=4)
    trace_base = 1
    ok = True
    try:
        # 1. sustained
        r = run_rate(sender, url, store_dir, args.rate, args.seconds, 100, rng, trace_base, rss)
        trace_base += r["spans"]
        sustained_ok = r["lost"] == 0 and r["achieved"] >= 0.95 * args.rate
        ok &= sustained_ok
        print(f"sustained {args.rate:,.0f} spans/s for {args.seconds:.0f} s: sent {r['spans']:,}, stored {r['stored']:,}, "
              f"lost {r['lost']:,}; accepted rate {r['achieved']:,.0f}/s; drained {r['drain_s']:.2f} s after the last "
              f"request; receiver peak RSS {r['peak_rss_mb']:.0f} MB -> {'PASS' if sustained_ok else 'FAIL'}")

        # 2. step up
        print(f"{'target/s':>10} {'sent':>9} {'stored':>9} {'lost':>6} {'accepted/s':>11} {'drain s':>8} {'peak RSS MB':>12}  result")
        best = args.rate if sustained_ok else 0.0
        rate = args.rate * args.step_factor
        while rate <= args.max_rate:
            batch = 512
            r = run_rate(sender, url, store_dir, rate, args.step_seconds, batch, rng, trace_base, rss)
            trace_base += r["spans"]
            passed = r["lost"] == 0 and r["achieved"] >= 0.95 * rate and r["drain_s"] < 10
            print(f"{rate:>10,.0f} {r['spans']:>9,} {r['stored']:>9,} {r['lost']:>6,} {r['achieved']:>11,.0f} "
                  f"{r['drain_s']:>8.2f} {r['peak_rss_mb']:>12.0f}  {'pass' if passed else 'below target'}")
            if not passed:
                break
            best = rate
            rate *= args.step_factor
        print(f"highest rate with zero loss (and >= 95% of target accepted): {best:,.0f} spans/s "
              f"({best / base:.0%} of the in-process baseline)")

        # 3. burst: everything at once from 8 senders; 503s are retried, nothing may be lost
        bodies = [make_body(rng, 512, trace_base + i * 128) for i in range(args.burst_requests)]
        trace_base += args.burst_requests * 128
        n_burst = len(bodies) * 512
        burst = Sender(endpoint, threads=8)
        rss.reset()
        stored0 = stored_rows(store_dir)
        t = time.perf_counter()
        for f in [burst.submit(b, 512) for b in bodies]:
            f.result()
        burst_s = time.perf_counter() - t
        drain_s = drain(url, health(url)["accepted"])
        stored = stored_rows(store_dir) - stored0
        burst_ok = burst.failed == 0 and stored == n_burst
        ok &= burst_ok
        print(f"burst: {n_burst:,} spans in {len(bodies)} requests from 8 senders at once: accepted in {burst_s:.1f} s "
              f"({n_burst / burst_s:,.0f}/s), {burst.busy:,} answers 503 with Retry-After (retried), "
              f"{burst.failed:,} given up; stored {stored:,} (lost {n_burst - stored:,}) after {drain_s:.1f} s more; "
              f"receiver peak RSS {rss.peak_mb:.0f} MB -> {'PASS' if burst_ok else 'FAIL'}")

        # 4. stalled clients: latency of normal requests alone, then beside 100 clients stalled mid-body
        lat_alone = request_latencies(endpoint, rng, trace_base, 20)
        trace_base += 20 * 128
        socks = stall(url, args.stalled)
        time.sleep(0.3)
        lat_stalled = request_latencies(endpoint, rng, trace_base, 20)
        trace_base += 20 * 128
        for s in socks:
            s.close()
        stalled_ok = max(lat_stalled) < 1.0
        ok &= stalled_ok
        print(f"normal requests (128 spans): alone p50 {pct(lat_alone, 50) * 1000:.0f} ms, max {max(lat_alone) * 1000:.0f} ms; "
              f"with {args.stalled} clients stalled mid-body p50 {pct(lat_stalled, 50) * 1000:.0f} ms, "
              f"max {max(lat_stalled) * 1000:.0f} ms (target < 1000 ms) -> {'PASS' if stalled_ok else 'FAIL'}")
        h = health(url)
        print(f"write-ahead log: {h['wal_syncs']:,} fsyncs for {h['requests'] - h['busy_requests']:,} requests "
              f"(group commit)")
    finally:
        rss.stop.set()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        reader.join(10)
        out = "".join(said)
    total = stored_rows(store_dir)
    print(f"receiver exit code {proc.returncode}; spans in the store: {total:,}; "
          f"receiver peak RSS over the whole run {rss.overall / 2**20:.0f} MB")
    if out.strip():
        print("receiver said:", out.strip().splitlines()[-1])
    return 0 if ok and proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
