"""Production overview: quality, cost and latency over time by model and prompt version,
against targets (SLOs), with alerts where a target is missed."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.results import ResultView, item_scores
from llmops_nb.rules import rules_from
from llmops_nb.stats import wilson

__all__ = ["timeseries", "check_slos", "plot_timeseries", "overview_figures", "SLOReport", "group_column", "interval_of"]

def group_column(frame: pd.DataFrame, by: str) -> pd.Series:
    """A grouping column: a column of the frame, ``model`` (first model of a trace), or a
    metadata key (``prompt_version``, ``tenant``, ...).

    Example:
        >>> group_column(pd.DataFrame({"metadata": [{"tenant": "a"}, {}]}), "tenant").tolist()
        ['a', None]
    """
    if by in frame.columns and by not in ("metadata",):
        col = frame[by]
        if by == "models":
            return col.map(lambda v: v[0] if v is not None and len(v) else None)
        return col
    if by == "model" and "models" in frame.columns:
        return pd.Series([v[0] if v is not None and len(v) else None for v in frame["models"]], index=frame.index, dtype=object)
    if "metadata" in frame.columns:
        return pd.Series([m.get(by) if isinstance(m, Mapping) else None for m in frame["metadata"]],
                         index=frame.index, dtype=object)
    raise KeyError(f"no column or metadata key {by!r}; columns: {list(frame.columns)}")


def timeseries(
    frame: pd.DataFrame,
    *,
    results: pd.DataFrame | None = None,
    by: str | Sequence[str] | None = None,
    freq: str = "1D",
    time: str = "start_time",
    sample_probs: Mapping[str, float] | pd.Series | None = None,
) -> pd.DataFrame:
    """Quality, cost and latency per period (and per group): one row per (period, group) with
    n, error_rate, p50/p95 latency, cost (total and per trace), tokens, and one
    ``pass_rate:<evaluator>`` column per evaluator in ``results`` (joined on trace_id).

    ``frame`` is a traces table (or spans: then ``kind == 'llm'`` rows are used for latency and
    cost per call). ``by``: columns or metadata keys such as ``model`` or ``prompt_version``.

    ``sample_probs`` (trace_id -> the probability that the trace was sampled for evaluation):
    each pass rate is then the Hajek estimate (results weighted by 1 / probability) and its
    ``n_pass_rate:`` count the Kish effective sample size, so intervals on it stay honest;
    traces not in it count with probability 1.

    Example:
        >>> import llmops_nb as lo
        >>> ts = timeseries(lo.to_traces(spans), by="model", freq="1D")  # doctest: +SKIP
    """
    if time not in frame.columns:
        raise KeyError(f"time column {time!r} is not in the frame; columns: {list(frame.columns)}")
    df = frame.copy()
    df["_period"] = pd.to_datetime(df[time], utc=True).dt.floor(freq) if freq else pd.NaT
    groups = [by] if isinstance(by, str) else list(by or [])
    for g in groups:
        df[f"_g_{g}"] = group_column(frame, g).to_numpy()
    err = df["has_error"] if "has_error" in df.columns else df["status"].eq("error")
    df["_err"] = err.astype(float)
    if results is not None and len(results):
        w = item_scores(results, by="trace_id").pivot(index="trace_id", columns="evaluator", values="value")
        w.columns = [f"pass_rate:{c}" for c in w.columns]
        df = df.join(w, on="trace_id")
        pass_cols = list(w.columns)
    else:
        pass_cols = []
    keys = ["_period", *[f"_g_{g}" for g in groups]]
    agg: dict[str, Any] = {
        "n": ("trace_id", "size"),
        "errors": ("_err", "sum"),
        "p50_latency_ms": ("latency_ms", lambda s: s.quantile(0.5)),
        "p95_latency_ms": ("latency_ms", lambda s: s.quantile(0.95)),
        "cost_usd": ("cost_usd", "sum"),
        "mean_cost_usd": ("cost_usd", "mean"),
        "total_tokens": ("total_tokens", lambda s: s.astype(float).sum()),
    }
    if sample_probs is not None:
        prob = pd.Series(sample_probs, dtype=float).reindex(df["trace_id"].to_numpy()).to_numpy(float)
        if (prob[~np.isnan(prob)] <= 0).any():
            raise ValueError("sample_probs: every sampled trace needs a probability > 0 (it was sampled)")
        w = 1.0 / np.where(np.isnan(prob), 1.0, prob)
    for c in pass_cols:
        if sample_probs is None:
            agg[c] = (c, "mean")
            agg[f"n_{c}"] = (c, "count")
            continue
        has = df[c].notna().to_numpy()
        df[f"_wy_{c}"] = np.where(has, df[c].to_numpy(float) * w, 0.0)
        df[f"_w_{c}"] = np.where(has, w, 0.0)
        df[f"_w2_{c}"] = np.where(has, w * w, 0.0)
        for part in ("_wy_", "_w_", "_w2_"):
            agg[f"{part}{c}"] = (f"{part}{c}", "sum")
    out = df.groupby(keys, dropna=False).agg(**agg).reset_index()
    if sample_probs is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            for c in pass_cols:
                sw, sw2 = out.pop(f"_w_{c}").to_numpy(float), out.pop(f"_w2_{c}").to_numpy(float)
                swy = out.pop(f"_wy_{c}").to_numpy(float)
                out[c] = np.where(sw > 0, swy / sw, np.nan)  # Hajek ratio estimator
                out[f"n_{c}"] = np.where(sw2 > 0, sw * sw / sw2, 0.0)  # Kish effective sample size
    out["error_rate"] = out["errors"] / out["n"]
    out = out.rename(columns={"_period": "period", **{f"_g_{g}": g for g in groups}})
    first = ["period", *groups, "n", "error_rate", "errors", "p50_latency_ms", "p95_latency_ms", "cost_usd", "mean_cost_usd", "total_tokens"]
    return out[first + [c for c in out.columns if c not in first]].sort_values(["period", *groups]).reset_index(drop=True)


@dataclass
class SLOReport(ResultView):
    """SLO checks: one row per (period, group, metric) with the value, its 95% interval for
    rates, the target and whether it was missed; ``alerts`` are the missed ones.

    Example:
        >>> ts = pd.DataFrame({"period": [1, 2], "n": [100, 100], "errors": [1, 9], "error_rate": [0.01, 0.09]})
        >>> rep = check_slos(ts, {"error_rate": "<= 0.05"})
        >>> rep.checks["missed"].tolist()
        [False, True]
    """

    checks: pd.DataFrame

    @property
    def frame(self) -> pd.DataFrame:
        """The main table (the result-object protocol: ``.frame``, ``_repr_html_``, ``to_markdown``)."""
        return self.checks

    @property
    def alerts(self) -> pd.DataFrame:
        return self.checks[self.checks["missed"]].reset_index(drop=True)

    def __repr__(self) -> str:
        a = self.alerts
        return f"SLOReport: {len(a)} alert(s) over {len(self.checks)} checks\n" + (a.to_string(index=False) if len(a) else "")

    def _repr_html_(self) -> str:
        a = self.alerts
        if not len(a):
            return f"<div><b>All targets met</b> over {len(self.checks)} checks.</div>"
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>" for r in a.itertuples(index=False)
        )
        head = "".join(f"<th>{c}</th>" for c in a.columns)
        return (f"<div><b style='color:#b00'>{len(a)} alert(s)</b> over {len(self.checks)} checks"
                f"<table><tr>{head}</tr>{rows}</table></div>")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.4g}"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d %H:%M")
    return str(v)


def check_slos(ts: pd.DataFrame, targets: Mapping[str, str], *, significant_only: bool = False) -> SLOReport:
    """Check a :func:`timeseries` frame against targets such as ``{"error_rate": "<= 0.02",
    "p95_latency_ms": "<= 3000", "pass_rate:correctness": ">= 0.9"}``.

    A rate misses its target when its value does; with ``significant_only=True`` only when its
    whole 95% Wilson interval is on the wrong side (fewer false alerts on small periods).

    Example:
        >>> ts = pd.DataFrame({"period": [1, 2], "n": [100, 100], "errors": [1, 9], "error_rate": [0.01, 0.09]})
        >>> check_slos(ts, {"error_rate": "<= 0.05"}).alerts["period"].tolist()
        [2]
    """
    group_cols = [c for c in ts.columns if c not in ("period", "n", "errors") and not c.startswith(("error_rate", "p50_", "p95_", "cost_usd", "mean_cost", "total_tokens", "pass_rate:", "n_pass_rate:"))]
    rows = []
    for rule, target in zip(rules_from(targets), targets.values()):
        metric, op, thr = rule.metric, str(rule.op), float(rule.threshold)  # type: ignore[arg-type]
        if metric not in ts.columns:
            raise KeyError(f"metric {metric!r} is not in the time series; metrics: "
                           f"{[c for c in ts.columns if c not in ('period', *group_cols)]}")
        for r in ts.to_dict("records"):
            v = float(r[metric]) if pd.notna(r[metric]) else float("nan")
            lo = hi = float("nan")
            if metric == "error_rate":
                lo, hi = wilson(float(r["errors"]), float(r["n"]))
            elif metric.startswith("pass_rate:") and f"n_{metric}" in ts.columns:
                n = float(r[f"n_{metric}"])
                lo, hi = wilson(v * n, n) if n else (float("nan"), float("nan"))
            if np.isnan(v):
                missed = False
            elif significant_only and not np.isnan(lo):
                missed = (lo > thr) if op in ("<=", "<") else (hi < thr)
            else:
                missed = not rule.holds(v)
            rows.append({"period": r["period"], **{g: r[g] for g in group_cols}, "metric": metric, "value": v,
                         "ci_low": lo, "ci_high": hi, "target": target, "n": int(r["n"]), "missed": bool(missed)})
    return SLOReport(pd.DataFrame(rows))


def interval_of(ts: pd.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The 95% Wilson interval of a rate column of a :func:`timeseries` frame (``error_rate``
    or ``pass_rate:<evaluator>``), or None for other metrics.

    Example:
        >>> lo, hi = interval_of(pd.DataFrame({"n": [100], "errors": [10], "error_rate": [0.1]}), "error_rate")
        >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
        (0.055, 0.174)
    """
    if metric == "error_rate" and "errors" in ts.columns:
        k, n = ts["errors"].astype(float).to_numpy(), ts["n"].astype(float).to_numpy()
    elif metric.startswith("pass_rate:") and f"n_{metric}" in ts.columns:
        n = ts[f"n_{metric}"].astype(float).to_numpy()
        k = ts[metric].astype(float).to_numpy() * n
    else:
        return None
    ok = n > 0
    lo, hi = np.full(len(n), np.nan), np.full(len(n), np.nan)
    if ok.any():
        a, b = wilson(k[ok], n[ok])
        lo[ok], hi[ok] = a, b
    return lo, hi


