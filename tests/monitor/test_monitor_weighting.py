"""Per-slice sampling must not skew the monitor's pass rates: a slice sampled at 100% with a much
lower pass rate than the rest (sampled at 10%), plus always-included error traces. The monitor's
pass rate (results weighted by 1 / inclusion probability, Hajek) has the population's true pass
rate inside its 95% interval (Wilson on the Kish effective sample size); the plain mean of the
sample does not come close."""

from __future__ import annotations

import numpy as np
import pandas as pd

import llmops_nb as lo
from llmops_nb.demo import generate
from llmops_nb.monitor import read_monitor, run_monitor, sample_rate
from llmops_nb.monitor._monitor import timeseries
from llmops_nb.stats import wilson

N, HARD_SHARE, P_HARD, P_EASY = 2000, 0.2, 0.3, 0.9


def _population(seed: int = 7) -> tuple[pd.DataFrame, dict[str, bool]]:
    """Demo spans whose root answers pass the ``^OK`` regex with a known rate per segment."""
    spans = generate(N, seed=seed, start="2026-03-02T00:00:00", days=0.5).spans.copy()
    rng = np.random.default_rng(seed)
    tids = sorted(spans["trace_id"].unique())
    hard = dict(zip(tids, rng.random(len(tids)) < HARD_SHARE))
    passes = {t: bool(rng.random() < (P_HARD if hard[t] else P_EASY)) for t in tids}
    spans["metadata"] = [{**(m if isinstance(m, dict) else {}), "segment": "hard" if hard[t] else "easy"}
                         for m, t in zip(spans["metadata"], spans["trace_id"])]
    root = spans["parent_span_id"].isna()
    spans.loc[root, "output_text"] = ["OK fine" if passes[t] else "sorry, wrong" for t in spans.loc[root, "trace_id"]]
    return spans, passes


def test_weighted_pass_rate_covers_the_population_truth(tmp_path):
    spans, passes = _population()
    st = lo.Store(tmp_path / "store")
    st.add_spans(spans)
    truth = float(np.mean([passes[t] for t in st.traces()["trace_id"]]))
    cfg = {"name": "w", "evaluators": [{"regex": {"pattern": "^OK"}}], "freq": "1D",
           "sampling": {"rate": 0.1, "slices": {"segment=hard": 1.0}, "always": ["has_error == 1"]},
           "slos": {"pass_rate:regex": ">= 0.7"}}
    run = run_monitor(cfg, store=st)
    ts = read_monitor(st, "w").timeseries
    assert len(ts) == 1
    row = ts.iloc[0]
    est, n_eff = float(row["pass_rate:regex"]), float(row["n_pass_rate:regex"])
    lo_, hi_ = wilson(est * n_eff, n_eff)

    res = st.read("results", "run_id = ?", [run.run_id])
    unweighted = float(res["passed"].astype(float).mean())
    ulo, uhi = wilson(unweighted * len(res), len(res))
    ledger = st.read("monitor_samples", "monitor = ?", ["w"])
    sampled = ledger[ledger["sampled"].astype(bool)]
    always = sampled["reason"].str.startswith("always")
    print(f"\ntruth {truth:.4f} | weighted {est:.4f} [{lo_:.4f}, {hi_:.4f}] n_eff {n_eff:.1f} | "
          f"unweighted {unweighted:.4f} [{ulo:.4f}, {uhi:.4f}] n {len(res)} | always-included {int(always.sum())}")

    assert always.any() and (sampled.loc[always, "inclusion_prob"] == 1.0).all()
    assert (sampled.loc[sampled["reason"] == "slice: segment=hard", "inclusion_prob"] == 1.0).all()
    assert (sampled.loc[sampled["reason"] == "rate", "inclusion_prob"] == 0.1).all()
    assert len(res) == len(sampled) < N / 2 and n_eff < len(res)
    assert lo_ <= truth <= hi_                     # the weighted estimate covers the truth
    assert not (ulo <= truth <= uhi)               # the plain sample mean does not
    assert abs(est - truth) < abs(unweighted - truth) / 4
    # the SLO check the monitor wrote uses the weighted rate and its interval: met, not an alert
    chk = run.checks[run.checks["metric"] == "pass_rate:regex"].iloc[0]
    assert chk["value"] == est and chk["ci_low"] == lo_ and not chk["missed"] and run.fired == []
    # without weights (the old behaviour) the same sample would have fired a false alert
    plain = timeseries(st.traces(), results=res, freq="1D")
    assert float(plain["pass_rate:regex"].iloc[0]) == unweighted < 0.7


def test_budget_cut_lowers_inclusion_probabilities(tmp_path):
    """A per-run cap keeps the lowest hash positions: the kept traces' probability is the last
    position kept (below the design rate); the estimate still covers the truth."""
    spans, passes = _population()
    st = lo.Store(tmp_path / "store")
    st.add_spans(spans)
    truth = float(np.mean([passes[t] for t in st.traces()["trace_id"]]))
    cfg = {"name": "b", "evaluators": [{"regex": {"pattern": "^OK"}}], "freq": "1D", "budget": {"traces_per_run": 400},
           "sampling": {"rate": 0.1, "slices": {"segment=hard": 1.0}, "always": ["has_error == 1"]}}
    run = run_monitor(cfg, store=st)
    assert run.sampled == 400
    ledger = st.read("monitor_samples", "monitor = ?", ["b"])
    kept = ledger[ledger["sampled"].astype(bool)]
    always = kept["reason"].str.startswith("always")
    assert (kept.loc[always, "inclusion_prob"] == 1.0).all()
    # the cap kept the non-always traces whose hash position is below the last one kept
    last = max(sample_rate(t) for t in kept.loc[~always, "trace_id"])
    hard = kept[kept["reason"] == "slice: segment=hard"]["inclusion_prob"]
    easy = kept[kept["reason"] == "rate"]["inclusion_prob"]
    assert 0.1 < last < 1.0 and (hard == last).all() and (easy == min(0.1, last)).all()
    p = hard
    row = read_monitor(st, "b").timeseries.iloc[0]
    est, n_eff = float(row["pass_rate:regex"]), float(row["n_pass_rate:regex"])
    lo_, hi_ = wilson(est * n_eff, n_eff)
    print(f"\nbudget 400: truth {truth:.4f} | weighted {est:.4f} [{lo_:.4f}, {hi_:.4f}] n_eff {n_eff:.1f} | p={p.iloc[0]:.4f}")
    assert lo_ <= truth <= hi_


def test_ledger_written_before_inclusion_prob_still_reads(tmp_path):
    """A store whose ledger predates the ``inclusion_prob`` column keeps working (probability 1)."""
    from llmops_nb.monitor._online import _OLD_SAMPLES

    st = lo.Store(tmp_path / "store")
    st.ensure()
    st.register("monitor_samples", _OLD_SAMPLES, key=["monitor", "trace_id"])
    st.add("monitor_samples", pd.DataFrame({"monitor": ["m"], "trace_id": ["old"], "run_id": ["monitor:m:000000"],
                                            "sampled": [True], "reason": ["rate"],
                                            "start_time": [pd.Timestamp("2026-01-01", tz="UTC")],
                                            "created_at": [pd.Timestamp("2026-01-01", tz="UTC")]}))
    st.add_spans(generate(20, seed=1).spans)
    run = run_monitor({"name": "m", "evaluators": ["refusal"]}, store=st)
    assert run.considered == 20 and run.evaluated == 20
    assert "pass_rate:refusal" in read_monitor(st, "m").timeseries.columns
