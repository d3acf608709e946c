"""The receiver under attack: nothing it acknowledged is lost when it is killed (kill -9 of the
real ``llmops-nb collect`` process under a steady load) or when the store cannot be written
(503 with Retry-After meanwhile); the write-ahead log is replayed on start and removed once its
spans are stored; stalled clients neither block other clients nor stay connected past the read
deadline; a request without a Content-Type is a 415."""

from __future__ import annotations

import gzip
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

import llmops_nb as lo
from llmops_nb.tracing import Collector
from llmops_nb.tracing._wal import Wal, WalRecord, read_segment, wal_root


def _body(first: int, n: int) -> bytes:
    """An ExportTraceServiceRequest (protobuf) with ``n`` spans whose ids encode ``first + i``."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    req = ExportTraceServiceRequest()
    ss = req.resource_spans.add().scope_spans.add()
    t0 = 1_700_000_000_000_000_000
    for i in range(first, first + n):
        sp = ss.spans.add()
        sp.trace_id = (i // 4 + 1).to_bytes(16, "big")
        sp.span_id = (i + 1).to_bytes(8, "big")
        sp.name = f"span-{i}"
        sp.start_time_unix_nano = t0 + i
        sp.end_time_unix_nano = t0 + i + 1_000_000
        a = sp.attributes.add()
        a.key, a.value.string_value = "input.value", f"question {i} " + "x" * 200
    return req.SerializeToString()


def _span_ids(first: int, n: int) -> set[str]:
    return {f"{i + 1:016x}" for i in range(first, first + n)}


class _Load:
    """``threads`` clients posting bodies of ``per_body`` spans back to back; remembers exactly
    which spans got a 200 (and honours 503 + Retry-After, like OTLP exporters)."""

    def __init__(self, endpoint: str, *, threads: int = 3, per_body: int = 40, pause_s: float = 0.0) -> None:
        self.endpoint = endpoint
        self.per_body = per_body
        self.pause_s = pause_s
        self.acked: set[str] = set()
        self.statuses: dict[int, int] = {}
        self.retry_after: set[str] = set()
        self.stop = threading.Event()
        self._next = 0
        self._mu = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> _Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self.stop.is_set():
                with self._mu:
                    first, self._next = self._next, self._next + self.per_body
                body = _body(first, self.per_body)
                while not self.stop.is_set():
                    try:
                        r = http.post(self.endpoint, content=body, headers={"Content-Type": "application/x-protobuf"})
                    except httpx.HTTPError:
                        time.sleep(0.05)
                        continue
                    with self._mu:
                        self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                        if r.status_code == 200:
                            self.acked |= _span_ids(first, self.per_body)
                        if r.status_code == 503:
                            self.retry_after.add(r.headers.get("Retry-After", ""))
                    if r.status_code == 200:
                        break
                    time.sleep(min(float(r.headers.get("Retry-After", "1")), 0.2) if r.status_code == 503 else 0.05)
                if self.pause_s:
                    time.sleep(self.pause_s)


def _start_cli(store_path: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "llmops_nb.cli", "collect", "--store", str(store_path), "--port", "0",
                             "--quiet", *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    line = proc.stdout.readline() if proc.stdout else ""
    assert "listening on http://127.0.0.1:" in line, line + (proc.stdout.read() if proc.stdout else "")
    return proc, line.split("listening on ")[1].split(" ")[0]


def _stored_ids(path: Path) -> set[str]:
    return set(lo.Store(path).sql("SELECT span_id FROM spans")["span_id"])


def test_kill_9_under_load_loses_no_acknowledged_span(tmp_path):
    """SIGKILL the real receiver process at a random moment under a steady load, restart it:
    every span that got a 200 is in the store (the restart replays the write-ahead log)."""
    path = tmp_path / "store"
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    proc, endpoint = _start_cli(path, "--flush-interval", "0.3")
    try:
        with _Load(endpoint, threads=3, per_body=40) as load:
            deadline = time.monotonic() + 30
            while len(load.acked) < 2000 and time.monotonic() < deadline:  # steady state reached
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.5))
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            load.stop.set()
        acked = set(load.acked)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()
    assert len(acked) >= 2000, load.statuses
    before = _stored_ids(path)
    wal_files = list(wal_root(lo.Store(path)).rglob("*.wal"))
    # restart: the new receiver replays the log of the killed one; stopping it writes everything
    proc2, _ = _start_cli(path)
    proc2.send_signal(signal.SIGINT)
    out = proc2.communicate(timeout=120)[0]
    assert proc2.returncode == 0, out
    after = _stored_ids(path)
    lost = acked - after
    print(f"\nkill -9 (seed {seed}): acknowledged {len(acked):,} spans; in the store right after the kill "
          f"{len(before & acked):,}; after restart {len(after & acked):,}; lost {len(lost)}; "
          f"log segments left by the killed receiver: {len(wal_files)}; {out.strip().splitlines()[-1]}")
    assert not lost, f"{len(lost)} acknowledged spans lost (seed {seed}), e.g. {sorted(lost)[:3]}"
    assert len(lo.Store(path).spans()) == len(after)  # replay did not duplicate spans
    assert not list(wal_root(lo.Store(path)).rglob("*.wal"))  # the log is gone once stored


class _FlakyStore(lo.Store):
    """A store whose writes fail (as a full or unmounted disk would) while ``failing`` is set."""

    failing = threading.Event()
    attempts = 0

    def add(self, name, df, **kw):
        if self.failing.is_set():
            type(self).attempts += 1
            raise OSError(28, "No space left on device (injected)")
        return super().add(name, df, **kw)


def test_store_write_faults_answer_503_and_lose_nothing(tmp_path):
    """The store refuses writes for 3 s under load: the receiver answers 503 with Retry-After
    while it cannot write, keeps what it acknowledged, and stores all of it once the store is back."""
    store = _FlakyStore(tmp_path / "store")
    with Collector(store, port=0, flush_interval_s=0.05) as col:
        with _Load(col.endpoint, threads=3, per_body=20, pause_s=0.01) as load:
            while len(load.acked) < 500:
                time.sleep(0.02)
            store.failing.set()
            t = time.monotonic()
            saw_failing = False
            while time.monotonic() - t < 3.0:
                saw_failing |= col.stats.store_failing
                time.sleep(0.02)
            acked_during = len(load.acked)
            busy_during = load.statuses.get(503, 0)
            store.failing.clear()
            time.sleep(0.5)
        assert col.flush(30)
        assert not col.stats.store_failing
    acked = set(load.acked)
    stored = set(store.sql("SELECT span_id FROM spans")["span_id"])
    print(f"\nstore write fault for 3 s: {_FlakyStore.attempts} failed writes; acknowledged {len(acked):,} spans "
          f"({acked_during:,} by the end of the fault), {busy_during} answers 503 during the fault; "
          f"stored {len(stored & acked):,}; lost {len(acked - stored)}")
    assert saw_failing and _FlakyStore.attempts >= 1
    assert busy_during >= 1 and load.retry_after == {"1"}
    assert acked <= stored, f"{len(acked - stored)} acknowledged spans lost"
    assert load.statuses.get(200, 0) > 0 and set(load.statuses) <= {200, 503}


def test_stopped_while_the_store_refuses_keeps_the_log_for_the_next_start(tmp_path):
    """Ctrl-C while the store still refuses writes: what was acknowledged stays in the log and
    the next receiver on the store writes it."""
    store = _FlakyStore(tmp_path / "store")
    store.failing.set()
    try:
        col = Collector(store, port=0, flush_interval_s=0.01).start()
        r = httpx.post(col.endpoint, content=_body(0, 6), headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200  # durable in the log, though the store refuses it
        while not col.stats.store_failing:
            time.sleep(0.01)
        busy = httpx.post(col.endpoint, content=_body(6, 6), headers={"Content-Type": "application/x-protobuf"})
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        col.stop(timeout=1)
        assert col.stats.write_errors == 6
    finally:
        store.failing.clear()
    assert len(list(wal_root(store).rglob("*.wal"))) >= 1 and store.count("spans") == 0
    with Collector(lo.Store(store.path), port=0) as col2:
        assert col2.flush(30) and col2.stats.replayed == 6
    assert set(store.spans()["span_id"]) == _span_ids(0, 6)
    assert not list(wal_root(store).rglob("*.wal"))


def test_log_is_replayed_on_start_and_removed_once_stored(tmp_path):
    """A log left by a dead receiver (records written, lock released by the kernel) is replayed
    into the store when a receiver starts; spans already stored are not duplicated; a record cut
    by the crash is ignored; the log folder is removed afterwards."""
    store = lo.Store(tmp_path / "store")
    store.add("spans", lo.read_traces([{"trace_id": f"{1:032x}", "span_id": f"{1:016x}", "name": "span-0"}],
                                      format="records"))
    dead = Wal(wal_root(store)).open()
    dead.append([WalRecord("proto", "identity", _body(0, 8), len(_body(0, 8))).encode()])
    seq = dead.append([WalRecord("proto", "gzip", gzip.compress(_body(8, 8)), len(_body(8, 8))).encode()])
    seg = dead.dir / f"{seq:012d}.wal"
    with open(seg, "ab") as f:  # a record cut mid-write by kill -9 (never acknowledged)
        f.write(WalRecord("proto", "identity", _body(100, 8), len(_body(100, 8))).encode()[:-30])
    assert len(list(read_segment(seg))) == 2
    dead._lock.release()  # what the kernel does when the process dies
    dead._f.close()
    with Collector(store, port=0) as col:
        assert col.flush(30)
        assert col.stats.replayed == 16
    assert set(store.spans()["span_id"]) == _span_ids(0, 16)
    assert not dead.dir.exists()
    assert not list(wal_root(store).rglob("*.wal"))


def test_a_live_receivers_log_is_not_replayed_by_another(tmp_path):
    store = lo.Store(tmp_path / "store")
    slow = threading.Event()

    class Blocked(lo.Store):
        def add(self, name, df, **kw):
            slow.wait(30)
            return super().add(name, df, **kw)

    blocked = Blocked(store.path)
    with Collector(blocked, port=0, flush_interval_s=0.01) as a:
        r = httpx.post(a.endpoint, content=_body(0, 4), headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200
        with Collector(store, port=0) as b:  # a second receiver on the same store
            assert b.flush(5) and b.stats.replayed == 0
        assert a._wal is not None and a._wal.segments  # a's log is untouched
        slow.set()
        assert a.flush(30)
    assert set(store.spans()["span_id"]) == _span_ids(0, 4)


def test_group_commit_shares_fsyncs_and_deletes_stored_segments(tmp_path):
    """Requests that arrive while the log is syncing share the next fsync; log segments whose
    spans are stored are deleted as the log rotates."""
    store = lo.Store(tmp_path / "store")
    with Collector(store, port=0, flush_interval_s=0.05) as col:
        wal = col._wal
        wal.segment_s = 0.05  # rotate often
        groups: list[int] = []
        real_append = wal.append

        def slow_append(records):  # a slow disk: 20 ms a sync
            groups.append(len(records))
            time.sleep(0.02)
            return real_append(records)

        wal.append = slow_append
        with _Load(col.endpoint, threads=6, per_body=10) as load:
            while len(load.acked) < 1500:
                time.sleep(0.02)
        assert col.flush(30)
        time.sleep(0.1)
        httpx.post(col.endpoint, content=_body(10**6, 4), headers={"Content-Type": "application/x-protobuf"})
        assert col.flush(30)
        segs = wal.segments
        syncs, accepted_requests = col.stats.wal_syncs, load.statuses[200] + 1
    print(f"\n{accepted_requests} acknowledged requests shared {syncs} fsyncs (largest group {max(groups)})")
    assert sum(groups) == accepted_requests and syncs == len(groups)
    assert max(groups) > 1 and syncs < accepted_requests
    assert len(segs) <= 1  # stored segments are deleted; only the open one may remain
    assert load.acked <= set(store.spans()["span_id"])
    assert not wal_root(store).exists() or not any(wal_root(store).iterdir())  # stop removes the log folder


def test_bytes_being_received_are_bounded(store):
    """Stalled bodies hold at most ``max_reading_bytes``: a body that would cross it is refused
    with 503 + Retry-After (and dropped), so memory stays bounded and small requests still pass."""
    with Collector(store, port=0, max_reading_bytes=64 * 1024, read_timeout_s=30) as col:
        socks = []
        for _ in range(5):  # 20 kB sent of a 100 kB body each, then nothing
            s = socket.create_connection(("127.0.0.1", col.port))
            s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                      b"Content-Length: 100000\r\n\r\n" + b"\n" * 20_000)
            socks.append(s)
            time.sleep(0.1)
        refused = 0
        for s in socks:
            closed, data = _closed_by_server(s, 0.3)
            refused += closed and b" 503 " in data.split(b"\r\n", 1)[0] and b"Retry-After: 1" in data
        assert refused == 2 and col._reading_bytes == 3 * 20_000
        r = httpx.post(col.endpoint, content=_body(0, 4), headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200
        for s in socks:
            s.close()


def _stall(port: int, n: int) -> list[socket.socket]:
    """``n`` clients that send the headers and 10 bytes of a 100 kB body, then nothing."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                  b"Content-Length: 100000\r\n\r\n" + b"\n" * 10)
        socks.append(s)
    return socks