def plot_timeseries(ts: pd.DataFrame, metric: str, *, by: str | None = None, target: str | None = None,
                    title: str | None = None, band: bool = True) -> Any:
    """A plotly line chart of one metric over time (one line per group), with the target line
    and, for rates, their 95% interval as a shaded band.

    Example:
        >>> ts = pd.DataFrame({"period": [1, 2], "error_rate": [0.01, 0.09]})
        >>> len(plot_timeseries(ts, "error_rate", target="<= 0.05").data)
        1
    """
    import plotly.express as px
    import plotly.graph_objects as go

    fig = px.line(ts, x="period", y=metric, color=by, markers=True, title=title or f"{metric} over time",
                  template="plotly_white")
    iv = interval_of(ts, metric) if band else None
    if iv is not None:
        d = ts.assign(_lo=iv[0], _hi=iv[1])
        for tr in list(fig.data):
            g = d if by is None else d[d[by].astype(str) == str(tr.name)]
            colour = tr.line.color or "#636efa"
            fig.add_trace(go.Scatter(x=g["period"], y=g["_hi"], mode="lines", line={"width": 0}, showlegend=False,
                                     hoverinfo="skip", legendgroup=tr.legendgroup))
            fig.add_trace(go.Scatter(x=g["period"], y=g["_lo"], mode="lines", line={"width": 0}, fill="tonexty",
                                     fillcolor=colour, opacity=0.2, showlegend=False, hoverinfo="skip",
                                     legendgroup=tr.legendgroup, name=f"{tr.name} 95% interval"))
    if target:
        thr = rules_from({metric: target})[0].threshold
        fig.add_hline(y=thr, line_dash="dash", line_color="red", annotation_text=f"target {target}")
    return fig


