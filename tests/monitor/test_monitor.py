"""Production overview: time series by group, SLO checks and alerts, figures."""

from __future__ import annotations

import numpy as np
import pandas as pd

from llmops_nb.monitor import check_slos, overview_figures, plot_timeseries, timeseries


def _traces(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 4000
    start = pd.Timestamp("2026-11-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 7 * 24 * 3600, n), unit="s")
    model = rng.choice(["gpt-4o-mini", "claude-haiku"], n)
    pv = rng.choice(["v1", "v2"], n)
    day = (start - pd.Timestamp("2026-11-01", tz="UTC")).days
    # planted: errors jump for claude-haiku from day 4; quality drops for v2
    err_p = np.where((model == "claude-haiku") & (day >= 4), 0.15, 0.01)
    has_error = rng.random(n) < err_p
    latency = rng.lognormal(6.5, 0.4, n) * np.where(model == "claude-haiku", 1.5, 1.0)
    traces = pd.DataFrame({
        "trace_id": [f"t{i}" for i in range(n)], "start_time": start, "has_error": has_error, "latency_ms": latency,
        "cost_usd": rng.gamma(2, 0.001, n), "total_tokens": rng.integers(100, 2000, n),
        "models": [[m] for m in model], "metadata": [{"prompt_version": p} for p in pv],
    })
    passed = rng.random(n) < np.where(pv == "v2", 0.75, 0.92)
    results = pd.DataFrame({"trace_id": traces["trace_id"], "evaluator": "correctness", "passed": passed,
                            "score": passed.astype(float), "error": None})
    return traces, results


def test_timeseries_groups_and_pass_rates():
    traces, results = _traces()
    ts = timeseries(traces, results=results, by=["model", "prompt_version"], freq="1D")
    assert set(ts["model"]) == {"gpt-4o-mini", "claude-haiku"}
    assert set(ts["prompt_version"]) == {"v1", "v2"}
    assert ts["n"].sum() == len(traces)
    assert "pass_rate:correctness" in ts.columns
    v2 = ts[ts["prompt_version"] == "v2"]["pass_rate:correctness"].mean()
    v1 = ts[ts["prompt_version"] == "v1"]["pass_rate:correctness"].mean()
    assert v2 < v1 - 0.1
    assert traces.columns.tolist()[0] == "trace_id"  # input not mutated
    assert "_period" not in traces.columns


def test_slo_alerts_find_the_planted_breach():
    traces, results = _traces()
    ts = timeseries(traces, results=results, by="model", freq="1D")
    rep = check_slos(ts, {"error_rate": "<= 0.05", "pass_rate:correctness": ">= 0.7"}, significant_only=True)
    alerts = rep.alerts
    err = alerts[alerts["metric"] == "error_rate"]
    assert len(err) > 0
    assert set(err["model"]) == {"claude-haiku"}
    days = (err["period"] - pd.Timestamp("2026-11-01", tz="UTC")).dt.days
    assert days.min() >= 4
    assert "alert" in rep._repr_html_()


def test_figures_render():
    traces, results = _traces()
    ts = timeseries(traces, results=results, by="model")
    fig = plot_timeseries(ts, "error_rate", by="model", target="<= 0.05")
    lines = [t for t in fig.data if t.hoverinfo != "skip"]
    bands = [t for t in fig.data if t.fill == "tonexty"]
    assert len(lines) == 2 and len(bands) == 2  # one line and one 95% interval band per model
    from llmops_nb.monitor import interval_of

    lo_, hi_ = interval_of(ts, "error_rate")
    assert (lo_ <= ts["error_rate"]).all() and (ts["error_rate"] <= hi_).all()
    assert len(plot_timeseries(ts, "error_rate", by="model", band=False).data) == 2
    spans = pd.DataFrame({
        "span_id": ["a", "b", "c"], "kind": ["llm", "llm", "tool"], "model": ["m1", "m2", None], "cost_usd": [0.1, 0.2, None],
        "latency_ms": [100.0, 200.0, 5.0], "prompt_tokens": [10, 20, None], "completion_tokens": [5, 6, None],
        "status": ["ok", "error", "ok"],
    })
    figs = overview_figures(spans)
    assert set(figs) == {"cost", "latency", "tokens", "errors"}
