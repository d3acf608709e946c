"""push: results, labels, failure modes and datasets written back to the five backends' write
APIs (the local fakes of conftest.py, which validate every body against the JSON Schemas in
schemas/ derived from each backend's published API), read back, pushed again (nothing sent),
edited (an update where the API has one, else reported)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from connector_fakes import SECRETS

import llmops_nb as lo
from llmops_nb.connectors import (
    PullError,
    Retry,
    langsmith_feedback,
    phoenix_annotations,
    push_rows,
)
from llmops_nb.connectors._mlflow import mlflow_assessments

FAST = Retry(max_attempts=4, base_delay=0.01, max_delay=0.05, timeout_s=10)
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def pull(source, backends, store, **kw):
    kw.setdefault("retry", FAST)
    kw.setdefault("progress", False)
    if source == "langsmith":
        kw.setdefault("project", "my-app")
    return lo.pull(source, url=backends.url, store=store, **kw)


def push(target, backends, store, **kw):
    kw.setdefault("retry", FAST)
    kw.setdefault("progress", False)
    if target == "datadog":
        kw.setdefault("project", "support-bot")
    return lo.push(target, url=backends.url, store=store, **kw)


# ---------------------------------------------------------------- spans from the five backends

def phoenix_spans() -> pd.DataFrame:
    """Spans as Phoenix's REST API returns them (two traces), through the phoenix loader."""
    recs = []
    for t in range(2):
        tid = f"{t + 1:032x}"
        for s in range(2):
            recs.append({
                "id": f"U3BhbjoO{t}{s}", "name": "llm" if s else "agent", "span_kind": "LLM" if s else "AGENT",
                "context": {"trace_id": tid, "span_id": f"{10 * t + s + 1:016x}"},
                "parent_id": None if s == 0 else f"{10 * t + 1:016x}",
                "start_time": (T0 + timedelta(minutes=t)).isoformat(), "end_time": (T0 + timedelta(minutes=t, seconds=2)).isoformat(),
                "status_code": "OK", "status_message": "", "events": [],
                "attributes": {"input": {"value": f"question {t}"}, "output": {"value": f"answer {t}"}},
            })
    return lo.read_traces(recs, format="phoenix")


def mlflow_spans() -> pd.DataFrame:
    """Two MLflow traces (``tr-`` ids, OTel span ids) through the mlflow loader."""
    recs = []
    for t in range(2):
        tr = f"tr-{t + 7:032x}"
        spans = []
        for s in range(2):
            spans.append({
                "name": "chat" if s else "agent", "trace_id": f"{t + 7:032x}", "span_id": f"{20 * t + s + 1:016x}",
                "parent_span_id": "" if s == 0 else f"{20 * t + 1:016x}",
                "start_time_unix_nano": int((T0.timestamp() + 60 * t) * 1e9), "end_time_unix_nano": int((T0.timestamp() + 60 * t + 1) * 1e9),
                "status": {"code": "STATUS_CODE_OK"}, "events": [],
                "attributes": {"mlflow.traceRequestId": json.dumps(tr), "mlflow.spanType": json.dumps("LLM" if s else "AGENT"),
                               "mlflow.spanInputs": json.dumps({"messages": [{"role": "user", "content": f"q{t}"}]}),
                               "mlflow.spanOutputs": json.dumps(f"a{t}")},
            })
        recs.append({"info": {"trace_id": tr, "state": "OK"}, "data": {"spans": spans}})
    return lo.read_traces(recs, format="mlflow")


def stored(target: str, backends, store) -> pd.DataFrame:
    """The target's spans in the store: pulled (Langfuse, LangSmith, Datadog) or loaded."""
    if target == "phoenix":
        store.add_spans(phoenix_spans())
    elif target == "mlflow":
        store.add_spans(mlflow_spans())
    else:
        pull(target, backends, store)
    return store.spans()


