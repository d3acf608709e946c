"""Labels under attack: session logs of a live annotator are never taken for stale on a PID
alone (another host, another PID namespace), logs are moved and deleted only once their rows are
in the labels table, undo under ``overlap=1`` never hands the item to someone else, and a reader
during a flush sees every decision exactly once."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.annotation import Session, as_schema
from llmops_nb.store import _label_logs as _labels

ROOT = Path(__file__).resolve().parents[2]


def _frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"trace_id": [f"t{i:04d}" for i in range(n)], "input_text": [f"q{i}" for i in range(n)]})


def _session(store, annotator: str, n: int = 20, **kw) -> Session:
    return Session(_frame(n), schema=as_schema("correct"), store=store, annotator=annotator, queue="sequential", **kw)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _set_lease(log: _labels.LabelLog, **fields) -> None:
    lease = orjson.loads(log.lease_path.read_bytes())
    lease.update(fields)
    log.lease_path.write_bytes(orjson.dumps(lease))


def test_a_log_leased_from_another_host_is_kept_until_its_lease_expires(store):
    """A live session on another host (or PID namespace) whose PID means nothing here: its log
    is left alone while its lease is fresh, and moved into the table once the lease expires."""
    a = _session(store, "remote")
    for _ in range(3):
        a.submit(a.current, {"correct": True})
    log = a._log
    _set_lease(log, host="another-host|boot|pid:[1]", pid=_dead_pid(), renewed_at=time.time())
    b = _session(store, "local")  # opening a session flushes stale logs
    assert log.path.exists() and store.count("labels") == 0
    assert len(lo.labels(store, history=True)) == 3  # readers see the logged rows
    # the same lease, but from this host and PID namespace: the dead PID is conclusive
    _set_lease(log, host=_labels.host_id())
    assert _labels.flush_stale_logs(store) == 3
    assert not log.path.exists() and store.count("labels") == 3
    # and a lease not renewed for longer than its ttl, from anywhere, marks a gone session
    a.submit(a.current, {"correct": False})
    _set_lease(log, host="another-host|boot|pid:[1]", renewed_at=time.time() - _labels.LEASE_TTL_S - 1)
    assert _labels.flush_stale_logs(store) == 1 and store.count("labels") == 4
    assert not log.lease_path.exists()
    del b


def test_the_heartbeat_renews_the_lease(store, monkeypatch):
    monkeypatch.setattr(_labels, "HEARTBEAT_S", 0.05)
    monkeypatch.setattr(_labels, "LEASE_TTL_S", 0.4)
    a = _session(store, "alice")
    a.submit(a.current, {"correct": True})
    first = orjson.loads(a._log.lease_path.read_bytes())
    assert first["host"] == _labels.host_id() and first["pid"] == os.getpid()
    time.sleep(1.5)  # idle: no decisions, yet the lease stays fresh
    assert orjson.loads(a._log.lease_path.read_bytes())["renewed_at"] > first["renewed_at"] + 0.5
    assert _labels.flush_stale_logs(store) == 0 and a._log.path.exists()


def test_a_log_moved_under_a_live_session_loses_nothing(store, monkeypatch):
    """If a live session's log is judged stale anyway (say, suspended past its lease), it is
    moved, not deleted; the session notices and writes its unflushed rows to a new log."""
    a = _session(store, "alice", n=30)
    for _ in range(4):
        a.submit(a.current, {"correct": True})
    monkeypatch.setattr(_labels, "_is_stale", lambda *args: True)
    assert _labels.flush_stale_logs(store) == 4
    monkeypatch.undo()
    # the session goes on, unaware until its next fsync
    for _ in range(3):
        a.submit(a.current, {"correct": False})
    assert a._log.path.exists()
    hist = lo.labels(store, history=True)
    assert len(hist) == 7 and hist["label_id"].is_unique
    a.flush()
    assert store.count("labels") == 7 and len(lo.labels(store, history=True)) == 7
    assert not list(_labels._wal_dir(store).glob("*.jsonl*"))


_NS_CHILD = textwrap.dedent("""
    import os, sys, time
    import pandas as pd
    import llmops_nb as lo
    from llmops_nb.annotation import Session, as_schema
    path, n = sys.argv[1], int(sys.argv[2])
    frame = pd.DataFrame({"trace_id": [f"t{i:04d}" for i in range(n)]})
    s = Session(frame, schema=as_schema("correct"), store=lo.Store(path), annotator="ns", queue="sequential")
    s.flush_every = 10_000
    print("pid", os.getpid(), s._log.path.name, flush=True)
    for i in range(n):
        item = s.current
        s.submit(item, {"correct": i % 2 == 0})
        print("acked", item, flush=True)  # the decision is durable now
        time.sleep(0.03)
    os._exit(0)  # gone without flushing: its decisions stay in its log
