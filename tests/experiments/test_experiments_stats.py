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


# --- practical significance: equal variants measured on a busy machine, and a planted regression ---

def _variant(name: str, rng: np.random.Generator, base_lat: np.ndarray, base_cost: np.ndarray, p_pass: np.ndarray,
             u: np.ndarray, slowdown: float, drop: float) -> Experiment:
    """One run of a task function: per-example latency with per-call noise and a run-level drift
    (machine load, as two runs of the same function show), cost varying with the output length,
    pass/fail from a per-example difficulty (the same examples pass in both runs, but for 30% of
    them, redrawn as an LLM's sampling would) and a 1-5 score."""
    n = len(base_lat)
    u = np.where(rng.random(n) < 0.3, rng.random(n), u)
    drift = np.exp(rng.normal(0, 0.015))
    lat = base_lat * drift * np.exp(rng.normal(0, 0.15, n)) * (1 + slowdown)
    cost = base_cost * np.exp(rng.normal(0, 0.05, n)) * (1 + slowdown)
    passed = u < p_pass - drop  # a drop of 0.10: ten points of pass rate
    score = np.clip(np.round(p_pass * 5 * (1 - drop) + rng.normal(0, 0.7, n)), 1, 5)
    ids = [f"e{i}" for i in range(n)]
    outputs = pd.DataFrame({"experiment_id": name, "example_id": ids, "repeat": 0, "trace_id": [f"{name}-{i}" for i in ids],
                            "output_text": "x", "error": None, "latency_ms": lat, "cost_usd": cost})
    res = pd.concat([
        pd.DataFrame({"example_id": ids, "evaluator": "correct", "passed": passed, "score": passed.astype(float), "error": None}),
        pd.DataFrame({"example_id": ids, "evaluator": "quality", "passed": pd.array([pd.NA] * n, dtype="boolean"),
                      "score": score, "error": None}),
    ], ignore_index=True)
    return Experiment(name, name, {}, outputs, res)


def _task_pair(seed: int, n: int, regression: float) -> tuple[Experiment, Experiment]:
    rng = np.random.default_rng(seed)
    base_lat = rng.lognormal(np.log(800), 0.5, n)       # ms per example
    base_cost = rng.lognormal(np.log(4e-4), 0.4, n)     # USD per example
    p_pass = rng.random(n) * 0.4 + 0.55
    u = rng.random(n)
    return (_variant("a", rng, base_lat, base_cost, p_pass, u, 0.0, 0.0),
            _variant("b", rng, base_lat, base_cost, p_pass, u, regression, regression))


def test_equal_variants_raise_at_most_five_percent_false_alarms_over_every_metric():
    seeds = 80
    alarms = {}
    significant_only = 0
    for seed in range(seeds):
        cmp = compare(*_task_pair(seed, 200, 0.0), seed=seed, n_boot=300)
        for m in cmp.significant_regressions:
            alarms[m] = alarms.get(m, 0) + 1
        significant_only += bool(cmp.significant_regressions) or (cmp.evaluators["verdict"] == "below min effect").any()
        if cmp.significant_regressions:
            alarms["any"] = alarms.get("any", 0) + 1
    print(f"false alarms over {seeds} seeds of equal variants: {alarms}; "
          f"statistically significant changes (before the minimum effect): {significant_only}")
    assert alarms.get("any", 0) / seeds <= 0.05, alarms
    # the drift between runs is real and significant more often than that: the minimum effect is what filters it
    assert significant_only > alarms.get("any", 0)


def test_planted_ten_percent_regression_is_found_on_every_metric():
    seeds = 40
    found = dict.fromkeys(["correct", "quality", "latency_ms", "cost_usd"], 0)
    for seed in range(seeds):
        for m in compare(*_task_pair(seed, 300, 0.10), seed=seed, n_boot=300).significant_regressions:
            found[m] += 1
    power = {m: k / seeds for m, k in found.items()}
    print(f"power on a planted 10% regression (300 examples) over {seeds} seeds: {power}")
    assert min(power.values()) >= 0.8, power


def test_min_effect_is_shown_and_set_per_metric():
    a, b = _task_pair(3, 200, 0.10)
    cmp = compare(a, b, n_boot=300)
    lat = cmp.evaluators.set_index("metric").loc["latency_ms"]
    assert lat["min_effect"] == pytest.approx(max(0.10 * lat["a"], 5.0))
    assert "10% of a" in lat["min_effect_shown"] and "min effect" in cmp._repr_html_()
    loose = compare(a, b, n_boot=300, min_effect={"latency_ms": "50%", "cost_usd": 1.0, "correct": 0.5})
    t = loose.evaluators.set_index("metric")
    assert t.loc["latency_ms", "verdict"] == t.loc["cost_usd", "verdict"] == "below min effect"
    assert "latency_ms" not in loose.significant_regressions and "correct" not in loose.significant_regressions
    with pytest.raises(KeyError, match="latency_ms"):
        compare(a, b, min_effect={"latncy_ms": "10%"})
    with pytest.raises(ValueError, match="10%"):
        compare(a, b, min_effect={"latency_ms": "ten"})