def frames(spans: pd.DataFrame, when: datetime = T0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Results (a bool check on each root span, a model judge's score and label on one trace),
    human labels (one per trace, one span-level) and failure modes, about the given spans."""
    roots = spans[spans["parent_span_id"].isna()].sort_values("trace_id")
    kids = spans[spans["parent_span_id"].notna()]
    child = (kids if len(kids) else roots).sort_values(["trace_id", "span_id"]).iloc[0]  # a span-level row
    tids = roots["trace_id"].tolist()[:2]
    res = []
    for i, t in enumerate(tids):
        res.append({"result_id": f"r-len-{i}", "run_id": "run1", "trace_id": t, "span_id": None, "evaluator": "length_ok",
                    "value": i == 0, "explanation": f"{10 * (i + 1)} words", "created_at": when})
    res.append({"result_id": "r-judge", "run_id": "run1", "trace_id": tids[0], "span_id": None, "evaluator": "helpfulness",
                "value": 0.75, "explanation": "mostly helpful", "judge_model": "gpt-4o-mini", "created_at": when})
    res.append({"result_id": "r-tone", "run_id": "run1", "trace_id": child["trace_id"], "span_id": child["span_id"],
                "evaluator": "tone", "value": "polite", "judge_model": "gpt-4o-mini", "created_at": when})
    res.append({"result_id": "r-err", "run_id": "run1", "trace_id": tids[0], "span_id": None, "evaluator": "broken",
                "value": None, "error": "timeout", "created_at": when})
    labs = [{"label_id": f"l-{i}", "trace_id": t, "span_id": None, "question": "pass_fail", "value": i != 0,
             "action": "set", "annotator": "alice", "reason": "checked by hand", "created_at": when} for i, t in enumerate(tids)]
    labs.append({"label_id": "l-exp", "trace_id": tids[0], "span_id": None, "question": "expected_output",
                 "value": "the right answer", "action": "set", "annotator": "bob", "created_at": when})
    fm = pd.DataFrame({"trace_id": tids[:1], "failure_mode": ["refund_policy"], "evidence": ["invented a refund rule"]})
    return pd.DataFrame(res), pd.DataFrame(labs), fm


ELSEWHERE = {"result_id": "r-other", "run_id": "run1", "trace_id": "f" * 32, "span_id": None, "evaluator": "length_ok",
             "value": True, "created_at": T0}

TARGETS = ["langfuse", "phoenix", "langsmith", "mlflow", "datadog"]


def read_back(target: str, backends, store) -> dict[tuple[str, str | None, str], object]:
    """What the backend now holds, read through its own read shapes and our pull mappers:
    {(name, trace_id, span_id): value} in the store's ids."""
    out: dict[tuple[str, str | None, str], object] = {}
    if target in ("langfuse", "datadog"):  # a real round trip: pull again, scores come back
        pull(target, backends, store, full=True)
        res = store.results()
        pushed = res[~res["result_id"].isin(FIXTURE_RESULTS[target])]
        for r in pushed.itertuples():
            out[(r.evaluator, r.trace_id, None if pd.isna(r.span_id) else r.span_id)] = r.value
        return out
    if target == "langsmith":
        results, labels = langsmith_feedback(list(backends.ls_pushed.values()))
        for r in results + labels:
            out[(r.get("evaluator") or r.get("question"), r["trace_id"], r["span_id"])] = r["value"]
        return out
    if target == "phoenix":
        spans = store.spans()
        trace_of = dict(zip(spans["span_id"], spans["trace_id"]))
        for (level, ident, name, _), a in backends.px_annotations.items():
            if level == "span":
                results, labels = phoenix_annotations([{**a, "span_id": ident}], trace_of)
                for r in results + labels:
                    out[(name, r["trace_id"], r["span_id"])] = r["value"]
            else:
                res = a["result"]
                out[(name, ident, None)] = res.get("label") if res.get("label") is not None else res.get("score")
        return out
    results, labels = mlflow_assessments(list(backends.ml_assessments.values()))
    spans = store.spans()
    tr_to_tid = {m["mlflow_trace_id"]: t for t, m in zip(spans["trace_id"], spans["metadata"]) if isinstance(m, dict)}
    for r in results + labels:
        out[(r.get("evaluator") or r.get("question"), tr_to_tid[r["trace_id"]], r["span_id"])] = r["value"]
    return out


FIXTURE_RESULTS: dict[str, set[str]] = {}


@pytest.mark.parametrize("target", TARGETS)
def test_push_round_trip(target, backends, store):
    spans = stored(target, backends, store)
    FIXTURE_RESULTS[target] = set(store.results()["result_id"]) if len(store.results()) else set()
    res, labs, fm = frames(spans)
    res = pd.concat([res, pd.DataFrame([ELSEWHERE])], ignore_index=True)
    r = push(target, backends, store, results=res, labels=labs, failure_modes=fm)
    assert backends.schema_errors == []
    assert r.complete and r.created == 8 and r.updated == 0 and r.sent == 8
    assert [u["trace_id"] for u in r.unmapped] == ["f" * 32]  # its trace came from elsewhere: not sent
    assert "not loaded from" in r.unmapped[0]["reason"]
    assert [s["name"] for s in r.skipped] == ["broken"]  # an evaluator error has no value to send
    got = read_back(target, backends, store)
    rows, _ = push_rows(res.iloc[:-1], labs, fm)
    for row in rows:
        key = (row.name, row.trace_id, row.span_id)
        if target in ("datadog", "langsmith") and row.span_id is None:  # they score spans (runs): the root
            root = spans[(spans["trace_id"] == row.trace_id) & spans["parent_span_id"].isna()]["span_id"].iloc[0]
            key = (row.name, row.trace_id, root)
        assert key in got, (key, sorted(got, key=str))
        want = row.value
        if isinstance(want, bool):  # how each backend reads a pass/fail back
            want = {"phoenix": "pass" if want else "fail", "langsmith": float(want)}.get(target, want)
        assert got[key] == want, (key, got[key], want)


def _recorded_kind(backends, target: str) -> list[str]:
    if target == "phoenix":
        return sorted(a["annotator_kind"] for a in backends.px_annotations.values())
    if target == "mlflow":
        return sorted(a["source"]["source_type"] for a in backends.ml_assessments.values())
    if target == "langsmith":
        return sorted(f["feedback_source"]["type"] for f in backends.ls_pushed.values())
    return []


@pytest.mark.parametrize("target", TARGETS)
def test_second_push_sends_nothing_and_edits_update(target, backends, store):
    spans = stored(target, backends, store)
    res, labs, fm = frames(spans)
    first = push(target, backends, store, results=res, labels=labs, failure_modes=fm)
    n_writes = len(backends.writes)
    again = push(target, backends, store, results=res, labels=labs, failure_modes=fm)
    assert again.sent == 0 and again.unchanged == first.sent and again.requests == 0
    assert len(backends.writes) == n_writes
    if target == "phoenix":  # annotator kinds as the backend names them
        assert _recorded_kind(backends, target) == ["CODE", "CODE", "CODE", "HUMAN", "HUMAN", "HUMAN", "LLM", "LLM"]
    if target == "mlflow":
        assert _recorded_kind(backends, target) == ["CODE", "CODE", "CODE", "HUMAN", "HUMAN", "HUMAN", "LLM_JUDGE", "LLM_JUDGE"]
        assert sum("expectation" in a for a in backends.ml_assessments.values()) == 1  # expected_output is ground truth
    # alice changes her mind on the first trace: an edit row (labels are append-only)
    edit = labs.iloc[[0]].assign(label_id="l-edit", value=True, action="edit", previous_value=False,
                                 reason="misread the answer", created_at=T0 + timedelta(hours=1))
    labs2 = pd.concat([labs, edit], ignore_index=True)
    third = push(target, backends, store, results=res, labels=labs2, failure_modes=fm)
    assert backends.schema_errors == []
    assert third.unchanged == first.sent - 1
    if target == "datadog":  # no update API: sent as a new metric, and the report says so
        assert third.appended_edits == 1 and third.updated == 0
        assert len(third.not_updated) == 1 and "no update" in third.not_updated[0]["reason"]
        assert "edits sent as new scores" in str(third)
        assert [m["boolean_value"] for m in backends.dd_metrics if m["label"] == "pass_fail"][-1] is True
        return
    assert third.updated == 1 and third.created == 0 and third.not_updated == []
    if target == "langfuse":  # the same score id, updated in place (no second score)
        t = next(t for t in backends.lf if t["id"] == labs.iloc[0]["trace_id"].replace("-", "") or t["id"] == labs.iloc[0]["trace_id"])
        mine = [s for s in t["scores"] if s["name"] == "pass_fail"]
        assert len(mine) == 1 and mine[0]["value"] == 1 and mine[0]["comment"] == "misread the answer"
    if target == "phoenix":
        mine = [a for k, a in backends.px_annotations.items() if k[2] == "pass_fail" and k[1] == labs.iloc[0]["trace_id"]]
        assert len(mine) == 1 and mine[0]["result"]["label"] == "pass"
    if target == "langsmith":
        assert backends.writes[-1][0] == "PATCH" and backends.writes[-1][2]["score"] == 1.0
        assert sum(f["key"] == "pass_fail" for f in backends.ls_pushed.values()) == 2
    if target == "mlflow":
        method, path, body = backends.writes[-1]
        assert method == "PATCH" and body["update_mask"] == "feedback,rationale,metadata"
        mine = [a for a in backends.ml_assessments.values() if a["assessment_name"] == "pass_fail"]
        assert len(mine) == 2 and sorted(a["feedback"]["value"] for a in mine) == [True, True]
    # an undo withdraws the decision: not deleted remotely, the report says so
    undo = edit.assign(label_id="l-undo", action="undo", value=None, created_at=T0 + timedelta(hours=2))
    fourth = push(target, backends, store, results=res, labels=pd.concat([labs2, undo], ignore_index=True), failure_modes=fm)
    assert fourth.sent == 0 and len(fourth.not_updated) == 1 and "withdrawn" in fourth.not_updated[0]["reason"]


def test_dry_run_sends_and_records_nothing(backends, store, monkeypatch):
    spans = stored("langfuse", backends, store)
    res, labs, fm = frames(spans)
    r = push("langfuse", backends, store, results=res, labels=labs, dry_run=True)
    assert r.dry_run and r.created == 7 and len(r.planned) == 7 and backends.writes == []
    assert {q["path"] for q in r.planned} == {"/api/public/scores"}
    assert "would send 7" in str(r)
    assert push("langfuse", backends, store, results=res, labels=labs).created == 7  # nothing was recorded
    # a dry run needs no credentials: it opens no connection
    monkeypatch.delenv("LANGFUSE_SECRET_KEY")
    res2 = res.assign(value=[False, True, 0.5, "curt", None])
    r2 = push("langfuse", backends, store, results=res2, dry_run=True)
    assert r2.updated == 4 and r2.requests == 0


@pytest.mark.parametrize("target", ["langfuse", "phoenix", "langsmith", "mlflow"])
def test_dataset_push_links_items_to_their_traces(target, backends, store):
    spans = stored(target, backends, store)
    roots = spans[spans["parent_span_id"].isna()].sort_values("trace_id").head(2)
    ex = pd.DataFrame({
        "example_id": ["e1", "e2", "e3"],
        "input_text": ["q1", "q2", "from elsewhere"], "expected_output": ["a1", "a2", "a3"],
        "source_trace_id": roots["trace_id"].tolist() + ["e" * 32], "source_span_id": roots["span_id"].tolist() + [None],
        "source_format": [target, target, "otlp"], "split": ["test", "test", "dev"],
    })
    r = push(target, backends, store, dataset=ex, dataset_name="regressions")
    assert backends.schema_errors == []
    assert r.dataset["created"] == 3 and r.dataset["unlinked"] == 1
    if target == "langfuse":
        items = sorted(backends.lf_items.values(), key=lambda i: i["metadata"]["example_id"])
        assert [i.get("sourceTraceId") for i in items] == roots["trace_id"].tolist() + [None]
        assert [i.get("sourceObservationId") for i in items][:2] == roots["span_id"].tolist()
    if target == "langsmith":
        ex_ = sorted(backends.ls_examples.values(), key=lambda e: e["metadata"]["example_id"])
        assert [e.get("source_run_id") for e in ex_] == roots["span_id"].tolist() + [None]
    if target == "phoenix":
        (ds,) = backends.px_datasets.values()
        assert [m["output"]["expected_output"] for m in ds["versions"][0]] == ["a1", "a2", "a3"]
    if target == "mlflow":
        (ds,) = backends.ml_datasets.values()
        assert [rec.get("source", {}).get("source_data", {}).get("trace_id") for rec in ds["records"]] == \
            [f"tr-{7:032x}", f"tr-{8:032x}", None]
    n = len(backends.writes)
    again = push(target, backends, store, dataset=ex, dataset_name="regressions")
    assert again.dataset["unchanged"] == 3 and len(backends.writes) == n
    changed = ex.assign(expected_output=["a1", "a2 (fixed)", "a3"])
    third = push(target, backends, store, dataset=changed, dataset_name="regressions")
    assert third.dataset["updated"] == 1 and third.dataset["unchanged"] == 2
    assert backends.schema_errors == []
    if target == "phoenix":
        assert "appended as a new dataset version" in third.dataset["notes"][0]


def test_datadog_has_no_dataset_target(backends, store):
    with pytest.raises(ValueError, match="valid dataset targets"):
        push("datadog", backends, store, dataset=pd.DataFrame({"example_id": ["e1"], "input_text": ["q"]}))


def test_rate_limits_and_failures_resume(backends, store):
    spans = stored("langfuse", backends, store)
    res, labs, fm = frames(spans)
    backends.faults["storm"] = 3
    r = push("langfuse", backends, store, results=res.iloc[:2])
    assert r.complete and r.created == 2 and r.rate_limited == 3 and r.retries >= 3
    backends.faults["fail_always"] = {("/api/public/scores", None)}
    with pytest.raises(PullError, match="Push again") as e:
        push("langfuse", backends, store, results=res, labels=labs)
    rep = e.value.report
    assert not rep.complete and len(rep.failed) == 5 and rep.sent == 0 and rep.unchanged == 2
    backends.faults["fail_always"] = set()
    r3 = push("langfuse", backends, store, results=res, labels=labs)
    assert r3.created == 5 and r3.unchanged == 2


def test_push_errors_never_hold_credentials(backends, store):
    stored("langsmith", backends, store)
    res, _, _ = frames(store.spans())
    backends.faults["echo"] = True
    with pytest.raises(PullError) as e:
        push("langsmith", backends, store, results=res)
    text = str(e.value) + str(e.value.report) + json.dumps(e.value.report.to_dict(), default=str)
    for v in SECRETS.values():
        assert v not in text and v[4:14] not in text


def test_push_cli(backends, store, monkeypatch, capsys):
    from llmops_nb.cli import main

    spans = stored("langfuse", backends, store)
    res, labs, _ = frames(spans)
    store.add("results", lo.schema.conform(res, lo.schema.RESULTS))
    store.add("labels", lo.schema.conform(labs, lo.schema.LABELS))
    args = ["push", "langfuse", "--results", "--labels", "--store", str(store.path), "--url", backends.url,
            "--no-progress", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    # the store's own results include the scores pulled from Langfuse: those are not pushed back
    assert out["created"] == 7 and out["complete"] and backends.schema_errors == []
    assert all(s["reason"] in ("pulled from langfuse", "no value (evaluator error: timeout)") for s in out["skipped"])
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["sent"] == 0
    assert main(["push", "langfuse", "--store", str(store.path)]) == 2


def test_state_lost_after_send_is_recovered_not_duplicated(backends, store):
    """A push killed after LangSmith answered but before the state was written: the next push
    finds the feedback exists (409) and updates it instead of failing or adding a second one."""
    spans = stored("langsmith", backends, store)
    res, labs, _ = frames(spans)
    first = push("langsmith", backends, store, results=res, labels=labs)
    store.set_state("push/langsmith/default", {})  # the record is gone, the feedback is not
    n = len(backends.ls_pushed)
    again = push("langsmith", backends, store, results=res, labels=labs)
    assert again.complete and again.failed == [] and again.sent == first.sent
    assert len(backends.ls_pushed) == n
    assert [m for m, p, _ in backends.writes[-first.sent:]] == ["PATCH"] * first.sent


def test_session_rows_go_where_the_backend_scores_sessions(backends, store):
    spans = stored("langfuse", backends, store)
    sid = spans["session_id"].dropna().iloc[0]
    res = pd.DataFrame([{"result_id": "s1", "run_id": "r", "trace_id": None, "span_id": None, "session_id": sid,
                         "evaluator": "resolved", "value": True, "created_at": T0},
                        {"result_id": "s2", "run_id": "r", "trace_id": None, "span_id": None, "session_id": "not-ours",
                         "evaluator": "resolved", "value": True, "created_at": T0}])
    r = push("langfuse", backends, store, results=res)
    assert r.created == 1 and backends.writes[-1][2]["sessionId"] == sid and "traceId" not in backends.writes[-1][2]
    assert [u["reason"] for u in r.unmapped] == ["session not-ours was not loaded from langfuse"]
    assert backends.schema_errors == []
    r2 = push("phoenix", backends, store, results=res.iloc[:1])
    assert r2.sent == 0 and "session-level" in r2.unmapped[0]["reason"]