""")


def _unshare_works() -> str | None:
    if not shutil.which("unshare"):
        return "the unshare command is not installed"
    r = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True, text=True)
    if r.returncode != 0:
        return f"unshare --pid --fork is not permitted here: {r.stderr.strip()}"
    return None


@pytest.mark.skipif(_unshare_works() is not None, reason=str(_unshare_works()))
def test_sessions_in_another_pid_namespace_keep_their_logs(tmp_path):
    """An annotator in another PID namespace (``unshare --pid --fork``, as another container
    sharing the store) labels while sessions open here: none of its acknowledged decisions is lost."""
    path = tmp_path / "st"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # give the annotator there a PID that is free here, so its PID alone would say "dead"
    target = next(p for p in range(60, 5000) if not _labels._pid_alive(p))
    spin = f"i=2; while [ $i -lt {target} ]; do /bin/true; i=$((i+1)); done; "
    child = subprocess.Popen(["unshare", "--pid", "--fork", "sh", "-c", spin + '"$0" -c "$1" "$2" 40; true',
                              sys.executable, _NS_CHILD, str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    assert child.stdout is not None
    first = child.stdout.readline()
    assert first.startswith("pid "), first + child.stderr.read()
    ns_pid, log_name = int(first.split()[1]), first.split()[2]
    assert not _labels._pid_alive(ns_pid)  # judged by its PID alone, this live session is dead here
    acked: list[str] = []
    opened = 0
    store = lo.Store(path)
    for line in child.stdout:
        acked.append(line.split()[1])
        if len(acked) % 5 == 0:  # sessions opened here meanwhile sweep stale logs
            _session(store, f"here{opened}", n=2)
            opened += 1
    child.wait(60)
    assert child.returncode == 0, child.stderr.read() if child.stderr else ""
    assert len(acked) == 40 and opened == 8
    _session(store, "late", n=2)
    hist = lo.labels(store, history=True)
    ns_rows = hist[hist["annotator"] == "ns"]
    print(f"\nannotator in another PID namespace (its PID there: {ns_pid}): {len(acked)} decisions acknowledged, "
          f"{ns_rows['item_id'].nunique()} kept, with {opened + 1} sessions opened beside it")
    assert sorted(ns_rows["item_id"]) == sorted(acked)
    # its lease is fresh: nobody here took its log for stale (it never flushed, so none of its
    # rows can be in the table unless a session here moved the log)
    assert (_labels._wal_dir(store) / log_name).exists()
    assert (store.read("labels")["annotator"] == "ns").sum() == 0  # the table alone, without the logs


def _overlap_worker(path: str, name: str, seed: int, q) -> None:  # runs in another process
    rng = random.Random(seed)
    s = Session(_frame(300), schema=as_schema("correct"), store=lo.Store(path), annotator=name, overlap=1, seed=0)
    s.flush_every = 25
    undos = 0
    while s.current is not None:
        s.submit(s.current, {"correct": rng.random() < 0.5})
        if rng.random() < 0.3:
            item = s.undo()
            undos += 1
            assert s.current == item
            s.submit(item, {"correct": rng.random() < 0.5})  # re-label at once, no delay
    s.flush()
    q.put((name, undos))


def test_undo_under_overlap_1_never_releases_the_item(tmp_path):
    """Two annotators, overlap=1, 300 items, undo then re-label about a third of the time with
    no delay: no item is labelled by both."""
    path = str(tmp_path / "st")
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=_overlap_worker, args=(path, name, k, q)) for k, name in enumerate(("ann", "bob"))]
    for p in ps:
        p.start()
    done = dict(q.get(timeout=300) for _ in ps)
    for p in ps:
        p.join(60)
        assert p.exitcode == 0
    hist = lo.labels(path, history=True)
    set_by = hist[hist["action"] == "set"].groupby("item_id")["annotator"].nunique()
    cur = lo.labels(path)
    print(f"\nundo + re-label: {sum(done.values())} undos; items labelled {cur['item_id'].nunique()}, "
          f"by both annotators {int((set_by > 1).sum())}")
    assert sum(done.values()) > 50
    assert (set_by == 1).all(), set_by[set_by > 1].index.tolist()[:5]
    assert len(cur) == 300 and cur["item_id"].is_unique


def _labelling_worker(path: str, n: int, acked) -> None:  # runs in another process
    s = Session(_frame(n), schema=as_schema("correct"), store=lo.Store(path), annotator="writer", queue="sequential")
    s.flush_every = 7  # many moves from the log into the table
    for i in range(n):
        s.submit(s.current, {"correct": i % 3 == 0})
        acked.value = i + 1
    s.flush()


def test_a_reader_during_flushes_sees_every_decision_exactly_once(tmp_path):
    path = str(tmp_path / "st")
    ctx = mp.get_context("spawn")
    acked = ctx.Value("i", 0)
    p = ctx.Process(target=_labelling_worker, args=(path, 150, acked))
    p.start()
    store = lo.Store(path)
    counts, reads = [], 0
    while p.is_alive() or reads == 0:
        before = acked.value
        h = lo.labels(store, history=True)
        assert h["label_id"].is_unique, "a decision was read twice"
        assert len(h) >= before, f"a reader saw {len(h)} decisions after {before} were acknowledged"
        counts.append(len(h))
        reads += 1
    p.join(60)
    assert p.exitcode == 0
    final = lo.labels(store, history=True)
    print(f"\nreader during flushes: {reads} reads, counts {counts[:3]} ... {counts[-3:]}, final {len(final)}")
    assert counts == sorted(counts), "the count of decisions went down during a flush"
    assert len(final) == 150 and store.count("labels") == 150
    assert reads > 5


def test_files_cut_by_a_kill_beside_the_logs_and_leases_are_removed(store):
    a = _session(store, "alice")
    a.submit(a.current, {"correct": True})
    wal = _labels._wal_dir(store)
    cut_lease = wal / f".{a._log.lease_path.name}.0badc0de.tmp"  # a heartbeat renewal cut by kill -9
    cut_lease.write_bytes(b'{"host": ')
    old = time.time() - _labels.LEASE_TTL_S - 1
    os.utime(cut_lease, (old, old))
    cut_leases = wal.parent / ".leases.0badc0de.tmp"  # a lease table rewrite cut by kill -9
    cut_leases.write_bytes(b"[")
    _session(store, "bob")  # opening a session sweeps stale logs and takes a lease
    assert not cut_lease.exists() and not cut_leases.exists()
    assert a._log.path.exists() and a._log.lease_path.exists()  # the live session is untouched
