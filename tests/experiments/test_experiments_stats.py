"""The comparison's statistics: power on a planted regression, false alarms on no change."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmops_nb.experiments import Experiment, compare, compare_traffic, holm, mcnemar, wilcoxon


def _exp(name: str, passed: np.ndarray, score: np.ndarray) -> Experiment:
    n = len(passed)
    ids = [f"e{i}" for i in range(n)]
    outputs = pd.DataFrame({"experiment_id": name, "example_id": ids, "repeat": 0, "trace_id": [f"{name}-{i}" for i in ids],
                            "output_text": "x", "error": None, "latency_ms": 100.0, "cost_usd": 0.001})
    res = pd.concat([
        pd.DataFrame({"example_id": ids, "evaluator": "correct", "passed": passed, "score": passed.astype(float), "error": None}),
        pd.DataFrame({"example_id": ids, "evaluator": "quality", "passed": pd.array([pd.NA] * n, dtype="boolean"),
                      "score": score, "error": None}),
    ], ignore_index=True)
    return Experiment(name, name, {}, outputs, res)


def _pair(seed: int, n: int, drop: float) -> tuple[Experiment, Experiment]:
    rng = np.random.default_rng(seed)
    base_p = rng.random(n) * 0.6 + 0.3  # per-example difficulty
    a = rng.random(n) < base_p
    b = rng.random(n) < np.clip(base_p - drop, 0, 1)
    qa = np.clip(rng.normal(3.5, 0.8, n).round(), 1, 5)
    qb = np.clip((qa + rng.normal(-drop * 4, 0.7, n)).round(), 1, 5)
    return _exp("a", a, qa), _exp("b", b, qb)


def test_false_alarms_at_most_about_five_percent():
    alarms = 0
    seeds = 200
    for seed in range(seeds):
        a, b = _pair(seed, 150, 0.0)
        if compare(a, b, seed=seed, n_boot=200).significant_regressions:
            alarms += 1
    assert alarms / seeds <= 0.07  # nominal 5% (Holm over 2 evaluators); 7% allows sampling error


def test_planted_regression_is_found():
    found = sum(bool({"correct", "quality"} & set(compare(*_pair(s, 150, 0.2), seed=s, n_boot=200).significant_regressions))
                for s in range(50))
    assert found >= 47


def test_tests_agree_with_scipy_and_hand_counts():
    a = np.array([True] * 40 + [False] * 10 + [True] * 5 + [False] * 45)
    b = np.array([True] * 40 + [False] * 10 + [False] * 5 + [True] * 15 + [False] * 30)
    r = mcnemar(a, b)
    from scipy.stats import binomtest

    assert r.p_value == binomtest(15, 20, 0.5).pvalue
    assert r.diff == pytest.approx(b.mean() - a.mean())
    w = wilcoxon([1, 2, 3, 4, 5, 6], [2, 3, 4, 5, 6, 8])
    assert w.diff > 0 and w.ci_low <= w.diff <= w.ci_high
    assert holm([0.01, 0.02, 0.5]) == [0.03, 0.04, 0.5]


def test_traffic_comparison_unpaired():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"prompt_version": ["v1"] * 400 + ["v2"] * 400,
                       "passed": np.r_[rng.random(400) < 0.9, rng.random(400) < 0.8],
                       "latency_ms": np.r_[rng.normal(900, 100, 400), rng.normal(900, 100, 400)]})
    out = compare_traffic(df, by="prompt_version", a="v1", b="v2", metrics=["passed", "latency_ms"]).set_index("metric")
    assert out.loc["passed", "verdict"] == "worse"
    assert out.loc["latency_ms", "verdict"] == "no significant change"
