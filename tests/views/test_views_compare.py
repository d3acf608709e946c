"""lo.compare_outputs on the Python side: statuses, deltas, word diff, filtering, stepping,
selection into a queue, experiments as input, the static snapshot."""

from __future__ import annotations

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.views import OutputComparison, word_diff_html


def _runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    a = pd.DataFrame({"example_id": ["e1", "e2", "e3", "e4", "e5"],
                      "input_text": ["2+2?", "capital of France?", "3*3?", "hi", "<b>x</b>"],
                      "output_text": ["4", "Paris", "6", "hello there", "a"],
                      "score.exact": [1.0, 1.0, 0.0, 1.0, 1.0], "score.latency": [100.0, 200.0, 100.0, 50.0, 10.0]})
    b = pd.DataFrame({"example_id": ["e1", "e2", "e3", "e4", "e5"],
                      "input_text": a["input_text"],
                      "output_text": ["5", "Paris", "9", "hello, friend", "a <i>"],
                      "score.exact": [0.0, 1.0, 1.0, 1.0, 1.0], "score.latency": [90.0, 200.0, 150.0, 50.0, 10.0]})
    return a, b


def test_statuses_and_deltas_respect_lower_is_better():
    a, b = _runs()
    c = OutputComparison(a, b, lower_is_better=["latency"])
    t = c.table.set_index("example_id")
    # e1: exact down, latency better -> mixed; e3: exact up, latency worse -> mixed
    assert t.loc["e1", "status"] == "mixed" and t.loc["e3", "status"] == "mixed"
    assert t.loc["e2", "status"] == "same" and t.loc["e4", "status"] == "changed"
    assert t.loc["e1", "exact_delta"] == -1.0 and t.loc["e1", "latency_delta"] == -10.0
    only_exact = OutputComparison(a, b, scores=["score.exact"])
    assert only_exact.evaluators == ["exact"]
    assert only_exact.table.set_index("example_id")["status"].to_dict() == {
        "e1": "regression", "e2": "same", "e3": "fix", "e4": "changed", "e5": "changed"}
    assert only_exact.counts() == {"all": 5, "regression": 1, "fix": 1, "mixed": 0, "changed": 2, "same": 1}
    with pytest.raises(ValueError, match="unknown status"):
        only_exact.rows("worse")


def test_word_diff_marks_changed_words_and_escapes():
    da, db = word_diff_html("hello there", "hello, friend")
    assert da == "hello <del>there</del>" and db == "hello<ins>,</ins> <ins>friend</ins>"
    da, db = word_diff_html("a", "a <i>")
    assert "<i>" not in db and "&lt;i&gt;" in db


def test_widget_filters_steps_and_selects_into_a_queue(tmp_path):
    a, b = _runs()
    w = lo.compare_outputs(a, b, scores=["score.exact"])
    assert [x["id"] for x in w.ids] == ["e1", "e2", "e3", "e4", "e5"] and w.item["example_id"] == "e1"
    w.status = "regression"  # what the view sends on key 2
    assert [x["id"] for x in w.ids] == ["e1"] and w.item["status"] == "regression"
    assert "<del>4</del>" in w.item["baseline_html"] and "<ins>5</ins>" in w.item["candidate_html"]
    w.status = "changed"
    assert [x["id"] for x in w.ids] == ["e4", "e5"] and w.item["example_id"] == "e4"
    w.cursor = 1  # j
    assert w.item["example_id"] == "e5" and w.item["position"] == 1
    w.selected_ids = ["e5", "e1"]  # x on two examples
    assert w.selected["example_id"].tolist() == ["e5", "e1"]
    q = w.annotate({"better": ["baseline", "candidate", "tie"]}, lo.Store(tmp_path / "s"), "alice")
    assert q.session.progress()["total"] == 2
    data, _ = w._repr_mimebundle_()
    assert "lo-cmp-snapshot" in data["text/html"] and "<script" not in data["text/html"]
    assert data["text/plain"].startswith("CompareWidget('baseline' -> 'candidate': 5 examples, 1 regressions")


def test_runs_without_shared_examples_or_columns_say_so():
    a, b = _runs()
    with pytest.raises(ValueError, match="share no example_id"):
        OutputComparison(a, b.assign(example_id=["x1", "x2", "x3", "x4", "x5"]))
    with pytest.raises(ValueError, match="no 'output_text' column"):
        OutputComparison(a.drop(columns="output_text"), b)
    with pytest.raises(TypeError, match="must be an Experiment"):
        OutputComparison([1, 2], b)


def test_experiments_compare_by_their_per_example_scores():
    from llmops_nb.experiments import Experiment

    def exp(name: str, outputs: list[str], passed: list[bool]) -> Experiment:
        ids = ["e1", "e2", "e3"]
        out = pd.DataFrame({"example_id": ids * 2, "repeat": [0] * 3 + [1] * 3, "input_text": ["2+2?", "3+3?", "cap?"] * 2,
                            "output_text": outputs + ["other"] * 3})
        res = pd.DataFrame({"example_id": ids * 2, "repeat": [0] * 3 + [1] * 3, "evaluator": "exact_match",
                            "passed": passed + passed[::-1], "score": [float(p) for p in passed + passed[::-1]],
                            "error": None})
        return Experiment(f"id-{name}", name, {}, out, res)

    # repeats: outputs of repeat 0 are shown, scores are averaged over the repeats
    c = OutputComparison(exp("v1", ["4", "7", "Paris"], [True, False, True]),
                         exp("v2", ["5", "6", "Paris"], [False, True, True]))
    assert (c.name_a, c.name_b) == ("v1", "v2") and c.evaluators == ["exact_match"]
    t = c.table.set_index("example_id")
    assert t["baseline_output"].tolist() == ["4", "7", "Paris"]
    assert t["exact_match_baseline"].tolist() == [1.0, 0.0, 1.0] and t["exact_match_candidate"].tolist() == [0.5, 1.0, 0.5]
    assert t["status"].tolist() == ["regression", "fix", "regression"]
