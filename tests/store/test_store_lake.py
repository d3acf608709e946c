"""The store is an open lake: its Parquet segments, read WITHOUT llmops_nb by DuckDB, pyarrow
(and Spark or Ray where installed), give the rows ``store.spans()`` gives: after several
writes, after a compaction (replaced segments wait in ``_retired/``, outside the live files),
and, with the documented newest-file-wins rule, after rows were replaced."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pytest

import llmops_nb as lo
from llmops_nb.schema import SPANS, from_arrow


def _canon(table: pa.Table) -> pd.DataFrame:
    """Rows read by another tool, as a spans frame in a fixed order."""
    frame = from_arrow(table.select(SPANS.names).cast(SPANS.arrow_schema), SPANS)
    return frame.sort_values(["trace_id", "span_id"]).reset_index(drop=True)


def _stored(store: lo.Store) -> pd.DataFrame:
    return store.spans().sort_values(["trace_id", "span_id"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> lo.Store:
    spans = lo.demo.generate(n_traces=60, seed=1).spans  # messages, documents, tags, JSON metadata
    traces = sorted(spans["trace_id"].unique())
    chunks = [spans[spans["trace_id"].isin(traces[i::6])] for i in range(6)]
    store = lo.Store(tmp_path_factory.mktemp("lake") / "store")
    for c in chunks[:4]:
        store.add_spans(c)
    store.compact()  # 4 segments -> 1; the 4 wait in _retired/ for readers holding the old manifest
    for c in chunks[4:]:
        store.add_spans(c)
    assert len(store.files("spans")) == 3 and len(list((store.path / "tables/spans/_retired").glob("*.parquet"))) == 4
    return store


def test_duckdb_reads_the_folder(lake: lo.Store) -> None:
    folder = lake.path / "tables" / "spans"
    got = duckdb.sql(f"SELECT * FROM read_parquet('{folder}/*.parquet')").to_arrow_table()
    pd.testing.assert_frame_equal(_canon(got), _stored(lake))
    assert len(got) == lake.count("spans") == 408


def test_pyarrow_dataset_reads_the_folder(lake: lo.Store) -> None:
    got = ds.dataset(lake.path / "tables" / "spans", format="parquet").to_table()  # skips _retired/ and dot files
    pd.testing.assert_frame_equal(_canon(got), _stored(lake))


def test_json_columns_are_json_text(lake: lo.Store) -> None:
    folder = lake.path / "tables" / "spans"
    meta = duckdb.sql(f"SELECT metadata FROM read_parquet('{folder}/*.parquet') WHERE metadata IS NOT NULL LIMIT 1").fetchall()[0]
    assert isinstance(json.loads(meta[0]), dict)


def test_replaced_rows_newest_file_wins(tmp_path: Path, lake: lo.Store) -> None:
    store = lo.Store(tmp_path / "store")
    shutil.copytree(lake.path / "tables", store.path / "tables")
    (store.path / "store.json").write_bytes((lake.path / "store.json").read_bytes())
    spans = store.spans()
    changed = spans[spans["kind"] == "llm"].head(5).copy()
    changed["output_text"] = "rewritten"
    store.add_spans(changed, on_conflict="replace")
    folder = store.path / "tables" / "spans"
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert manifest["replaced"] is True
    # the folder holds both versions of the 5 rows; the newest file (names sort by write time) wins
    sql = (f"SELECT * EXCLUDE (filename) FROM read_parquet('{folder}/*.parquet', filename=true) "
           "QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY filename DESC) = 1")
    got = duckdb.sql(sql).to_arrow_table()
    pd.testing.assert_frame_equal(_canon(got), _stored(store))
    assert (_canon(got)["output_text"] == "rewritten").sum() == 5
    store.compact()  # one file again: every tool reads it as it is
    got = ds.dataset(folder, format="parquet").to_table()
    pd.testing.assert_frame_equal(_canon(got), _stored(store))


def test_the_manifest_lists_the_live_segments(lake: lo.Store) -> None:
    """Read exactly the manifest's segments from DuckDB alone (what a reader does while a writer
    may be mid-write: a segment is live once the manifest names it)."""
    folder = lake.path / "tables" / "spans"
    con = duckdb.connect()
    con.execute(f"SET VARIABLE segments = (SELECT list('{folder}/' || s.file) "
                f"FROM (SELECT unnest(segments) AS s FROM read_json('{folder}/_manifest.json')))")
    got = con.sql("SELECT * FROM read_parquet(getvariable('segments'))").to_arrow_table()
    pd.testing.assert_frame_equal(_canon(got), _stored(lake))


def _java() -> bool:
    try:
        return subprocess.run(["java", "-version"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.slow
def test_spark_reads_the_folder(lake: lo.Store) -> None:
    pytest.importorskip("pyspark", reason="pip install pyspark (and a Java runtime) to read the store with Spark")
    if not _java():
        pytest.skip("no Java runtime: Spark needs one")
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master("local[1]").appName("llmops-lake-test")
             .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC").getOrCreate())
    cols = ["trace_id", "span_id", "kind", "status", "model", "latency_ms", "input_text", "metadata"]
    try:
        df = spark.read.parquet(str(lake.path / "tables" / "spans"))  # skips _manifest.json and _retired/
        got = sorted(tuple(r[c] for c in cols) for r in df.select(*cols).collect())
        first_message = df.where("input_messages IS NOT NULL").orderBy("trace_id", "span_id").first()["input_messages"][0]
    finally:
        spark.stop()
    # the store's own SQL gives JSON columns as JSON text, as Spark reads them
    want = sorted(tuple(None if lo.schema.is_missing(v) else v for v in row)
                  for row in lake.sql(f"SELECT {', '.join(cols)} FROM spans").itertuples(index=False, name=None))
    stored = _stored(lake)
    assert got == want
    msgs = stored[stored["input_messages"].notna()].iloc[0]["input_messages"]
    assert first_message["role"] == msgs[0]["role"] and first_message["content"] == msgs[0]["content"]


@pytest.mark.slow
def test_ray_reads_the_folder(lake: lo.Store) -> None:
    ray = pytest.importorskip("ray", reason="pip install 'llmops_nb[ray]' to read the store with Ray")
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)  # never a running cluster
    try:
        got = ray.data.read_parquet(str(lake.path / "tables" / "spans"), file_extensions=["parquet"]).to_arrow_refs()
        table = pa.concat_tables(ray.get(got))
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(_canon(table), _stored(lake))


def test_automatic_compaction_merges_only_the_newer_small_segments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every _COMPACT_AFTER segments, the segments written after the last big one are merged (a
    big segment is not rewritten again and again); the merged ones leave the live folder."""
    from llmops_nb.store import _store

    monkeypatch.setattr(_store, "_COMPACT_AFTER", 4)
    monkeypatch.setattr(_store, "_BIG_SEGMENT", 50)
    spans = lo.demo.generate(n_traces=30, seed=2).spans
    traces = sorted(spans["trace_id"].unique())
    store = lo.Store(tmp_path / "store")
    store.add_spans(spans[spans["trace_id"].isin(traces[:10])])  # > 50 rows: a big segment
    big = store.files("spans")[0]
    for i in range(4):  # 4 small segments: the 4th write makes 5 > 4 and merges the 4 small ones
        store.add_spans(spans[spans["trace_id"].isin(traces[10 + 4 * i:14 + 4 * i])])
    files = store.files("spans")
    assert len(files) == 2 and files[0] == big
    folder = store.path / "tables" / "spans"
    assert sorted(map(str, folder.glob("*.parquet"))) == sorted(files)
    assert len(list((folder / "_retired").glob("*.parquet"))) == 4
    got = ds.dataset(folder, format="parquet").to_table()
    pd.testing.assert_frame_equal(_canon(got), _stored(store))
    assert len(got) == len(spans[spans["trace_id"].isin(traces[:26])])


def test_a_copy_on_s3_reads_the_same(lake: lo.Store, tmp_path: Path) -> None:
    """The store folder synced to an object store (here moto's S3 server on 127.0.0.1) is read by
    pyarrow straight from ``s3://``, the same rows."""
    import socket
    import sys
    import time

    boto3 = pytest.importorskip("boto3")
    exe = Path(sys.executable).parent / "moto_server"
    if not exe.exists():
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    from pyarrow import fs

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                          region_name="us-east-1")
        deadline = time.time() + 30
        while True:
            try:
                s3.create_bucket(Bucket="lake")
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        for f in lake.path.rglob("*"):  # what `aws s3 sync .llmops s3://lake/llmops` uploads
            if f.is_file():
                s3.upload_file(str(f), "lake", f"llmops/{f.relative_to(lake.path).as_posix()}")
        s3fs = fs.S3FileSystem(endpoint_override=endpoint, scheme="http", access_key="testing", secret_key="testing",
                               region="us-east-1")
        got = ds.dataset("lake/llmops/tables/spans", format="parquet", filesystem=s3fs).to_table()
    finally:
        server.terminate()
        server.wait(10)
    pd.testing.assert_frame_equal(_canon(got), _stored(lake))