def overview_figures(spans: pd.DataFrame) -> dict[str, Any]:
    """Plotly figures for a first look at spans: cost, latency, tokens and errors by model.

    Returns ``{"cost": fig, "latency": fig, "tokens": fig, "errors": fig}``.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm", "model": "m", "cost_usd": 0.01}],
        ...                        format="records")
        >>> sorted(overview_figures(spans))
        ['cost', 'errors', 'latency', 'tokens']
    """
    import plotly.express as px

    llm = spans[spans["kind"].isin(["llm", "embedding"])].copy()
    llm["model"] = llm["model"].fillna("unknown")
    figs: dict[str, Any] = {}
    cost = llm.groupby("model", as_index=False).agg(cost_usd=("cost_usd", "sum"), calls=("span_id", "size"))
    figs["cost"] = px.bar(cost, x="model", y="cost_usd", hover_data=["calls"], title="Cost by model (USD)", template="plotly_white")
    figs["latency"] = px.box(llm, x="model", y="latency_ms", points=False, title="LLM call latency by model (ms)", template="plotly_white")
    tok = llm.groupby("model", as_index=False)[["prompt_tokens", "completion_tokens"]].sum()
    tok = tok.melt(id_vars="model", var_name="tokens", value_name="count")
    figs["tokens"] = px.bar(tok, x="model", y="count", color="tokens", barmode="stack", title="Tokens by model", template="plotly_white")
    err = spans.assign(error=spans["status"].eq("error")).groupby("kind", as_index=False).agg(error_rate=("error", "mean"), spans=("span_id", "size"))
    figs["errors"] = px.bar(err, x="kind", y="error_rate", hover_data=["spans"], title="Error rate by span kind", template="plotly_white")
    return figs
