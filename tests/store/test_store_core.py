"""The embedded store: idempotent, atomic, readable while another process writes, filters,
SQL, replace and compaction."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.schema import SPANS

ROOT = Path(__file__).resolve().parents[2]


def _spans(n_traces: int, prefix: str = "t", t0: str = "2025-01-01") -> pd.DataFrame:
    rows = []
    start = pd.Timestamp(t0, tz="UTC")
    models = ["gpt-4o", "claude-3-5-sonnet", "gemini-2.5-flash"]
    for i in range(n_traces):
        tid = f"{prefix}{i:06d}"
        ts = start + pd.Timedelta(minutes=i)
        rows.append({"trace_id": tid, "span_id": "root", "name": "agent", "kind": "agent", "status": "ok",
                     "start_time": ts, "end_time": ts + pd.Timedelta(seconds=2), "session_id": f"s{i % 3}",
                     "user_id": f"u{i % 5}", "tags": ["prod"] if i % 2 else ["dev", "beta"],
                     "metadata": {"tenant": f"acme{i % 2}"}, "input_text": f"question {i}", "source_format": "test"})
        rows.append({"trace_id": tid, "span_id": "llm", "parent_span_id": "root", "name": "chat", "kind": "llm",
                     "status": "error" if i % 4 == 0 else "ok", "start_time": ts + pd.Timedelta(milliseconds=10),
                     "end_time": ts + pd.Timedelta(milliseconds=10 + 100 * (i % 7 + 1)), "model": models[i % 3],
                     "prompt_tokens": 10 + i, "completion_tokens": 5, "total_tokens": 15 + i, "cost_usd": 0.001,
                     "source_format": "test"})
    return lo.read_traces(rows, format="records")


def test_add_is_idempotent(store):
    df = _spans(10)
    assert store.add_spans(df) == 20
    assert store.add_spans(df) == 0
    assert store.add_spans(pd.concat([df, _spans(2, prefix="n")], ignore_index=True)) == 4
    assert store.count("spans") == 24 and len(store.spans()) == 24
    # duplicates inside one batch are stored once
    assert store.add_spans(pd.concat([_spans(1, prefix="d")] * 3, ignore_index=True)) == 2


def test_roundtrip_keeps_values(store):
    df = _spans(3)
    store.add_spans(df)
    back = store.spans().sort_values(["trace_id", "span_id"]).reset_index(drop=True)
    ref = df.sort_values(["trace_id", "span_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, ref, check_dtype=True)
    assert list(back.columns) == SPANS.names


def test_filters_of_spans_and_traces(store):
    store.add_spans(_spans(24))
    assert set(store.spans(kind="llm")["kind"]) == {"llm"} and len(store.spans(kind="llm")) == 24
    assert len(store.spans(model="gpt-4o")) == 8
    assert len(store.spans(model=["gpt-4o", "gemini-2.5-flash"])) == 16
    assert len(store.spans(status="error")) == 6
    assert set(store.spans(session_id="s1")["trace_id"]) == {f"t{i:06d}" for i in range(24) if i % 3 == 1}
    assert len(store.spans(user_id="u0", kind="agent")) == 5
    assert len(store.spans(tags="beta")) == 12 and len(store.spans(tags=["prod", "beta"])) == 24
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    win = store.spans(start=t0 + pd.Timedelta(minutes=5), end=t0 + pd.Timedelta(minutes=10), kind="agent")
    assert win["trace_id"].tolist() == [f"t{i:06d}" for i in range(5, 10)]
    assert len(store.spans(start="2025-01-01 00:20:00")) == 8  # naive times are UTC
    assert len(store.spans(limit=3)) == 3
    with pytest.raises(ValueError, match="kind=.*not valid; valid values"):
        store.spans(kind="llms")
    # traces(): whole traces that have a matching span
    tr = store.traces(status="error")
    assert len(tr) == 6 and (tr["n_spans"] == 2).all() and tr["has_error"].all()
    tr = store.traces(model="claude-3-5-sonnet")
    assert len(tr) == 8 and all(m == ["claude-3-5-sonnet"] for m in tr["models"])
    assert len(store.traces(session_id="s0", user_id="u0")) == 2  # i % 15 == 0: 0 and 15


def test_sql_error_rate_and_p95_by_model(store):
    store.add_spans(_spans(30))
    out = store.sql(
        "SELECT model, avg(CASE WHEN status = 'error' THEN 1.0 ELSE 0.0 END) AS error_rate, "
        "quantile_cont(latency_ms, 0.95) AS p95_ms, count(*) AS n FROM spans WHERE kind = 'llm' "
        "GROUP BY model ORDER BY model"
    )
    df = store.spans(kind="llm")
    for _, r in out.iterrows():
        sub = df[df["model"] == r["model"]]
        assert r["n"] == len(sub)
        assert r["error_rate"] == pytest.approx((sub["status"] == "error").mean())
        assert r["p95_ms"] == pytest.approx(sub["latency_ms"].quantile(0.95))
    assert store.sql("SELECT count(*) AS n FROM spans WHERE model = ?", ["gpt-4o"])["n"].tolist() == [10]


def test_on_conflict_replace(store):
    df = _spans(4)
    store.add_spans(df)
    changed = df[df["span_id"] == "llm"].assign(output_text="fixed", status="ok")
    with pytest.raises(ValueError, match="on_conflict"):
        store.add_spans(changed, on_conflict="overwrite")
    assert store.add_spans(changed) == 0  # ignore by default
    assert store.add_spans(changed, on_conflict="replace") == 4
    got = store.spans(kind="llm")
    assert len(got) == 4 and set(got["output_text"]) == {"fixed"} and set(got["status"]) == {"ok"}
    assert len(store.spans()) == 8
    assert store.sql("SELECT count(*) AS n FROM spans")["n"].tolist() == [8]


def test_compaction_merges_segments_and_resolves_replacements(store):
    for k in range(5):
        store.add_spans(_spans(3, prefix=f"c{k}-"))
    store.add_spans(_spans(3, prefix="c0-").assign(output_text="v2"), on_conflict="replace")
    assert len(store.files("spans")) == 6
    before = store.spans().sort_values(["trace_id", "span_id"]).reset_index(drop=True)
    store.compact("spans")
    assert len(store.files("spans")) == 1 and store.count("spans") == 30
    after = store.spans().sort_values(["trace_id", "span_id"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    assert set(after.loc[after["trace_id"].str.startswith("c0-"), "output_text"]) == {"v2"}
    # compaction is idempotent and adding after it still deduplicates
    store.compact("spans")
    assert store.add_spans(_spans(3, prefix="c1-")) == 0


def test_other_tables_register_and_state(store):
    from llmops_nb.schema import Column, Table

    notes = Table("notes", "one row per note", (Column("note_id", "str", "id", True), Column("text", "str", "body")))
    store.register("notes", notes, key=["note_id"])
    assert store.add("notes", pd.DataFrame([{"note_id": "n1", "text": "a"}])) == 1
    assert store.read("notes", "note_id = ?", ["n1"])["text"].tolist() == ["a"]
    with pytest.raises(KeyError, match="unknown table 'nope'"):
        store.read("nope")
    store.set_state("watermark", {"langfuse": "2025-01-01"})
    assert lo.Store(store.path).get_state("watermark") == {"langfuse": "2025-01-01"}


_WRITER = textwrap.dedent(
    """
    import sys, pandas as pd
    import llmops_nb as lo
    store = lo.Store(sys.argv[1])
    n, loops, prefix = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    base = pd.Timestamp("2025-01-01", tz="UTC")
    for k in range(loops):
        rows = [{"trace_id": f"{prefix}{k}-{i}", "span_id": "s", "kind": "llm", "model": "m",
                 "start_time": base, "end_time": base, "input_text": "x" * 200, "source_format": "test"}
                for i in range(n)]
        store.add_spans(lo.read_traces(rows, format="records"))
        print(k, flush=True)
    """
)


def _writer(path: Path, n: int, loops: int, prefix: str = "w") -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(n), str(loops), prefix],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_killed_ingest_leaves_the_store_as_it_was(tmp_path):
    path = tmp_path / "store"
    store = lo.Store(path)
    store.add_spans(_spans(5))
    for delay in (0.0, 0.4, 0.9):
        before = store.count("spans")
        proc = _writer(path, 20_000, 50, prefix=f"run{delay}-")
        time.sleep(2.5 + delay)  # python start-up and imports, then part-way through a write
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = len(proc.stdout.read().split())
        reread = lo.Store(path)
        n = reread.count("spans")
        assert (n - before) % 20_000 == 0, "a killed ingest left part of a batch"
        assert n - before >= done * 20_000
        spans = reread.spans()
        assert len(spans) == n and spans.groupby("trace_id").size().max() <= 2
        assert reread.add_spans(_spans(5)) == 0  # the store still deduplicates


def test_reader_while_another_process_ingests(tmp_path):
    path = tmp_path / "store"
    lo.Store(path).add_spans(_spans(2))
    proc = _writer(path, 2_000, 15)
    reader = lo.Store(path)
    counts = []
    try:
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline:
            counts.append(len(reader.spans(kind="llm")))
            counts.append(int(reader.sql("SELECT count(*) AS n FROM spans")["n"][0]))
    finally:
        proc.wait(timeout=120)
    assert proc.returncode == 0, proc.stderr.read()
    assert len(counts) > 4
    llm_counts = counts[0::2]
    assert llm_counts == sorted(llm_counts), "a reader saw the store shrink"
    assert len(reader.spans()) == 4 + 15 * 2_000


_KILLED_AT = textwrap.dedent("""
    import os, signal, sys
    import pandas as pd
    import llmops_nb as lo
    path, where = sys.argv[1], sys.argv[2]
    real_replace, real_write_manifest = os.replace, lo.Store._write_manifest

    def replace(src, dst):  # kill -9 right before the segment file is renamed into place
        if where == "segment" and os.path.basename(str(src)).startswith(".seg-"):
            os.kill(os.getpid(), signal.SIGKILL)
        return real_replace(src, dst)

    def write_manifest(self, name, manifest):  # ... or after it, right before the manifest swap
        if where == "manifest":
            os.kill(os.getpid(), signal.SIGKILL)
        return real_write_manifest(self, name, manifest)

    os.replace, lo.Store._write_manifest = replace, write_manifest
    base = pd.Timestamp("2025-01-01", tz="UTC")
    rows = [{"trace_id": f"k{i}", "span_id": "s", "kind": "llm", "start_time": base, "end_time": base,
             "input_text": "x" * 200, "source_format": "test"} for i in range(3000)]
    lo.Store(path).add_spans(lo.read_traces(rows, format="records"))