def _closed_by_server(s: socket.socket, wait_s: float) -> tuple[bool, bytes]:
    s.settimeout(wait_s)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return True, data
            data += chunk
    except TimeoutError:
        return False, data
    except ConnectionResetError:
        return True, data


def test_stalled_clients_do_not_block_ingestion(store):
    """100 clients stall mid-body: a normal request is still answered at once (while all 100
    are still connected), and each stalled client is answered 408 and dropped at the deadline."""
    with Collector(store, port=0, read_timeout_s=3.0) as col, httpx.Client(timeout=10) as http:
        socks = _stall(col.port, 100)
        time.sleep(0.2)
        latencies = []
        for k in range(5):
            t = time.perf_counter()
            r = http.post(col.endpoint, content=_body(k * 4, 4), headers={"Content-Type": "application/x-protobuf"})
            latencies.append(time.perf_counter() - t)
            assert r.status_code == 200
        assert col.stats.timed_out_requests == 0  # the stalled clients are all still waiting
        print(f"\nwith 100 stalled clients: normal requests answered in {max(latencies) * 1000:.0f} ms at most")
        dropped = answered_408 = 0
        t = time.monotonic()
        for s in socks:
            closed, data = _closed_by_server(s, max(0.1, 10 - (time.monotonic() - t)))
            dropped += closed
            answered_408 += b" 408 " in data.split(b"\r\n", 1)[0]  # unless the reset came first
            s.close()
        print(f"stalled clients dropped after the {col.read_timeout_s:g} s deadline: {dropped} "
              f"({answered_408} read their 408 before the reset), in {time.monotonic() - t:.1f} s")
        assert col.stats.timed_out_requests == 100, col.stats
        assert dropped == 100
        assert col.flush(10)
    assert set(store.spans()["span_id"]) == _span_ids(0, 20)


