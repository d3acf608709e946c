"""Bad input: every case raises a clear error naming file, record and expectation
(errors="raise"), or is skipped and reported (errors="skip"); the store is never corrupted."""

from __future__ import annotations

import gzip
import json
import os

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.loaders import LoadError
from llmops_nb.schema import SPANS


def _span(sid, parent=None, trace="5b8efff798038103d269b633813fc60c", name="op", attrs=None, start=1544712660000000000):
    s = {"traceId": trace, "spanId": sid, "name": name, "startTimeUnixNano": str(start),
         "endTimeUnixNano": str(start + 1_000_000), "attributes": [
             {"key": k, "value": {"stringValue": v}} for k, v in (attrs or {}).items()]}
    if parent:
        s["parentSpanId"] = parent
    return s


def _otlp(*spans):
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "t"}, "spans": list(spans)}]}]}


def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


GOOD = [_span("eee19b7ec3c1b173"), _span("eee19b7ec3c1b174", "eee19b7ec3c1b173")]


def test_truncated_json_names_file_and_expectation(tmp_path):
    p = tmp_path / "cut.json"
    p.write_text(json.dumps(_otlp(*GOOD))[:-17])
    with pytest.raises(LoadError) as ei:
        lo.read_traces(p)
    msg = str(ei.value)
    assert str(p) in msg and "invalid JSON" in msg and "expected a JSON document" in msg
    df, report = lo.read_traces(p, errors="skip")
    assert len(df) == 0 and len(report) == 1 and report.loc[0, "file"] == str(p)


def test_truncated_jsonl_line_is_skipped_alone(tmp_path):
    p = tmp_path / "export.jsonl"
    lines = [json.dumps(_otlp(GOOD[0])), json.dumps(_otlp(GOOD[1]))[:40], json.dumps(_otlp(_span("eee19b7ec3c1b175")))]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(LoadError, match=r"record line 2: invalid JSON"):
        lo.read_traces(p)
    df, report = lo.read_traces(p, errors="skip")
    assert sorted(df["span_id"]) == ["eee19b7ec3c1b173", "eee19b7ec3c1b175"]
    assert report["record"].tolist() == ["line 2"] and report["action"].tolist() == ["skipped"]


def test_wrong_types(tmp_path):
    bad_time = _span("eee19b7ec3c1b175")
    bad_time["startTimeUnixNano"] = "yesterday"
    p = _write(tmp_path / "types.json", _otlp(GOOD[0], bad_time))
    with pytest.raises(LoadError) as ei:
        lo.read_traces(p)
    assert str(p) in str(ei.value) and "yesterday" in str(ei.value)
    # a span that is not an object, a resourceSpans that is not a list
    p2 = _write(tmp_path / "types2.json", {"resourceSpans": {"oops": 1}})
    with pytest.raises(LoadError, match="resourceSpans is not a list.*expected OTLP/JSON"):
        lo.read_traces(p2)
    p3 = _write(tmp_path / "types3.json", _otlp(GOOD[0], "not a span"))
    with pytest.raises(LoadError, match=r"span 1 is a str \(expected a span object\)"):
        lo.read_traces(p3)
    df, report = lo.read_traces([p, p2, p3], errors="skip")
    assert len(report) == 3 and set(report["file"]) == {str(p), str(p2), str(p3)}
    # records with wrong types for declared columns
    with pytest.raises(LoadError, match="prompt_tokens"):
        lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm", "prompt_tokens": "many"}], format="records")


def test_missing_ids(tmp_path):
    no_id = _span("eee19b7ec3c1b175")
    del no_id["spanId"]
    p = _write(tmp_path / "ids.json", _otlp(GOOD[0], no_id))
    with pytest.raises(LoadError) as ei:
        lo.read_traces(p)
    assert str(p) in str(ei.value) and "missing span_id" in str(ei.value) and "expected every span to have" in str(ei.value)
    df, report = lo.read_traces(p, errors="skip")
    assert df["span_id"].tolist() == ["eee19b7ec3c1b173"]
    assert "missing span_id" in report.loc[0, "error"]


def test_duplicate_span_ids(tmp_path):
    same = _otlp(GOOD[0], GOOD[0])
    assert len(lo.read_traces(_write(tmp_path / "same.json", same))) == 1  # the same span twice is one span
    other = dict(GOOD[0], name="something else")
    p = _write(tmp_path / "dup.json", _otlp(GOOD[0], other))
    with pytest.raises(LoadError, match="duplicate span id 'eee19b7ec3c1b173'.*expected span ids unique"):
        lo.read_traces(p)
    df, report = lo.read_traces(p, errors="skip")
    assert len(df) == 1 and df.loc[0, "name"] == "something else"
    assert report.loc[0, "action"] == "kept the later record"


def test_cycles_in_parent_links(tmp_path):
    a, b, c = _span("000000000000000a", "000000000000000c"), _span("000000000000000b", "000000000000000a"), _span("000000000000000c", "000000000000000b")
    p = _write(tmp_path / "cycle.json", _otlp(a, b, c))
    with pytest.raises(LoadError) as ei:
        lo.read_traces(p)
    assert "cycle" in str(ei.value) and str(p) in str(ei.value) and "expected parent links to form a tree" in str(ei.value)
    df, report = lo.read_traces(p, errors="skip")
    assert len(df) == 3 and df["parent_span_id"].isna().sum() == 1
    assert report.loc[0, "action"] == "cut the link to the parent"
    assert len(lo.to_traces(df)) == 1
    self_loop = _write(tmp_path / "self.json", _otlp(_span("000000000000000d", "000000000000000d")))
    with pytest.raises(LoadError, match="cycle"):
        lo.read_traces(self_loop)


