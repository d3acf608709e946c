"""Loaders under attack, in every format: wrong-typed ids are errors; ``errors="skip"`` skips one
bad record, never its file; bombs, truncated ``.gz`` and 10,000-deep nesting are LoadErrors
naming the file; ids and integers over 64 bits always give a storable, analysable frame."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import llmops_nb as lo
from llmops_nb.loaders import LoadError

T = "5b8efff798038103d269b633813fc60c"
NS = 1_700_000_000_000_000_000


def _hex(i: int) -> str:
    return f"{i + 1:016x}"


# one builder per format: a file holding one record per id in ``ids`` (the id goes where the
# format keeps a span's or a record's id)
def otlp_json(ids: list[Any]) -> Any:
    return {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "t"}, "spans": [
        {"traceId": T, "spanId": sid, "name": "op", "startTimeUnixNano": str(NS), "endTimeUnixNano": str(NS + 10**6)}
        for sid in ids]}]}]}


def records(ids: list[Any]) -> Any:
    return [{"trace_id": "t1", "span_id": sid, "kind": "llm", "output_text": "hi"} for sid in ids]


def langfuse(ids: list[Any]) -> Any:
    return {"trace": {"id": "t1", "name": "qa"}, "observations": [
        {"id": oid, "traceId": "t1", "type": "SPAN", "name": "op", "startTime": "2025-01-01T00:00:00Z"} for oid in ids]}


def langsmith(ids: list[Any]) -> Any:
    return [{"id": rid, "trace_id": "run-trace", "run_type": "chain", "name": "op",
             "start_time": "2024-10-11T20:58:24Z", "end_time": "2024-10-11T20:58:25Z"} for rid in ids]


def datadog(ids: list[Any]) -> Any:
    return [{"event_type": "span", "spans": [
        {"span_id": sid, "trace_id": "1", "parent_id": "", "name": "op", "start_ns": NS, "duration": 10**9,
         "status": "ok", "meta": {"span": {"kind": "llm"}}, "metrics": {}} for sid in ids]}]


def mlflow(ids: list[Any]) -> Any:
    return {"info": {"trace_id": "tr-1", "state": "OK"}, "data": {"spans": [
        {"name": "op", "span_id": sid, "trace_id": T, "parent_span_id": "", "start_time_unix_nano": NS,
         "end_time_unix_nano": NS + 10**6, "status": {"code": "STATUS_CODE_OK"},
         "attributes": {"mlflow.traceRequestId": '"tr-1"', "mlflow.spanType": '"LLM"'}, "events": []} for sid in ids]}}


def phoenix(ids: list[Any]) -> Any:
    return [{"context": {"trace_id": T, "span_id": sid}, "span_kind": "LLM", "name": "op", "parent_id": None,
             "start_time": "2025-01-01T00:00:00Z", "end_time": "2025-01-01T00:00:01Z", "status_code": "OK",
             "attributes": {}} for sid in ids]


def openinference_json(ids: list[Any]) -> Any:
    return [{"trace_id": T, "span_id": sid, "openinference.span.kind": "LLM", "llm.model_name": "gpt-4",
             "output.value": "hi"} for sid in ids]


def any_agent(ids: list[Any]) -> Any:
    return {"final_output": "x", "spans": [
        {"name": "op", "context": {"trace_id": T, "span_id": sid}, "parent": None, "start_time": NS,
         "end_time": NS + 10**6, "status": {"status_code": "ok"}, "attributes": {"gen_ai.operation.name": "op"}}
        for sid in ids]}


def vercel(ids: list[Any]) -> Any:
    return [{"name": "ai.generateText", "spanContext": {"traceId": T, "spanId": sid}, "startTime": [1770131992, 0],
             "endTime": [1770131993, 0], "status": {"code": 0}, "attributes": {"ai.operationId": "ai.generateText"}}
            for sid in ids]


def tau_bench(ids: list[Any]) -> Any:
    return [{"task_id": tid, "trial": 0, "reward": 1.0, "info": {}, "traj": [
        {"role": "user", "content": "book it"}, {"role": "assistant", "content": "Booked."}]} for tid in ids]


def openai_chat(ids: list[Any]) -> Any:
    return [{"trace_id": tid, "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
             "response": {"id": "chatcmpl-1", "model": "gpt-4o-mini", "choices": [{"message": {"role": "assistant",
                          "content": "Hello!"}}], "usage": {"prompt_tokens": 8, "completion_tokens": 2}}} for tid in ids]


def inspect(ids: list[Any]) -> Any:
    return {"version": 2, "status": "success", "eval": {"task": "qa", "run_id": "r1", "model": "m"}, "samples": [
        {"id": sid, "epoch": 1, "input": "2+2?", "target": "4",
         "output": {"model": "m", "choices": [{"message": {"role": "assistant", "content": "4"}}]}, "scores": {}}
        for sid in ids]}


BUILDERS = {f.__name__: f for f in (otlp_json, records, langfuse, langsmith, datadog, mlflow, phoenix,
                                    openinference_json, any_agent, vercel, tau_bench, openai_chat, inspect)}
GOOD_IDS = {  # ids each format takes as they are
    "otlp_json": [_hex(i) for i in range(4)], "mlflow": [_hex(i) for i in range(4)],
    "phoenix": [_hex(i) for i in range(4)], "openinference_json": [_hex(i) for i in range(4)],
    "any_agent": [_hex(i) for i in range(4)], "vercel": [_hex(i) for i in range(4)],
    "datadog": ["11", "12", "13", "14"],
}
BAD = {"list": [1, 2, 3], "object": {"id": 7}}


def write(tmp_path: Path, fmt: str, ids: list[Any], name: str) -> Path:
    doc = BUILDERS[fmt](ids)
    if fmt == "openai_chat":  # JSONL: one pair per line
        p = tmp_path / f"{name}.jsonl"
        p.write_text("\n".join(json.dumps(d) for d in doc) + "\n")
    else:
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(doc))
    return p


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize("fmt", list(BUILDERS))
def test_wrong_typed_id_is_an_error_and_skipped_alone(fmt, bad, tmp_path):
    ids = list(GOOD_IDS.get(fmt, ["a1", "a2", "a3", "a4"]))
    good_ids = ids[:2] + ids[3:]
    ids[2] = BAD[bad]
    p = write(tmp_path, fmt, ids, "mixed")
    with pytest.raises(LoadError) as ei:
        lo.read_traces(p, format=fmt)
    msg = str(ei.value)
    assert str(p) in msg and ("list" in msg or "dict" in msg) and "expected" in msg, msg
    # detection reaches the same verdict as format=
    with pytest.raises(LoadError):
        lo.read_traces(p)
    # skip: exactly the records without the bad one, and one report row naming the file
    got, report = lo.read_traces(p, format=fmt, errors="skip")
    want = lo.read_traces(write(tmp_path, fmt, good_ids, "good"), format=fmt)
    assert len(want) > 0
    assert sorted(got["span_id"]) == sorted(want["span_id"]), (fmt, got["span_id"].tolist())
    assert len(report) == 1 and report.loc[0, "file"] == str(p) and report.loc[0, "action"] == "skipped"
    assert report.loc[0, "record"]  # which record
    assert not got["trace_id"].str.contains(r"[\[{]").any()


@pytest.mark.parametrize("fmt", list(BUILDERS))
def test_one_bad_record_never_drops_the_file(fmt, tmp_path):
    """Not only ids: a record of the wrong type, a time that is no time, or tokens that are no number."""
    n = 40
    ids = list(GOOD_IDS.get(fmt, [f"a{i}" for i in range(n)]))
    ids = ids if len(ids) >= n else [_hex(i) if fmt in GOOD_IDS and fmt != "datadog" else str(100 + i) for i in range(n)]
    doc = BUILDERS[fmt](ids)
    _corrupt(fmt, doc)
    p = tmp_path / ("x.jsonl" if fmt == "openai_chat" else "x.json")
    p.write_text("\n".join(json.dumps(d) for d in doc) + "\n" if fmt == "openai_chat" else json.dumps(doc))
    got, report = lo.read_traces(p, format=fmt, errors="skip")
    clean = BUILDERS[fmt](ids)
    q = tmp_path / ("clean.jsonl" if fmt == "openai_chat" else "clean.json")
    q.write_text("\n".join(json.dumps(d) for d in clean) + "\n" if fmt == "openai_chat" else json.dumps(clean))
    n_clean = len(lo.read_traces(q, format=fmt))
    per = n_clean // n  # spans per record
    assert 1 <= len(report) <= 2 and set(report["file"]) == {str(p)}
    assert len(got) == n_clean - len(report) * per, (fmt, len(got), n_clean, report["error"].tolist())
    # whatever read_traces returns is storable and analysable
    assert lo.Store(tmp_path / "store").add_spans(got) == len(got)
    assert len(lo.to_traces(got)) == got["trace_id"].nunique()


def _corrupt(fmt: str, doc: Any) -> None:
    """Make record 5 wrong in a way the format's parser meets."""
    recs = {"otlp_json": lambda d: d["resourceSpans"][0]["scopeSpans"][0]["spans"],
            "langfuse": lambda d: d["observations"], "datadog": lambda d: d[0]["spans"],
            "mlflow": lambda d: d["data"]["spans"], "any_agent": lambda d: d["spans"],
            "inspect": lambda d: d["samples"]}.get(fmt, lambda d: d)(doc)
    recs[5] = "not a record"
    time_key = {"otlp_json": "startTimeUnixNano", "langfuse": "startTime", "langsmith": "start_time",
                "datadog": "start_ns", "mlflow": "start_time_unix_nano", "phoenix": "start_time",
                "any_agent": "start_time", "vercel": "startTime"}.get(fmt)
    if time_key:
        recs[9][time_key] = "yesterday"


