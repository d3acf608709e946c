"""read_traces on object-store URLs (s3:// through fsspec): moto's server on 127.0.0.1, real fixture
files uploaded from ../shared/fixtures (read in place), frames compared with local reads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from moto_s3 import moto_s3

import llmops_nb as lo
from llmops_nb.loaders import LoadError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures"  # read in place, never copied
FILES = {  # key under the prefix -> fixture: JSON documents, JSONL streamed by line, an Inspect .eval zip
    "traces/otlp.json": "otlp-examples/trace.json",
    "traces/langfuse-autogen.json": "langfuse/autogen-2025-06-06.trace.json",
    "traces/langsmith.jsonl": "real/langsmith/anthropic_managed_custom_tools.jsonl",
    "traces/inspect/log_formats.eval": "real/inspect-ai/log_formats.eval",
}
BUCKET = "lo-traces"
BROKEN = b'{"trace_id": "t1", "span_id": "s1", "kind": "llm", "model": "m"}\n{oops\n'
UNKNOWN = b'{"not": "a span"}\n'


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    pytest.importorskip("s3fs")
    missing = [f for f in FILES.values() if not (FIXTURES / f).is_file()]
    if missing:
        pytest.skip(f"fixtures not found beside the repo: {missing}")
    with moto_s3(tmp_path_factory.mktemp("moto"), BUCKET) as (client, _env):
        for key, rel in FILES.items():
            client.upload_file(str(FIXTURES / rel), BUCKET, key)
        client.put_object(Bucket=BUCKET, Key="traces/README.md", Body=b"not a trace file")
        client.put_object(Bucket=BUCKET, Key="bad/broken.jsonl", Body=BROKEN)
        client.put_object(Bucket=BUCKET, Key="notes/readme.txt", Body=b"hello")
        client.put_object(Bucket=BUCKET, Key="bad/unknown.json", Body=UNKNOWN)
        import fsspec

        fsspec.filesystem("s3").clear_instance_cache()
        yield client


def _local(keys: list[str]) -> pd.DataFrame:
    return lo.read_traces([str(FIXTURES / FILES[k]) for k in keys], workers=1)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) > 0
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


def test_one_key_reads_as_the_local_file(s3) -> None:
    for key in FILES:
        _same(lo.read_traces(f"s3://{BUCKET}/{key}"), _local([key]))


def test_a_prefix_a_list_and_a_glob_read_as_the_local_files(s3) -> None:
    keys = sorted(FILES)  # keys listed in order, README.md under the prefix ignored as in a directory
    expected = _local(keys)
    _same(lo.read_traces(f"s3://{BUCKET}/traces/"), expected)
    _same(lo.read_traces(f"s3://{BUCKET}/traces"), expected)
    _same(lo.read_traces([f"s3://{BUCKET}/{k}" for k in keys]), expected)
    json_keys = sorted(k for k in keys if k.endswith(".json"))
    _same(lo.read_traces(f"s3://{BUCKET}/traces/*.json"), _local(json_keys))
    _same(lo.read_traces(f"s3://{BUCKET}/traces/**/*.eval"), _local(["traces/inspect/log_formats.eval"]))


def test_workers_read_urls_as_one_process(s3) -> None:
    keys = sorted(FILES)
    _same(lo.read_traces(f"s3://{BUCKET}/traces/", workers=2), _local(keys))


def test_default_workers_count_the_listed_object_sizes(s3, monkeypatch) -> None:
    from llmops_nb.loaders import _read

    items = _read._expand(f"s3://{BUCKET}/traces/")
    sizes = [it.size for it in items]
    assert sizes == [(FIXTURES / FILES[k]).stat().st_size for k in sorted(FILES)]
    assert [_read._expand(u)[0].size for u in (items[0], f"s3://{BUCKET}/traces/*.json")] == sizes[:2]
    monkeypatch.setattr(_read, "PARALLEL_MIN_BYTES", sum(sizes))
    assert _read._n_workers(items, None) == min(len(items), os.cpu_count() or 1)
    monkeypatch.setattr(_read, "PARALLEL_MIN_BYTES", sum(sizes) + 1)
    assert _read._n_workers(items, None) == 1


def test_missing_key_empty_prefix_and_no_match_name_the_url(s3) -> None:
    for url, what in [(f"s3://{BUCKET}/traces/nope.jsonl", "no such object or prefix"),
                      (f"s3://{BUCKET}/empty/", "no such object or prefix"),
                      (f"s3://{BUCKET}/notes/", "none a trace file"),
                      (f"s3://{BUCKET}/traces/*.csv", "no object matches the pattern")]:
        with pytest.raises(LoadError) as e:
            lo.read_traces(url)
        assert e.value.file == url and url in str(e.value) and what in str(e.value)


def test_a_bad_record_names_the_url_and_the_line(s3, tmp_path: Path) -> None:
    """The same errors and report as the same bytes read locally, naming the URL (never the local copy)."""
    for name, body, fmt in [("broken.jsonl", BROKEN, "records"), ("unknown.json", UNKNOWN, None)]:
        url, local = f"s3://{BUCKET}/bad/{name}", tmp_path / name
        local.write_bytes(body)
        kw = {"format": fmt} if fmt else {}
        with pytest.raises(LoadError) as remote_err:
            lo.read_traces(url, **kw)
        with pytest.raises(LoadError) as local_err:
            lo.read_traces(local, **kw)
        assert remote_err.value.file == url and type(remote_err.value) is type(local_err.value)
        assert str(remote_err.value) == str(local_err.value).replace(str(local), url)
        assert ("record line 2" if name == "broken.jsonl" else "could not tell the format") in str(remote_err.value)
        spans, report = lo.read_traces(url, errors="skip", **kw)
        spans_here, report_here = lo.read_traces(local, errors="skip", **kw)
        pd.testing.assert_frame_equal(spans, spans_here)
        assert set(report["file"]) == {url} and len(report) == len(report_here) >= 1
        assert report["record"].tolist() == report_here["record"].tolist()
        assert report["error"].tolist() == [e.replace(str(local), url) for e in report_here["error"]]


def test_missing_s3fs_gives_the_pip_hint(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # import s3fs then raises ImportError
    with pytest.raises(ImportError, match=r'install it with: pip install "llmops-nb\[s3\]"'):
        lo.read_traces("s3://any-bucket/traces/")


def test_ray_tasks_fetch_their_urls(s3, tmp_path: Path) -> None:
    """engine="ray": each task copies its objects through fsspec (a one-node Ray started here, after
    the S3 settings, so its workers see them); the same frame, report and Parquet parts as locally."""
    ray = pytest.importorskip("ray")
    keys = sorted(FILES)
    # address="local": a Ray of its own, never one another process left running on this machine
    eng = lo.engine("ray", address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        _same(lo.read_traces(f"s3://{BUCKET}/traces/", engine=eng), _local(keys))
        urls = [f"s3://{BUCKET}/{keys[0]}", f"s3://{BUCKET}/bad/broken.jsonl", f"s3://{BUCKET}/{keys[1]}"]
        (lf, lr), (rf, rr) = (lo.read_traces(urls, errors="skip", format=None, engine=e) for e in ("local", eng))
        pd.testing.assert_frame_equal(lf, rf)
        pd.testing.assert_frame_equal(lr, rr)
        assert set(rr["file"]) == {urls[1]}
        with pytest.raises(LoadError, match="s3://lo-traces/bad/broken.jsonl"):
            lo.read_traces(urls, engine=eng)
        ds = lo.read_traces(f"s3://{BUCKET}/traces/", engine=eng, to_parquet=tmp_path / "lake")
        assert ds.count() == len(_local(keys))
    finally:
        lo.engine("local")
        ray.shutdown()
