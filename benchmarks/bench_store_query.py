"""Benchmark: lazy store queries over 10M stored spans.

Generates ``--spans`` (default 10,000,000) spans straight as Arrow batches with DuckDB (trace and
span ids, kind, status, model, times, latency, tokens, text; other columns null), stores them with
``Store.add`` (the store's own segments), then times, each in this process with wall and CPU time:

- floor: the query with DuckDB straight over the store's Parquet files (no llmops_nb);
- ``store.query(sql).df()``: the lazy relation, error rate + p95 latency by model;
- ``store.spans(lazy=True).filter(...).aggregate(...)``: the same through the relation API;
- eager, for comparison: ``store.sql(sql)`` (the DataFrame API).

Target: the error-rate + p95-by-model query over 10M stored spans < 2 s.

Usage: ``python benchmarks/bench_store_query.py [--spans 10000000] [--dir DIR]``
"""

from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from llmops_nb.schema import SPANS
from llmops_nb.store import Store

QUERY = ("SELECT model, avg(CASE WHEN status = 'error' THEN 1.0 ELSE 0.0 END) AS error_rate, "
         "quantile_cont(latency_ms, 0.95) AS p95_latency_ms, count(*) AS n "
         "FROM spans WHERE kind = 'llm' GROUP BY model ORDER BY model")

GEN = """
SELECT printf('%032x', i // 5) AS trace_id, printf('%016x', i) AS span_id,
       CASE WHEN i % 5 = 0 THEN NULL ELSE printf('%016x', i - i % 5) END AS parent_span_id,
       CASE i % 5 WHEN 0 THEN 'agent' WHEN 1 THEN 'retriever' WHEN 3 THEN 'tool' ELSE 'llm' END AS kind,
       CASE WHEN hash(i) % 20 = 0 THEN 'error' ELSE 'ok' END AS status,
       CASE WHEN i % 5 IN (2, 4) THEN ['gpt-4o-mini', 'gpt-4o', 'claude-3-5-sonnet', 'gemini-2.5-flash', 'llama-3.1-70b'][(i // 5) % 5 + 1] END AS model,
       TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_microseconds(i * 1000) AS start_time,
       TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_microseconds(i * 1000 + lat_us) AS end_time,
       lat_us / 1000.0 AS latency_ms,
       CASE WHEN i % 5 IN (2, 4) THEN (hash(i * 3) % 3000)::BIGINT END AS prompt_tokens,
       'question ' || (i % 997)::VARCHAR AS input_text,
       'bench' AS source_format
FROM (SELECT i, (hash(i * 7) % 3000000)::BIGINT + 20000 AS lat_us FROM range({a}, {b}) t(i))
"""


def _batch(con: duckdb.DuckDBPyConnection, a: int, b: int) -> pa.Table:
    t = con.sql(GEN.format(a=a, b=b)).to_arrow_table()
    cols = {}
    for c in SPANS.columns:
        if c.name in t.column_names:
            cols[c.name] = t.column(c.name).cast(c.arrow_type)
        else:
            cols[c.name] = pa.nulls(t.num_rows, c.arrow_type)
    return pa.table(cols).cast(SPANS.arrow_schema)


def generate(store: Store, n: int, chunk: int = 2_000_000) -> None:
    con = duckdb.connect()
    for a in range(0, n, chunk):
        store.add("spans", _batch(con, a, min(n, a + chunk)))


def timed(fn):  # noqa: ANN001, ANN201
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spans", type=int, default=10_000_000)
    ap.add_argument("--dir", default=None, help="store folder (kept and reused when it holds the same count)")
    args = ap.parse_args(argv)
    path = Path(args.dir or tempfile.mkdtemp(prefix="bench_store_query_"))
    store = Store(path)
    if store.count("spans") != args.spans:
        if path.exists() and store.count("spans"):
            raise SystemExit(f"{path} holds {store.count('spans'):,} spans, not {args.spans:,}: give another --dir")
        _, w, c = timed(lambda: generate(store, args.spans))
        print(f"generated and stored {args.spans:,} spans in {w:.1f}s wall ({c:.1f}s CPU)")
    files = sorted(glob.glob(os.path.join(path, "tables", "spans", "*.parquet")))  # the live segments (not _retired/)
    flist = ", ".join(f"'{f}'" for f in files)
    floor_con = duckdb.connect()
    floor_sql = QUERY.replace("FROM spans", f"FROM read_parquet([{flist}])")
    floor_con.sql(floor_sql).fetchall()  # warm the OS cache once, as every timed run below
    store.query(QUERY).df()

    floor, fw, fc = timed(lambda: floor_con.sql(floor_sql).df())
    lazy, lw, lc = timed(lambda: store.query(QUERY).df())
    rel, rw, rc = timed(lambda: store.spans(lazy=True).filter("kind = 'llm'").aggregate(
        "model, avg(CASE WHEN status = 'error' THEN 1.0 ELSE 0.0 END) AS error_rate, "
        "quantile_cont(latency_ms, 0.95) AS p95_latency_ms, count(*) AS n", "model").order("model").df())
    eager, ew, ec = timed(lambda: store.sql(QUERY))
    assert lazy.equals(floor.reset_index(drop=True)) or lazy["n"].tolist() == floor["n"].tolist()
    assert rel["n"].tolist() == lazy["n"].tolist()
    print(lazy.to_string(index=False))
    print(f"\nerror rate + p95 latency by model over {store.count('spans'):,} stored spans "
          f"({sum(os.path.getsize(f) for f in files) / 2**20:.0f} MB of Parquet, {os.cpu_count()} cores, shared machine):")
    for label, w, c in (("floor: DuckDB over the Parquet files", fw, fc), ("store.query(sql).df()  (lazy)", lw, lc),
                        ("store.spans(lazy=True) relation API", rw, rc), ("store.sql(sql)  (eager API)", ew, ec)):
        print(f"  {label:<40} {w:7.3f}s wall {c:7.3f}s CPU")
    n = store.count("spans")
    scope = "" if n >= 10_000_000 else f" (measured at {n:,} spans, not 10M)"
    print(f"\n  [{'met' if lw < 2 else 'MISSED'}] query < 2 s over 10M stored spans{scope}: {lw:.3f}s wall "
          f"({lw / max(fw, 1e-9):.1f}x the floor)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
