"""Gates: rule values with confidence intervals, and the `llmops-nb gate` exit codes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

import llmops_nb as lo
from llmops_nb.cli import main
from llmops_nb.evals import Latency, Regex, gate
from llmops_nb.results import write_results
from llmops_nb.rules import Rule, parse_rule
from llmops_nb.stats import bootstrap_interval
from llmops_nb.stats import wilson as wilson_interval


def results(n=200, seed=0):
    rng = np.random.default_rng(seed)
    sp = lo.read_traces([{"trace_id": f"t{i}", "span_id": f"s{i}", "kind": "llm", "input_text": "q",
                          "output_text": "grounded" if rng.random() < 0.93 else "made up",
                          "latency_ms": float(rng.gamma(2.0, 400.0))} for i in range(n)], format="records")
    return lo.evaluate(sp, [Regex("grounded", name="groundedness"), Latency(max_ms=2000)], cache=False,
                       progress=False), sp


def test_gate_values_and_intervals():
    res, sp = results()
    rep = gate(res, {"groundedness": ">= 0.9", "p95_latency_ms": "<= 2000", "error_rate": "<= 0.01"})
    g, p95, err = rep.rules
    share = (sp["output_text"] == "grounded").mean()
    assert g.value == pytest.approx(share) and g.method == "wilson" and g.n == 200
    assert g.ci_low < g.value < g.ci_high
    assert p95.value == pytest.approx(np.quantile(sp["latency_ms"], 0.95))
    assert p95.ci_low <= p95.value <= p95.ci_high and p95.method == "bootstrap"
    assert err.value == 0.0 and err.passed
    assert rep.passed == all(r.passed for r in rep.rules)
    assert "groundedness >= 0.9" in str(rep) and "95% CI" in str(rep)
    assert "<table>" in rep._repr_html_() and "PASS" in rep.to_markdown()
    assert rep.to_frame().shape[0] == 3


def test_gate_fails_and_names_metrics():
    res, _ = results()
    rep = gate(res, ["groundedness >= 0.99", "mean_latency_ms < 10"])
    assert not rep.passed and not any(r.passed for r in rep.rules)
    with pytest.raises(KeyError, match="evaluators: \\['groundedness', 'latency_ms'\\]"):
        gate(res, {"faithfulness": ">= 0.9"})
    with pytest.raises(ValueError, match="not valid"):
        parse_rule("groundedness is high")
    assert parse_rule("groundedness>=90%") == Rule("groundedness", ">=", 0.9, percent=True)


def test_strict_gate_needs_the_whole_interval():
    res = pd.DataFrame({"evaluator": ["x"] * 20, "passed": [True] * 19 + [False], "score": [1.0] * 19 + [0.0],
                        "error": [None] * 20})
    assert gate(res, {"x": ">= 0.9"}).passed
    assert not gate(res, {"x": ">= 0.9"}, strict=True).passed


def test_interval_helpers():
    lo_, hi = wilson_interval(93, 100)
    # Wilson is close to (and a bit narrower than) the Clopper-Pearson exact interval
    exact = binomtest(93, 100).proportion_ci(0.95, method="exact")
    assert exact.low - 0.01 < lo_ < 0.93 < hi < exact.high + 0.01
    x = np.random.default_rng(1).normal(5, 1, 400)
    a, b = bootstrap_interval(x)
    assert a < 5 < b and b - a < 0.4


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_cli_gate_exit_codes(tmp_path, suffix, capsys):
    res, _ = results()
    path = str(tmp_path / f"results{suffix}")
    write_results(res, path)
    assert main(["gate", path, "--rule", "groundedness>=0.8", "--rule", "p95_latency_ms<=5000"]) == 0
    assert "PASSED" in capsys.readouterr().out
    assert main(["gate", path, "--rule", "groundedness>=0.99"]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert main(["gate", path, "--rule", "nope>=1"]) == 2


def test_cli_gate_on_a_store(tmp_path, capsys):
    res, sp = results(50)
    store = lo.Store(tmp_path / "store")
    store.add_results(res)
    assert main(["gate", str(store.path), "-r", "groundedness >= 0.5"]) == 0
    capsys.readouterr()
    # the installed entry point, as CI calls it: a failing rule exits 1
    bad = subprocess.run([sys.executable, "-m", "llmops_nb.cli", "gate", str(store.path), "-r", "groundedness >= 1.0",
                          "--format", "markdown"], capture_output=True, text=True)
    assert bad.returncode == 1 and "| groundedness >= 1 |" in bad.stdout


def test_cli_evaluate(tmp_path, capsys):
    store = lo.Store(tmp_path / "s")
    store.add_spans(lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm", "output_text": '{"a": 1}'}],
                                   format="records"))
    out = tmp_path / "r.parquet"
    assert main(["evaluate", "--store", str(store.path), "-e", "is_json", "-e",
                 '{"name": "regex", "params": {"pattern": "a"}}', "--run-id", "cli", "--out", str(out)]) == 0
    assert len(store.results("run_id = 'cli'")) == 2 and pd.read_parquet(out).shape[0] == 2
    assert main(["gate", str(store.path), "-r", "is_json >= 1"]) == 0
