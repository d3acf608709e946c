"""Lazy store reads: spans(lazy=True) and query(sql) are DuckDB relations, run only when consumed,
with the same rows as the eager reads."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

import llmops_nb as lo
from llmops_nb.store import Store


def _spans(n: int, prefix: str = "t") -> pd.DataFrame:
    t0 = pd.Timestamp("2025-01-01", tz="UTC")
    rows = [{"trace_id": f"{prefix}{i:05d}", "span_id": "s", "kind": "llm" if i % 3 else "tool",
             "status": "error" if i % 4 == 0 else "ok", "model": ["a", "b"][i % 2],
             "start_time": t0 + pd.Timedelta(seconds=i), "end_time": t0 + pd.Timedelta(seconds=i, milliseconds=10 * (i % 9 + 1))}
            for i in range(n)]
    return lo.read_traces(rows, format="records")


def test_spans_lazy_is_a_relation_with_the_eager_rows(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    store.add_spans(_spans(60))
    rel = store.spans(lazy=True, kind="llm", status="error")
    assert hasattr(rel, "fetch_record_batch") and not isinstance(rel, pd.DataFrame)
    eager = store.spans(kind="llm", status="error")
    assert rel.df()["span_id"].size == len(eager) > 0
    assert rel.order("start_time, trace_id, span_id").df()["trace_id"].tolist() == eager["trace_id"].tolist()
    # columns selected and filtered in DuckDB before anything reaches pandas
    small = rel.filter("model = 'a'").order("start_time, trace_id, span_id").project("trace_id, latency_ms").df()
    assert list(small.columns) == ["trace_id", "latency_ms"]
    assert small["trace_id"].tolist() == eager[eager["model"] == "a"]["trace_id"].tolist()


def test_query_is_lazy_and_streams_arrow_batches(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    store.add_spans(_spans(50))
    q = ("SELECT model, avg(CASE WHEN status = 'error' THEN 1.0 ELSE 0.0 END) AS error_rate, "
         "quantile_cont(latency_ms, 0.95) AS p95, count(*) AS n FROM spans WHERE kind = 'llm' GROUP BY model ORDER BY model")
    rel = store.query(q)
    pd.testing.assert_frame_equal(rel.df(), store.sql(q))
    reader = store.query("SELECT trace_id FROM spans ORDER BY trace_id").fetch_record_batch(16)
    assert isinstance(reader, pa.RecordBatchReader)
    got = [b.num_rows for b in reader]
    assert sum(got) == 50 and max(got) <= 16 * 1024  # read batch by batch
    assert store.query("SELECT count(*) FROM spans WHERE model = ?", ["a"]).fetchall() == [(25,)]


def test_query_sees_spans_added_before_it_is_made(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    store.add_spans(_spans(10))
    assert store.query("SELECT count(*) FROM spans").fetchall() == [(10,)]
    store.add_spans(_spans(5, prefix="u"))
    assert store.query("SELECT count(*) FROM spans").fetchall() == [(15,)]


def test_a_relation_keeps_its_segments_and_with_queries_work(tmp_path: Path) -> None:
    store = Store(tmp_path / "s")
    store.add_spans(_spans(10))
    rel = store.query("SELECT count(*) FROM spans")
    lazy = store.spans(lazy=True)
    store.add_spans(_spans(5, prefix="u"))
    store.query("SELECT 1").fetchall()
    assert rel.fetchall() == [(10,)] and len(lazy.df()) == 10
    assert store.query("with x AS (SELECT trace_id FROM spans) SELECT count(*) FROM x").fetchall() == [(15,)]