def test_truncated_gzip_is_a_load_error(tmp_path):
    data = gzip.compress(json.dumps(otlp_json([_hex(i) for i in range(200)])).encode())
    for name in ("cut.json.gz", "cut.jsonl.gz", "cut.pb.gz"):
        p = tmp_path / name
        p.write_bytes(data[: len(data) // 2])
        with pytest.raises(LoadError, match="truncated or corrupt") as ei:
            lo.read_traces(p)
        assert str(p) in str(ei.value)
        _, report = lo.read_traces(p, errors="skip")
        assert report["file"].tolist() == [str(p)]
    cassette = tmp_path / "cut.yaml.gz"
    cassette.write_bytes(gzip.compress(b"interactions: []\n" * 1000)[:-10])
    with pytest.raises(LoadError, match="truncated or corrupt"):
        lo.read_traces(cassette, format="datadog")


def test_deep_nesting_is_a_load_error(tmp_path):
    deep = "[" * 10_000 + "]" * 10_000
    cases = {
        "deep.json": '{"resourceSpans": ' + deep + "}",
        "deep.jsonl": '{"trace_id": "t", "span_id": "s", "metadata": ' + deep + "}\n",
        "deep_big.json": '{"resourceSpans": [], "x": 123456789012345678901234, "y": ' + deep + "}",  # stdlib json path
        "deep.yaml": "a: " + "[" * 10_000 + "]" * 10_000,
    }
    for name, text in cases.items():
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(LoadError) as ei:
            lo.read_traces(p)
        assert str(p) in str(ei.value), name
    # a loader recursing through nested OTLP values (below the JSON parser's limit)
    depth = 240
    v = '{"kvlistValue": {"values": [{"key": "k", "value": ' * depth + '{"stringValue": "leaf"}' + "}]}}" * depth
    span = (f'{{"traceId": "{T}", "spanId": "{_hex(1)}", "name": "op", "startTimeUnixNano": "{NS}", '
            f'"attributes": [{{"key": "deep", "value": {v}}}]}}')
    good = json.dumps(otlp_json([_hex(0)])["resourceSpans"][0]["scopeSpans"][0]["spans"][0])
    p = tmp_path / "deep_otlp.json"
    p.write_text('{"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "t"}, '
                 f'"spans": [{good}, {span}]}}]}}]}}')
    try:
        got, report = lo.read_traces(p, errors="skip")
    except LoadError as e:  # the JSON parser refused it: a clear error is fine too
        assert str(p) in str(e)
    else:
        assert _hex(0) in set(got["span_id"])  # the shallow span survives whatever befell the deep one


BOMB = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a regression dies here, not the machine
    import llmops_nb as lo
    from llmops_nb.loaders import LoadError
    path, limit = sys.argv[1], (None if sys.argv[2] == "default" else int(sys.argv[2]))
    try:
        if limit is None:
            lo.read_traces(path)
        else:
            lo.read_traces(path, max_decompressed_bytes=limit)
        print("LOADED")
    except LoadError as e:
        print("LOADERROR", e)
""")


def _bomb(path: Path, inflated: int) -> None:
    """A ``.json.gz`` that inflates to ``inflated`` bytes of JSON: gzip members of 1 MiB of spaces,
    repeated (4 GiB from a 4 MB file, made in an instant)."""
    member = gzip.compress(b" " * (1 << 20), 9)
    with open(path, "wb") as f:
        f.write(gzip.compress(b'{"resourceSpans": ['))
        for _ in range(inflated >> 20):
            f.write(member)
        f.write(gzip.compress(b"]}"))


def _run_bomb(p: Path, limit: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BOMB, str(p), limit], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})


@pytest.mark.slow
def test_decompression_bomb_is_a_load_error(tmp_path):
    p = tmp_path / "bomb.json.gz"
    _bomb(p, 4 << 30)  # 4 GiB inflated
    assert p.stat().st_size < 8 << 20
    out = _run_bomb(p, "default")  # the default limit (1 GiB) stops it, in a process capped at 3 GiB
    assert out.returncode == 0, out.stderr[-1500:]
    assert out.stdout.startswith("LOADERROR") and str(p) in out.stdout, out.stdout
    assert "inflates to more than 1,073,741,824 bytes" in out.stdout
    lines = tmp_path / "bomb.jsonl.gz"  # streamed line by line: one 4 GiB line
    _bomb(lines, 4 << 30)
    out = _run_bomb(lines, str(64 << 20))  # a lower limit, set for one call
    assert out.stdout.startswith("LOADERROR") and "inflates to more than 67,108,864 bytes" in out.stdout, \
        out.stdout + out.stderr[-1500:]


def test_decompressed_limit_is_settable(tmp_path):
    p = tmp_path / "ok.json.gz"
    p.write_bytes(gzip.compress(json.dumps(otlp_json([_hex(i) for i in range(50)])).encode()))
    assert len(lo.read_traces(p)) == 50
    with pytest.raises(LoadError, match="inflates to more than 1,000 bytes"):
        lo.read_traces(p, max_decompressed_bytes=1000)
    from llmops_nb.loaders import decompressed_limit

    with decompressed_limit(1000), pytest.raises(LoadError):
        lo.read_traces(p)
    assert len(lo.read_traces(p)) == 50  # the block ended: the default is back
    with pytest.raises(ValueError, match="positive number of bytes or None"):
        lo.read_traces(p, max_decompressed_bytes=-1)


def test_ids_and_integers_over_64_bits_give_a_storable_analysable_frame(tmp_path):
    big = 2**100
    frames = [
        lo.read_traces([{"trace_id": big, "span_id": 2**70, "kind": "llm", "metadata": {"n": 2**80, 2**70: "k"},
                         "attributes": {"ids": [2**90, -(2**65)]}}], format="records"),
        lo.read_traces(datadog([str(2**64 + 5)]) + [{"event_type": "span", "spans": [
            {"span_id": 2**64 + 7, "trace_id": 2**127 + 1, "parent_id": "", "name": "op", "start_ns": NS,
             "duration": 10, "status": "ok", "meta": {"span": {"kind": "llm"}, "metadata": {"big": 2**99}},
             "metrics": {"input_tokens": 3}}]}], format="datadog"),
    ]
    p = tmp_path / "big.json"
    doc = otlp_json([_hex(0)])
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = [
        {"key": "big", "value": {"intValue": str(2**100)}}, {"key": "neg", "value": {"intValue": str(-(2**90))}}]
    p.write_text(json.dumps(doc))
    frames.append(lo.read_traces(p))
    lines = tmp_path / "big.jsonl"
    lines.write_text(json.dumps({"trace_id": "t", "span_id": "s", "metadata": {"x": 2**70}}) + "\n")
    frames.append(lo.read_traces(lines, format="records"))
    store = lo.Store(tmp_path / "store")
    for df in frames:
        assert len(lo.to_traces(df)) >= 1
        assert store.add_spans(df) == len(df)
    stored = store.spans()
    assert len(stored) == sum(len(f) for f in frames)
    meta = stored.set_index("span_id").loc[str(2**70), "metadata"]
    assert meta["n"] == str(2**80)  # exact digits, as text
    assert len(lo.to_traces(stored)) == stored["trace_id"].nunique()


def test_empty_or_null_datadog_yaml_is_a_clear_error(tmp_path):
    for name, text in {"empty.yaml": "", "null.yaml": "~\n", "nulls.yaml": "interactions:\n- null\n- null\n",
                       "no_bodies.yaml": "interactions:\n- request: {body: null}\n", "list.yaml": "- 1\n- 2\n"}.items():
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(LoadError) as ei:
            lo.read_traces(p, format="datadog")
        assert str(p) in str(ei.value), name
        with pytest.raises(LoadError):
            lo.read_traces(p)


def test_any_format_that_turns_an_id_into_text_is_caught(tmp_path):
    """The shared plumbing catches a list or object id even from a loader (here a third-party
    format) that ran it through ``str()``."""
    fmt = lo.Format("str_ids_test", "ids through str()", parse=lambda r, ctx: [
        {"trace_id": str(r["t"]), "span_id": str(r["s"]), "kind": "llm"}], detect=None)
    lo.register_format(fmt, replace=True)
    recs = [{"t": "t1", "s": "a"}, {"t": [1, 2, 3], "s": "b"}, {"t": "t1", "s": {"id": 7}}, {"t": "t1", "s": "[x]"}]
    with pytest.raises(LoadError, match=r"trace_id is the text of a list \(\[1, 2, 3\]\)"):
        lo.read_traces(recs, format="str_ids_test")
    got, report = lo.read_traces(recs, format="str_ids_test", errors="skip")
    assert got["span_id"].tolist() == ["a", "[x]"] and len(report) == 2


def test_inspect_eval_zip_bomb_stops_at_the_limit(tmp_path):
    import zipfile

    p = tmp_path / "big.eval"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("header.json", json.dumps({"version": 2, "status": "success", "eval": {"task": "t", "run_id": "r"}}))
        for i in range(3):
            z.writestr(f"samples/{i}.json", json.dumps({"id": i, "epoch": 1, "input": "q", "pad": " " * (1 << 20)}))
    assert p.stat().st_size < 100_000
    with pytest.raises(LoadError, match="inflates to more than 2,000,000 bytes") as ei:
        lo.read_traces(p, max_decompressed_bytes=2_000_000)
    assert str(p) in str(ei.value)
    assert len(lo.read_traces(p)) >= 3  # within the default limit it loads


def test_a_format_reading_whole_lists_skips_only_the_bad_items(tmp_path):
    """A third-party format that maps a whole list at once (and fails on it when one item is
    bad) still keeps the other items under errors="skip": the plumbing retries item by item."""
    def parse(doc, ctx):
        return [{"trace_id": "t", "span_id": r["id"], "kind": "llm", "prompt_tokens": int(r["tokens"])} for r in doc]

    lo.register_format(lo.Format("whole_list_test", "a list at once", parse=parse, whole_file=True), replace=True)
    p = tmp_path / "x.json"
    p.write_text(json.dumps([{"id": f"s{i}", "tokens": "many" if i == 3 else i} for i in range(8)]))
    with pytest.raises(LoadError, match="many"):
        lo.read_traces(p, format="whole_list_test")
    got, report = lo.read_traces(p, format="whole_list_test", errors="skip")
    assert sorted(got["span_id"]) == [f"s{i}" for i in range(8) if i != 3]
    assert report["record"].tolist() == ["item 3"] and report["file"].tolist() == [str(p)]