def test_orphan_spans_are_kept_as_they_are(tmp_path):
    orphan = _span("eee19b7ec3c1b179", "ffffffffffffffff")
    df = lo.read_traces(_write(tmp_path / "orphan.json", _otlp(*GOOD, orphan)))
    assert len(df) == 3
    assert df.set_index("span_id").loc["eee19b7ec3c1b179", "parent_span_id"] == "ffffffffffffffff"
    traces = lo.to_traces(df)
    assert traces.loc[0, "root_span_id"] == "eee19b7ec3c1b173" and traces.loc[0, "n_spans"] == 3


def test_ten_megabyte_attribute(tmp_path, store):
    big = "x" * (10 * 1024 * 1024)
    p = _write(tmp_path / "big.json", _otlp(_span("eee19b7ec3c1b173", attrs={"openinference.span.kind": "LLM", "input.value": big})))
    df = lo.read_traces(p)
    assert len(df.loc[0, "input_text"]) == len(big)
    assert store.add_spans(df) == 1
    assert len(store.spans().loc[0, "input_text"]) == len(big)


def test_non_utf8_bytes(tmp_path):
    p = tmp_path / "latin1.json"
    p.write_bytes(json.dumps(_otlp(*GOOD)).encode()[:50] + b"\xff\xfe" + json.dumps(_otlp(*GOOD)).encode()[50:])
    with pytest.raises(LoadError) as ei:
        lo.read_traces(p)
    assert str(p) in str(ei.value) and "not UTF-8" in str(ei.value) and "byte 50" in str(ei.value)
    q = tmp_path / "mixed.jsonl"
    q.write_bytes(json.dumps(_otlp(GOOD[0])).encode() + b"\n\xff\xfe{}\n" + json.dumps(_otlp(GOOD[1])).encode() + b"\n")
    df, report = lo.read_traces(q, errors="skip")
    assert len(df) == 2 and report["record"].tolist() == ["line 2"] and "UTF-8" in report.loc[0, "error"]


def test_empty_file(tmp_path):
    p = tmp_path / "empty.json"
    p.write_bytes(b"")
    with pytest.raises(LoadError, match=r"empty\.json: the file is empty"):
        lo.read_traces(p)
    df, report = lo.read_traces(p, errors="skip")
    assert len(df) == 0 and report.loc[0, "file"] == str(p)
    assert list(df.columns) == SPANS.names
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n\n  \n")
    with pytest.raises(LoadError, match="empty"):
        lo.read_traces(blank)


def test_directory_of_mixed_formats(tmp_path):
    d = tmp_path / "mixed"
    (d / "sub").mkdir(parents=True)
    _write(d / "otlp.json", _otlp(*GOOD))
    with gzip.open(d / "sub" / "otlp2.json.gz", "wt") as f:
        f.write(json.dumps(_otlp(_span("eee19b7ec3c1b180", trace="5b8efff798038103d269b633813fc60d"))))
    _write(d / "langfuse.json", {"trace": {"id": "lf-trace"}, "observations": [
        {"id": "o1", "traceId": "lf-trace", "type": "GENERATION", "startTime": "2025-01-01T00:00:00Z",
         "endTime": "2025-01-01T00:00:01Z", "model": "gpt-4o", "input": "hi", "output": "hello"}]})
    (d / "runs.jsonl").write_text(json.dumps({"id": "r1", "trace_id": "r1", "run_type": "chain", "name": "x",
                                              "start_time": "2025-01-01T00:00:00Z", "inputs": {"q": "a"}}) + "\n")
    pd.DataFrame([{"trace_id": "csv-t", "span_id": "csv-s", "kind": "tool", "tool_name": "calc"}]).to_csv(d / "records.csv", index=False)
    (d / "README.md").write_text("# not data")
    (d / "notes.json").write_text(json.dumps({"hello": "world"}))  # JSON but not traces: ignored in a directory
    (d / ".hidden.json").write_text("{broken")
    df = lo.read_traces(d)
    assert df.groupby("source_format").size().to_dict() == {"langfuse": 1, "langsmith": 1, "otlp_json": 3, "records": 1}
    df2, report = lo.read_traces(d, errors="skip")
    assert len(df2) == 6 and report["file"].str.endswith("notes.json").tolist() == [True]
    # the same file named explicitly is an error: the user asked for it
    with pytest.raises(LoadError, match="could not tell the format"):
        lo.read_traces(d / "notes.json")


def test_failed_add_leaves_store_unchanged(store):
    spans = lo.read_traces([{"trace_id": "t1", "span_id": "s1", "kind": "llm"}], format="records")
    assert store.add_spans(spans) == 1
    before = sorted(os.listdir(store.path / "tables" / "spans"))
    manifest = (store.path / "tables" / "spans" / "_manifest.json").read_bytes()
    bad = spans.assign(span_id="s2", kind="not-a-kind")
    with pytest.raises(ValueError, match="not-a-kind"):
        store.add_spans(bad)
    missing = spans.assign(trace_id=None, span_id="s3")
    with pytest.raises(ValueError, match="trace_id"):
        store.add_spans(missing)
    with pytest.raises(ValueError, match="not in the spans table"):
        store.add_spans(spans.assign(span_id="s4", surprise=1))
    assert sorted(os.listdir(store.path / "tables" / "spans")) == before
    assert (store.path / "tables" / "spans" / "_manifest.json").read_bytes() == manifest
    assert store.spans()["span_id"].tolist() == ["s1"]