def test_clients_stalled_in_their_headers_are_dropped(store):
    with Collector(store, port=0, read_timeout_s=1.0) as col:
        socks = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", col.port))
            s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Ty")  # ... and nothing more
            socks.append(s)
        r = httpx.post(col.endpoint, content=_body(0, 4), headers={"Content-Type": "application/x-protobuf"})
        assert r.status_code == 200
        t = time.monotonic()
        closed = sum(_closed_by_server(s, max(0.1, 6 - (time.monotonic() - t)))[0] for s in socks)
        print(f"\nclients stalled in their headers: {closed} of 20 dropped, in {time.monotonic() - t:.1f} s")
        assert closed == 20
        for s in socks:
            s.close()


def test_missing_content_type_is_415(store):
    with Collector(store, port=0) as col:
        s = socket.create_connection(("127.0.0.1", col.port))
        body = _body(0, 2)
        s.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        status = s.recv(65536).split(b"\r\n", 1)[0]
        s.close()
        assert b" 415 " in status, status
        assert httpx.post(col.endpoint, content=body).status_code == 415  # httpx sets no type for raw bytes
    assert len(store.spans()) == 0


def test_kill_after_acks_before_the_store_write_loses_and_duplicates_nothing(tmp_path):
    """Acknowledged protobuf bodies are mapped by worker processes in the background: kill the
    receiver (SIGKILL) when some acknowledged spans are stored and others are only in the log;
    its mapping workers exit too; a restart stores every acknowledged span exactly once."""
    import psutil

    path = tmp_path / "store"
    proc, endpoint = _start_cli(path, "--workers", "1", "--batch-spans", "400", "--flush-interval", "60")
    try:
        with httpx.Client(timeout=30) as http:
            for k in range(10):  # 400 spans: a full batch, written at once
                r = http.post(endpoint, content=_body(k * 40, 40), headers={"Content-Type": "application/x-protobuf"})
                assert r.status_code == 200
            deadline = time.monotonic() + 60
            while lo.Store(path).count("spans") < 400 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert lo.Store(path).count("spans") == 400
            for k in range(10, 15):  # 200 more: acknowledged, waiting for the next batch
                r = http.post(endpoint, content=_body(k * 40, 40), headers={"Content-Type": "application/x-protobuf"})
                assert r.status_code == 200
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert workers, "the receiver started no mapping worker process"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"mapping workers outlived the killed receiver: {alive}"
    assert lo.Store(path).count("spans") == 400  # the last 200 were only in the write-ahead log
    logged = [rec for seg in wal_root(lo.Store(path)).rglob("*.wal") for rec in read_segment(seg)]
    assert len(logged) >= 5
    proc2, _ = _start_cli(path, "--workers", "1")
    proc2.send_signal(signal.SIGINT)
    out = proc2.communicate(timeout=120)[0]
    assert proc2.returncode == 0, out
    spans = lo.Store(path).spans()
    assert set(spans["span_id"]) == _span_ids(0, 600)  # nothing lost
    assert len(spans) == 600 and lo.Store(path).count("spans") == 600  # nothing stored twice
    assert not list(wal_root(lo.Store(path)).rglob("*.wal"))