""")


def _leftovers(path: Path) -> list[str]:
    d = path / "tables" / "spans"
    known = {s["file"] for s in lo.Store(path)._manifest("spans")["segments"]}
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".tmp") or (p.suffix == ".parquet" and p.name not in known))


def test_leftovers_of_killed_writes_are_removed_but_never_under_a_writer(tmp_path):
    """add_spans killed (kill -9) mid-write leaves a .tmp segment, or a segment no manifest names:
    ``cleanup()`` removes both, but not while another writer holds the lock; the next Store that
    writes removes them by itself. The stored rows are untouched."""
    from filelock import FileLock

    path = tmp_path / "store"
    store = lo.Store(path)
    store.add_spans(_spans(5))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def killed_at(where: str) -> None:
        proc = subprocess.run([sys.executable, "-c", _KILLED_AT, str(path), where], env=env, capture_output=True,
                              text=True, cwd=ROOT, timeout=120)
        assert proc.returncode == -signal.SIGKILL, proc.stderr

    killed_at("segment")  # a half-written segment: .seg-*.parquet.tmp
    left = _leftovers(path)
    assert len(left) == 1 and left[0].startswith(".seg-") and left[0].endswith(".tmp"), left
    assert lo.Store(path).count("spans") == 10
    held = FileLock(str(path / ".write.lock"), timeout=0)
    held.acquire()  # a writer at work: nothing is removed, even files that look abandoned
    try:
        assert lo.Store(path).cleanup() == []
        assert _leftovers(path) == left
    finally:
        held.release()
    assert [Path(p).name for p in lo.Store(path).cleanup()] == left
    assert _leftovers(path) == [] and lo.Store(path).count("spans") == 10
    # killed between the segment rename and the manifest swap: a segment no manifest names
    killed_at("manifest")
    left = _leftovers(path)
    assert len(left) == 1 and left[0].startswith("seg-") and left[0].endswith(".parquet"), left
    assert len(lo.Store(path).spans()) == 10  # readers never see it
    # the next open: the first write of a new Store clears it by itself
    reopened = lo.Store(path)
    assert reopened.add_spans(_spans(7)) == 4  # 2 new traces of 2 spans
    assert _leftovers(path) == []
    assert len(reopened.spans()) == 14
    # the key index: one file per live segment (the killed write's index is removed with it)
    live = sorted(Path(f).name + ".keys" for f in reopened.files("spans"))
    assert sorted(p.name for p in (path / "tables" / "spans" / "_keys").iterdir()) == live


def test_segments_of_several_row_groups_are_sorted_one_row_group_is_kept_as_given(store, monkeypatch):
    """A segment is sorted by start time when it spans several row groups (readers skip row groups
    by their min/max, which then cover separate ranges); a segment of one row group has the same
    min/max in any order, so it is written as given (no copy of every column)."""
    import pyarrow.parquet as pq

    from llmops_nb.store import _store

    monkeypatch.setattr(_store, "_ROW_GROUP", 8)
    small = _spans(4, prefix="a").iloc[::-1].reset_index(drop=True)  # 8 rows, latest first
    store.add_spans(small)
    big = _spans(12, prefix="b").iloc[::-1].reset_index(drop=True)  # 24 rows: 3 row groups
    store.add_spans(big)
    small_file, big_file = store.files("spans")
    assert pq.read_table(small_file)["span_id"].to_pylist() == small["span_id"].tolist()
    meta = pq.ParquetFile(big_file).metadata
    col = meta.schema.to_arrow_schema().get_field_index("start_time")
    ranges = [(meta.row_group(i).column(col).statistics.min, meta.row_group(i).column(col).statistics.max)
              for i in range(meta.num_row_groups)]
    assert len(ranges) == 3 and all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:]))
    assert len(store.spans()) == 32 and store.spans()["start_time"].is_monotonic_increasing


def test_stored_keys_are_checked_through_each_segments_key_index(store):
    """Store.add checks new rows against a key index per segment (sorted 64-bit key hashes in
    ``_keys/``, outside the lake's files): a batch of new keys reads no stored segment at all;
    re-sent rows are still skipped exactly; an index that is missing, cut short or made by another
    hash function is rebuilt from its segment, never trusted."""
    from llmops_nb.store import _store

    for k in range(3):
        store.add_spans(_spans(5, prefix=f"s{k}"))
    d = store.path / "tables" / "spans"
    files = [Path(f) for f in store.files("spans")]
    assert sorted(p.name for p in (d / "_keys").iterdir()) == sorted(f.name + ".keys" for f in files)
    hidden = files[0].with_name(".hidden")
    files[0].rename(hidden)  # a batch of new keys must not need to read it
    try:
        assert store.add_spans(_spans(4, prefix="n")) == 8
    finally:
        hidden.rename(files[0])
    assert store.add_spans(pd.concat([_spans(5, prefix="s1"), _spans(2, prefix="m")], ignore_index=True)) == 4
    # a store written before the index, a torn index, an index of another hash function: rebuilt
    (d / "_keys" / (files[0].name + ".keys")).unlink()
    torn = d / "_keys" / (files[1].name + ".keys")
    torn.write_bytes(torn.read_bytes()[:-8])
    other = d / "_keys" / (files[2].name + ".keys")
    raw = bytearray(other.read_bytes())
    raw[8:16] = (int.from_bytes(raw[8:16], "little") ^ 1).to_bytes(8, "little")  # the hash probe
    other.write_bytes(bytes(raw))
    again = pd.concat([_spans(5, prefix=f"s{k}") for k in range(3)] + [_spans(1, prefix="z")], ignore_index=True)
    assert store.add_spans(again) == 2
    assert store.count("spans") == 30 + 8 + 4 + 2 and len(store.spans()) == 44
    assert _store._read_keys(torn) is not None and _store._read_keys(other) is not None


def test_key_hash_collisions_are_confirmed_on_the_keys(store, monkeypatch):
    """Every row's hash the same (the worst collisions): each row is then a candidate and the
    stored keys decide; nothing new is skipped, nothing stored twice."""
    from llmops_nb.store import _store

    monkeypatch.setattr(_store, "_HASH_SQL", "hash(0) + 0 * hash({cols})")
    monkeypatch.setattr(_store, "_PROBE", [])
    store.add_spans(_spans(6, prefix="a"))
    assert store.add_spans(pd.concat([_spans(6, prefix="a"), _spans(3, prefix="b")], ignore_index=True)) == 6
    assert store.add_spans(_spans(3, prefix="b")) == 0
    assert store.count("spans") == 18 and len(store.spans()) == 18


def test_writes_reuse_one_duckdb_connection_per_thread_and_release_the_batch(store):
    """The key checks of a write run on this thread's DuckDB connection (made once: a new
    in-memory database per write costs milliseconds); after each write it holds no view of the
    batch (its memory is released); another thread writes through a connection of its own."""
    import threading

    from llmops_nb.store import _store

    def views(con):
        return con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()

    store.add_spans(_spans(3, prefix="a"))
    con = _store._WRITE_CONS.con[1]
    store.add_spans(pd.concat([_spans(3, prefix="a"), _spans(2, prefix="b")], ignore_index=True))
    assert _store._WRITE_CONS.con[1] is con and views(con) == []
    other = []

    def write() -> None:
        store.add_spans(_spans(2, prefix="c"))
        other.append(_store._WRITE_CONS.con[1])

    t = threading.Thread(target=write)
    t.start()
    t.join()
    assert other and other[0] is not con and views(other[0]) == []
    assert store.count("spans") == 14 and len(store.spans()) == 14


def test_a_tables_arrow_schema_is_built_once():
    """``Table.arrow_schema`` is built once per table (the receiver asks for it per body) and is
    the schema its columns declare."""
    import pyarrow as pa

    from llmops_nb.schema import SPANS

    assert SPANS.arrow_schema is SPANS.arrow_schema
    fresh = pa.schema([pa.field(c.name, c.arrow_type, nullable=not c.required) for c in SPANS.columns])
    assert SPANS.arrow_schema.remove_metadata().equals(fresh)
    assert SPANS.arrow_schema.metadata[b"llmops_nb.table"] == b"spans"
