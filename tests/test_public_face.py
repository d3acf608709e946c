"""The public face: verbs are functions, subpackages do not shadow them, old names still work."""

from __future__ import annotations

import importlib
import pydoc
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import llmops_nb as lo


def test_annotate_is_the_function_even_after_the_old_module_is_imported():
    sys.modules.pop("llmops_nb.annotate", None)
    with pytest.warns(DeprecationWarning, match="llmops_nb.annotation"):
        old = importlib.import_module("llmops_nb.annotate")
    from llmops_nb.annotation import Question, annotate

    assert old.Question is Question  # the old module path keeps working for one release
    assert lo.annotate is annotate
    assert "function annotate" in pydoc.render_doc(lo.annotate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from llmops_nb.annotate import queue_from_selection  # noqa: F401


def test_capture_is_the_function_even_after_the_old_module_is_imported():
    sys.modules.pop("llmops_nb.capture", None)
    with pytest.warns(DeprecationWarning, match="llmops_nb.tracing"):
        old = importlib.import_module("llmops_nb.capture")
    from llmops_nb.tracing import Collector, attributes, capture

    assert old.Collector is Collector and old.capture is capture  # the old module path works for one release
    assert lo.capture is capture and lo.tracing.capture is capture
    assert "function capture" in pydoc.render_doc(lo.capture)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from llmops_nb.capture import span  # noqa: F401
    # what the package offered as lo.capture.<name> still works, with a warning naming the new place
    with pytest.warns(DeprecationWarning, match=r"lo\.tracing\.attributes"), \
            lo.capture.attributes(session_id="chat-1") as a:
        assert a.session_id == "chat-1"
    with attributes(session_id="chat-2") as a:
        assert a.session_id == "chat-2"


_EVERY_MODULE = """
import importlib, inspect, json, pkgutil, pydoc, warnings
import llmops_nb as lo
warnings.simplefilter("ignore")
failed = {}
for m in pkgutil.walk_packages(lo.__path__, "llmops_nb."):
    try:
        importlib.import_module(m.name)
    except ImportError as e:  # an optional dependency that is not installed
        failed[m.name] = str(e)
wrong = {name: repr(getattr(lo, name)) for name, mod in lo._LAZY.items()
         if getattr(lo, name) is not getattr(importlib.import_module(mod), name)}
print(json.dumps({"failed": failed, "wrong": wrong,
                  "capture": inspect.isfunction(lo.capture) and "function capture" in pydoc.render_doc(lo.capture),
                  "annotate": inspect.isfunction(lo.annotate) and "function annotate" in pydoc.render_doc(lo.annotate)}))
"""


def test_no_submodule_shadows_a_public_name_after_importing_every_submodule():
    import json
    import subprocess

    out = subprocess.run([sys.executable, "-c", _EVERY_MODULE], capture_output=True, text=True, timeout=300, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["wrong"] == {}, got["wrong"]
    assert got["capture"] and got["annotate"]
    assert "llmops_nb.capture" not in got["failed"] and "llmops_nb.tracing" not in got["failed"]


def test_the_annotation_package_is_reachable_under_its_new_name():
    assert lo.annotation.__name__ == "llmops_nb.annotation"
    assert "annotate" in lo.annotation.__all__
    assert lo.llm.Runner is lo.evals.Runner


def test_one_wilson_interval_everywhere_and_the_old_name_warns():
    from llmops_nb.annotation import wilson as annotation_wilson
    from llmops_nb.stats import wilson

    assert annotation_wilson is wilson
    with pytest.warns(DeprecationWarning, match="llmops_nb.stats.wilson"):
        lo_, hi = lo.analysis.wilson_interval(np.array([5]), np.array([100]))
    assert (float(lo_[0]), float(hi[0])) == wilson(5, 100)


def test_one_rule_grammar_for_gates_experiments_and_targets():
    from llmops_nb.rules import Rule, parse_rule, rules_from

    assert parse_rule("cost_increase <= 10%") == Rule("cost_increase", "<=", 0.1, percent=True)
    assert parse_rule("groundedness >= 90%").threshold == pytest.approx(0.9)  # % always divides by 100
    assert rules_from({"pass_rate:correctness": 0.9}) == [Rule("pass_rate:correctness", ">=", 0.9)]
    with pytest.warns(DeprecationWarning, match="llmops_nb.rules.parse_rule"):
        assert lo.experiments.parse_rule("cost_increase <= 10%") == ("cost_increase", "<=", 10.0, True)


def test_one_gate_command_for_results_and_experiments():
    from llmops_nb.cli import COMMANDS

    assert COMMANDS["gate"] == COMMANDS["experiment"]


def test_store_labels_and_lo_labels_agree_on_decisions_still_in_a_session_log(tmp_path):
    from llmops_nb.annotation._labels import new_label_rows

    store = lo.Store(tmp_path)
    store.add_labels(new_label_rows([{"item_id": "i1", "trace_id": "i1", "question": "ok", "annotator": "ann",
                                      "value": True}]))
    log = store.label_log("bob")  # a running session: its decision is only in its log so far
    log.append(new_label_rows([{"item_id": "i2", "trace_id": "i2", "question": "ok", "annotator": "bob",
                                "value": False}]).to_dict("records"))
    assert store.count("labels") == 1
    mine = store.labels().sort_values("label_id")["item_id"].tolist()
    assert mine == ["i1", "i2"]
    assert lo.labels(store, history=True).sort_values("label_id")["item_id"].tolist() == mine
    assert store.labels("annotator = ?", ["bob"])["item_id"].tolist() == ["i2"]
    assert log.flush() == 1 and store.labels().shape[0] == 2  # moved, still seen once


def test_old_argument_names_still_work_with_a_warning(tmp_path):
    from llmops_nb import datasets as lds

    df = pd.DataFrame({"example_id": ["a"], "input_text": ["hi"]})
    with pytest.warns(DeprecationWarning, match=r"datasets.save\(store=...\)"):
        v = lds.save(df, "old", message="m", storage=str(tmp_path))
    assert lds.load("old", store=str(tmp_path), as_="pandas")["example_id"].tolist() == ["a"] and v.version == 0
    with pytest.warns(DeprecationWarning, match="evaluate_missing"), pytest.raises(KeyError):
        lo.load_experiment("none", store=tmp_path / "s", evaluate_missing=True)
    # level means a grain only: a confidence level is confidence= (level= warns, same numbers)
    from llmops_nb.annotation import align, corrected_pass_rate

    judge, human = [True, True, False, True] * 10, [True, False, False, True] * 10
    with pytest.warns(DeprecationWarning, match=r"align\(confidence=...\)"):
        old = align(judge, human, level=0.9, n_boot=50)
    new = align(judge, human, confidence=0.9, n_boot=50)
    assert old.metrics.equals(new.metrics) and new.confidence == 0.9
    with pytest.warns(DeprecationWarning, match="Alignment.confidence"):
        assert new.level == 0.9
    with pytest.warns(DeprecationWarning, match=r"corrected_pass_rate\(confidence=...\)"):
        r = corrected_pass_rate(judge, human, [True] * 8, level=0.8, n_boot=50)
    assert r.confidence == 0.8 and "80% CI" in repr(r)
    from llmops_nb.annotation import krippendorff_alpha

    ratings = [[1, 2], [2, 2], [3, 3], [1, 1]]
    with pytest.warns(DeprecationWarning, match=r"krippendorff_alpha\(scale=...\)"):
        assert krippendorff_alpha(ratings, level="ordinal") == krippendorff_alpha(ratings, scale="ordinal")


def test_result_objects_share_one_protocol():
    from llmops_nb.annotation import align
    from llmops_nb.evals import gate
    from llmops_nb.monitor import check_slos
    from llmops_nb.results import ResultView

    res = pd.DataFrame({"evaluator": ["ok"] * 4, "passed": [True, True, True, False], "score": [1.0] * 4,
                        "error": [None] * 4})
    ts = pd.DataFrame({"period": [1, 2], "n": [100, 100], "errors": [1, 9], "error_rate": [0.01, 0.09]})
    spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm"}], format="records")
    objects = [gate(res, {"ok": ">= 0.9"}), check_slos(ts, {"error_rate": "<= 0.05"}),
               align([True, True, False, True], [True, False, False, True], n_boot=50), lo.loaders.profile(spans)]
    for obj in objects:
        assert isinstance(obj, ResultView)
        assert isinstance(obj.frame, pd.DataFrame) and len(obj.frame)
        assert obj._repr_html_().strip().startswith("<") and repr(obj)
        assert obj.to_markdown().startswith("|")
    for cls in (lo.experiments.Comparison, lo.experiments.ExperimentGate, lo.datasets.DedupeResult,
                lo.annotation.Agreement, lo.analysis.Clusters, lo.loaders.Evaluations):
        assert issubclass(cls, ResultView) and hasattr(cls, "_repr_html_")
