"""Evaluation payloads beside spans in files go to the results and labels tables
(lo.read_evaluations), joined to the spans read_traces reads from the same files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import llmops_nb as lo
from llmops_nb.loaders import LoadError

DATADOG = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "datadog"


def _datadog() -> Path:
    if not DATADOG.exists():
        pytest.skip(f"{DATADOG} is absent")
    return DATADOG


def test_datadog_evaluation_metrics_in_cassettes_join_the_spans():
    d = _datadog()
    spans = lo.read_traces(d)
    ev = lo.read_evaluations(d)
    assert len(ev.labels) == 0
    r = ev.results
    assert set(r["evaluator"]) == {"sentiment", "toxicity", "ragas_faithfulness"}
    # the metrics name the spans of the span cassettes: same (trace_id, span_id) after id normalisation
    keys = set(zip(spans["trace_id"], spans["span_id"]))
    by_name = {e: set(zip(g["trace_id"], g["span_id"])) for e, g in r.groupby("evaluator")}
    assert by_name["sentiment"] <= keys and by_name["toxicity"] <= keys
    sentiment = r[r["evaluator"] == "sentiment"].iloc[0]
    assert sentiment["score"] == 0.9 and sentiment["evaluator_version"] == "datadog"
    toxicity = r[r["evaluator"] == "toxicity"].iloc[0]
    assert toxicity["label"] == "very" and toxicity["value"] == "very"
    # a named cassette of metrics only is not a trace file: read_traces points to read_evaluations
    f = d / "tests.llmobs.test_llmobs_eval_metric_agentless_writer.test_send_multiple_events.yaml"
    with pytest.raises(LoadError, match="read them with lo.read_evaluations"):
        lo.read_traces(f)
    assert len(lo.read_evaluations(f).results) == 2


def test_langfuse_scores_phoenix_annotations_langsmith_feedback(tmp_path):
    langfuse = {"trace": {"id": "t1", "name": "qa", "scores": [
        {"id": "sc-1", "traceId": "t1", "observationId": "o1", "name": "helpfulness", "value": 0.8,
         "dataType": "NUMERIC", "source": "EVAL", "comment": "ok", "timestamp": "2025-01-01T00:00:00Z"},
        {"id": "sc-2", "traceId": "t1", "observationId": None, "name": "correct", "value": 1, "dataType": "BOOLEAN",
         "source": "ANNOTATION", "authorUserId": "alice", "comment": "checked", "timestamp": "2025-01-01T00:00:00Z",
         "updatedAt": "2025-01-01T00:01:00Z"}]},
        "observations": [{"id": "o1", "traceId": "t1", "type": "GENERATION", "startTime": "2025-01-01T00:00:00Z",
                          "model": "gpt-4o", "input": "hi", "output": "hello"}]}
    (tmp_path / "langfuse.json").write_text(json.dumps(langfuse))
    phoenix = [{"id": "a1", "span_id": "o1", "name": "relevance", "annotator_kind": "LLM",
                "result": {"label": "relevant", "score": 1.0, "explanation": "on topic"}, "created_at": "2025-01-02T00:00:00Z"},
               {"id": "a2", "span_id": "o1", "name": "tone", "annotator_kind": "HUMAN", "user_id": "bob",
                "result": {"label": "polite"}, "created_at": "2025-01-02T00:00:00Z"}]
    (tmp_path / "phoenix_annotations.json").write_text(json.dumps(phoenix))
    langsmith = {"feedback": [
        {"id": "fb-1", "run_id": "o1", "trace_id": "t1", "key": "correctness", "score": 1, "value": None,
         "comment": "looks right", "feedback_source": {"type": "api"}, "created_at": "2024-10-12T00:00:00Z"},
        {"id": "fb-2", "run_id": "o1", "trace_id": "t1", "key": "style", "score": None, "value": "terse",
         "feedback_source": {"type": "app", "user_id": "carol"}, "created_at": "2024-10-12T00:00:00Z"}]}
    (tmp_path / "langsmith_feedback.json").write_text(json.dumps(langsmith))
    spans = lo.read_traces(tmp_path / "langfuse.json")
    ev = lo.read_evaluations(tmp_path, spans=spans)
    r = ev.results.set_index("evaluator")
    assert set(r.index) == {"helpfulness", "relevance", "correctness"}
    assert r.loc["helpfulness", "score"] == 0.8 and r.loc["helpfulness", "span_id"] == "o1"
    assert r.loc["relevance", "label"] == "relevant" and r.loc["relevance", "trace_id"] == "t1"  # joined via spans=
    assert r.loc["correctness", "score"] == 1.0
    lab = ev.labels.set_index("question")
    assert set(lab.index) == {"correct", "tone", "style"}
    assert lab.loc["correct", "annotator"] == "alice" and lab.loc["correct", "value"] is True
    assert lab.loc["tone", "annotator"] == "bob" and lab.loc["tone", "trace_id"] == "t1"
    assert lab.loc["style", "value"] == "terse"
    assert "3 result rows" in repr(ev) and "<table" in ev._repr_html_()
    # they store like any results and labels
    store = lo.Store(tmp_path / "store")
    assert store.add_results(ev.results) == 3 and store.add_labels(ev.labels) == 3


def test_a_file_without_evaluations_is_an_error(tmp_path):
    p = tmp_path / "spans.json"
    p.write_text(json.dumps([{"trace_id": "t", "span_id": "s", "kind": "llm"}]))
    with pytest.raises(LoadError, match="no evaluation payload found"):
        lo.read_evaluations(p)
    assert len(lo.read_evaluations(p, errors="skip").results) == 0
