"""Benchmark: CPU of one ``Store.add`` of 50k new spans as the store grows (the receiver's write).

Fills a store with ``--segments`` writes of ``--batch`` spans with random trace and span ids (as
OTLP exporters make them; other columns mostly null, so the key check weighs as much as it can),
then, at each size in ``--at``, adds a batch of new spans and prints, in CPU time per span:

- baseline, measured in the same run: what the write did before the key index, a DuckDB anti-join
  of the batch's keys against the key columns of every stored segment (reads every stored key);
- the key index check alone (hash the batch, search each segment's sorted key hashes);
- the whole ``Store.add`` (key check, Parquet encode, fsyncs, manifest swap).

Usage: ``python benchmarks/bench_store_write.py [--segments 40] [--at 10,20,40] [--batch 50000]``
"""

from __future__ import annotations

import argparse
import tempfile
import time

import duckdb
import pyarrow as pa

from llmops_nb.schema import SPANS
from llmops_nb.store import Store, _store

GEN = """
SELECT md5(random()::VARCHAR || i::VARCHAR) AS trace_id, left(md5(random()::VARCHAR || i::VARCHAR), 16) AS span_id,
       'llm' AS kind, 'ok' AS status, 'chat' AS name, 'gpt-4o-mini' AS model,
       TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_microseconds(i * 1000) AS start_time,
       'question ' || (i % 997)::VARCHAR AS input_text, 'bench' AS source_format
FROM range({a}, {b}) t(i)
"""


def batch(con: duckdb.DuckDBPyConnection, a: int, n: int) -> pa.Table:
    t = con.sql(GEN.format(a=a, b=a + n)).to_arrow_table()
    cols = {c.name: t.column(c.name).cast(c.arrow_type) if c.name in t.column_names else pa.nulls(n, c.arrow_type)
            for c in SPANS.columns}
    return pa.table(cols).cast(SPANS.arrow_schema)


def cpu(fn):  # noqa: ANN001, ANN201
    c = time.process_time()
    out = fn()
    return out, time.process_time() - c


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segments", type=int, default=40)
    ap.add_argument("--at", default="10,20,40", help="sizes (in segments) at which to measure")
    ap.add_argument("--batch", type=int, default=50_000)
    args = ap.parse_args(argv)
    at = sorted({int(x) for x in args.at.split(",")})
    store = Store(tempfile.mkdtemp(prefix="bench_store_write_"))
    con = duckdb.connect()
    n = args.batch
    print(f"{'stored':>11} {'segments':>8} {'baseline us/span':>17} {'key index us/span':>18} {'Store.add us/span':>18}")
    written = 0
    for k in range(1, max(at) + 1):
        store.add("spans", batch(con, written, n))
        written += n
        if k not in at:
            continue
        new = batch(con, written, n)
        files = store.files("spans")
        con.register("new_rows", new)
        flist = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
        sql = (f"SELECT b.__i FROM (SELECT trace_id, span_id, row_number() OVER () - 1 AS __i FROM new_rows) b "
               f"SEMI JOIN (SELECT trace_id, span_id FROM read_parquet([{flist}])) o USING (trace_id, span_id)")
        _, base = cpu(lambda: con.execute(sql).fetchnumpy())  # noqa: B023

        def index_check() -> int:
            import numpy as np

            h = _store._key_hashes(con, "new_rows", ("trace_id", "span_id"))
            order = np.argsort(h)
            hits = 0
            for seg in store._manifest("spans")["segments"]:
                hits += int(_store._contains(store._key_index(con, "spans", seg["file"]), h[order]).sum())
            return hits

        hits, idx = cpu(index_check)
        rows0 = store.count("spans")
        added, full = cpu(lambda: store.add("spans", new))  # noqa: B023
        written += n
        assert added == n and store.count("spans") == rows0 + n and hits == 0
        print(f"{rows0:>11,} {len(files):>8} {base / n * 1e6:>17.2f} {idx / n * 1e6:>18.2f} {full / n * 1e6:>18.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