def test_workers_read_bodies_from_the_log_and_hand_spans_back_by_file(tmp_path):
    """Mapping worker processes get where each acknowledged body is in the log (not the body),
    hand the spans back through an Arrow file in the log's folder that the receiver removes once
    read; the receiver holds no body after logging it; every stage's CPU time is counted."""
    store = lo.Store(tmp_path / "store")
    with Collector(store, port=0, workers=1, flush_interval_s=0.05) as col:
        submitted = []
        real_submit = col._submit

        def spy(refs):
            submitted.extend(refs)
            return real_submit(refs)

        col._submit = spy
        with httpx.Client(timeout=30) as http:
            big = _body(10_000, 6000)  # over 1 MB: checked beside the event loop, not on it
            assert len(big) > 1 << 20
            r = http.post(col.endpoint, content=big, headers={"Content-Type": "application/x-protobuf"})
            assert r.status_code == 200
            for k in range(6):
                body = _body(k * 50, 50)
                if k % 2:
                    r = http.post(col.endpoint, content=gzip.compress(body),
                                  headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
                else:
                    r = http.post(col.endpoint, content=body, headers={"Content-Type": "application/x-protobuf"})
                assert r.status_code == 200
        assert col.flush(60)
        assert submitted and all(isinstance(ref[0], str) and ref[0].endswith(".wal") and isinstance(ref[1], int)
                                 for ref in submitted)
        assert not any(isinstance(x, bytes) for ref in submitted for x in ref)  # no body crosses to a worker
        spool = col._wal.dir / "mapped"
        assert spool.exists() and not list(spool.iterdir())  # handed back and removed
        cpu = col.cpu_by_stage()
        assert {"http", "check", "wal", "dispatch", "store", "read", "map", "arrow", "hand_back"} <= set(cpu)
        assert cpu["map"] > 0 and cpu["store"] > 0 and cpu["http"] > 0
        assert httpx.get(col.url + "/health").json()["cpu_s"]["map"] == pytest.approx(cpu["map"])
    assert set(store.spans()["span_id"]) == _span_ids(0, 300) | _span_ids(10_000, 6000)
    assert store.count("spans") == 6300


def test_log_records_are_written_from_their_parts_and_read_back_at_their_offsets(tmp_path):
    """The log writes a record's header and body without joining them (many records, more parts
    than one writev takes), and each body is read back whole at its offset, as the mapping
    workers read them; a record written as bytes reads the same."""
    from llmops_nb.tracing._wal import read_body

    wal = Wal(tmp_path / "wal").open()
    recs = [WalRecord("proto", "identity", _body(i * 3, 3), len(_body(i * 3, 3))) for i in range(400)]
    seq = wal.append([r.parts() for r in recs[:399]] + [recs[399].encode()])
    seg = wal.dir / f"{seq:012d}.wal"
    back = list(read_segment(seg))
    assert [r.body for r in back] == [r.body for r in recs]
    assert all(read_body(seg, r.offset, len(r.body)) == r.body for r in back)
    assert back[0].offset == len(recs[0].parts()[0]) and wal.last_start == 0
    seq2 = wal.append([recs[0].parts()])
    assert seq2 == seq and wal.last_start == seg.stat().st_size - len(recs[0].encode())
    wal.release(seq, 401)
    assert wal.close()


def test_a_mapping_worker_pauses_the_cycle_collector_only_while_it_maps(tmp_path, monkeypatch):
    """In a mapping worker process the cyclic garbage collector is off while a task maps (it
    would walk every per-span object alive) and on again after; mapping inside the receiver
    (threads) never turns it off. The spans come back through the spool file (one chunk per
    column), which is removed once read."""
    import gc

    from llmops_nb.tracing import _collector

    wal = Wal(tmp_path / "wal").open()
    refs = []
    for k in range(3):  # three bodies in one task
        body = _body(k * 8, 8)
        head, _ = WalRecord("proto", "identity", body, len(body)).parts()
        seq = wal.append([(head, body)])
        refs.append((str(wal.segment_path(seq)), wal.last_start + len(head), len(body), "proto", "identity", len(body)))
    seen = []
    real = _collector._map_records

    def spy(records, limit):
        seen.append(gc.isenabled())
        return real(records, limit)

    monkeypatch.setattr(_collector, "_map_records", spy)
    assert gc.isenabled()
    out, rejected, _, bad, cpu = _collector._map_refs(refs, 2**20, str(tmp_path / "spool"))
    assert seen == [False] and gc.isenabled() and rejected == bad == 0 and cpu["map"] >= 0
    back = _collector._handed_back(out)
    assert isinstance(out, str) and back.num_rows == 24 and not os.path.exists(out)
    assert all(back.column(i).num_chunks == 1 for i in range(back.num_columns))
    seen.clear()
    table = _collector._map_refs(refs, 2**20, None)[0]
    assert seen == [True] and table.equals(back)
    wal.release(seq, 3)
    wal.close()


def test_a_killed_mapping_worker_loses_nothing(tmp_path):
    """SIGKILL the mapping worker process while the receiver runs: the bodies it held, and those
    acknowledged after, are mapped by the receiver itself from the log; every acknowledged span
    is stored exactly once."""
    store = lo.Store(tmp_path / "store")
    with Collector(store, port=0, workers=1, flush_interval_s=0.05) as col:
        with httpx.Client(timeout=30) as http:
            for k in range(5):
                r = http.post(col.endpoint, content=_body(k * 40, 40), headers={"Content-Type": "application/x-protobuf"})
                assert r.status_code == 200
            assert col.flush(60)
            procs = list(col._procs._processes.values())  # type: ignore[union-attr]
            assert procs
            for p in procs:
                os.kill(p.pid, signal.SIGKILL)
                p.join(10)
            for k in range(5, 12):
                r = http.post(col.endpoint, content=_body(k * 40, 40), headers={"Content-Type": "application/x-protobuf"})
                assert r.status_code == 200
        assert col.flush(60)
        assert col._procs is None  # the broken pool was dropped: the receiver maps from the log itself
    spans = store.spans()
    assert set(spans["span_id"]) == _span_ids(0, 480) and len(spans) == 480 and store.count("spans") == 480
