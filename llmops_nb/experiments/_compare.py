"""Compare two experiments example by example (paired statistics), or two variants of live
traffic (unpaired), per evaluator, with cost and latency beside quality."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.results import ResultView, item_scores
from llmops_nb.stats import (
    holm,
    mcnemar,
    paired_bootstrap,
    two_proportions,
    unpaired_bootstrap,
    wilcoxon,
)

__all__ = ["Comparison", "DEFAULT_MIN_EFFECT", "compare", "compare_traffic", "plot_quality_vs_cost", "per_example_scores"]

#: The smallest change that matters, per metric, when ``min_effect=`` does not say otherwise
#: (latency: 10% of the baseline mean and at least 5 ms; cost: 10%). A significant change whose
#: whole 95% interval lies below it is reported as ``below min effect``, not as a regression: two
#: runs of the same task function on a busy machine differ by a few percent in latency, and that
#: is not a regression of the variant.
DEFAULT_MIN_EFFECT: dict[str, Any] = {"latency_ms": ("10%", 5.0), "cost_usd": "10%"}

def _parse_min_effect(metric: str, spec: Any) -> tuple[float, float]:
    """``spec`` -> (relative fraction, absolute amount): ``0.02`` (absolute, in the metric's
    units), ``"10%"`` (relative to the baseline mean), or a tuple of both (both must be met)."""
    parts = spec if isinstance(spec, (tuple, list)) else (spec,)
    rel = absolute = 0.0
    for part in parts:
        if isinstance(part, str) and part.strip().endswith("%"):
            try:
                rel = max(rel, float(part.strip()[:-1]) / 100)
                continue
            except ValueError:
                pass
        try:
            absolute = max(absolute, abs(float(part)))
        except (TypeError, ValueError):
            raise ValueError(
                f"min_effect for {metric!r} is {spec!r}; write an amount in the metric's units (0.02, 5.0), "
                "a share of the baseline ('10%'), or both as a tuple (('10%', 5.0))"
            ) from None
    return rel, absolute


def _threshold(metric: str, base_mean: float, specs: dict[str, Any]) -> tuple[float, str]:
    """The absolute size a change of ``metric`` must reach, and how to show it."""
    if metric not in specs or specs[metric] is None:
        return 0.0, ""
    rel, absolute = _parse_min_effect(metric, specs[metric])
    rel_amount = rel * abs(base_mean) if np.isfinite(base_mean) else 0.0
    thr = max(rel_amount, absolute)
    if not thr:
        return 0.0, ""
    pct = f"{rel * 100:.4g}%"
    how = f" ({pct} of a, at least {absolute:.4g})" if rel and absolute else f" ({pct} of a)" if rel else ""
    return thr, f"±{thr:.4g}{how}"


def _min_effects(min_effect: Any, names: Sequence[str]) -> dict[str, Any]:
    specs = dict(DEFAULT_MIN_EFFECT)
    if min_effect is None:
        return specs
    if not isinstance(min_effect, dict):
        raise TypeError(f"min_effect must be a dict of metric -> minimum change, got {min_effect!r}; "
                        "e.g. min_effect={'latency_ms': ('10%', 5.0), 'correctness': 0.05}")
    unknown = [m for m in min_effect if m not in names and m not in ("latency_ms", "cost_usd")]
    if unknown:
        raise KeyError(f"min_effect names {unknown}, which are not compared; metrics: "
                       f"{sorted(set(names) | {'latency_ms', 'cost_usd'})}")
    specs.update(min_effect)
    return specs


def _is_binary(s: pd.Series) -> bool:
    v = pd.to_numeric(s, errors="coerce").dropna().unique()
    return len(v) > 0 and set(np.round(v, 9)) <= {0.0, 1.0}


def per_example_scores(exp: Any) -> pd.DataFrame:
    """One row per (example, evaluator): the example's score averaged over repeats
    (``passed`` as 1/0 where the evaluator defines it, else ``score``): the experiment's
    :func:`llmops_nb.results.item_scores` by ``example_id``.

    Example:
        >>> per_example_scores(exp_v1).columns.tolist()[:2]  # doctest: +SKIP
        ['example_id', 'evaluator']
    """
    return item_scores(exp.results, by="example_id")


def _per_example_usage(exp: Any) -> pd.DataFrame:
    o = exp.outputs
    return o.groupby("example_id").agg(
        cost_usd=("cost_usd", "mean"), latency_ms=("latency_ms", "mean"), output_text=("output_text", "first"),
        error=("error", "first"),
    )


@dataclass
class Comparison(ResultView):
    """The comparison of a candidate (b) against a baseline (a).

    ``evaluators``: one row per evaluator (and cost / latency): mean of a, of b, the difference
    b - a with its 95% interval, the minimum effect that counts (``min_effect``, in the metric's
    units), the paired test, its p-value, the Holm-adjusted p-value over all the metrics,
    and a verdict: ``worse`` / ``better`` only when the change is significant and its interval
    reaches the minimum effect; ``below min effect`` when significant but the whole interval is
    smaller. ``items``: one row per example, side by side.
    ``regressions`` / ``fixes``: the examples that went from pass to fail / fail to pass.

    Example:
        >>> cmp = lo.compare(exp_v1, exp_v2)  # doctest: +SKIP
        >>> cmp.regressions[["example_id", "evaluator"]].head()  # doctest: +SKIP
    """

    a: str
    b: str
    evaluators: pd.DataFrame
    items: pd.DataFrame
    regressions: pd.DataFrame
    fixes: pd.DataFrame
    alpha: float = 0.05
    notes: list[str] = field(default_factory=list)

    @property
    def frame(self) -> pd.DataFrame:
        """The main table (the result-object protocol: ``.frame``, ``_repr_html_``, ``to_markdown``)."""
        return self.evaluators

    @property
    def significant_regressions(self) -> list[str]:
        """Evaluators (or cost / latency) on which b is significantly worse than a, by an amount
        that may reach the minimum effect."""
        return self.evaluators.loc[self.evaluators["verdict"] == "worse", "metric"].tolist()

    def __repr__(self) -> str:
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            return (f"Comparison {self.a} -> {self.b} (alpha={self.alpha})\n{self.evaluators.to_string(index=False)}\n"
                    f"{len(self.regressions)} regressions, {len(self.fixes)} fixes")

    def _repr_html_(self) -> str:
        colour = {"worse": "#fde2e1", "better": "#e1f5e4"}
        rows = []
        for _, r in self.evaluators.iterrows():
            bg = colour.get(r["verdict"], "")
            rows.append(
                f"<tr style='background:{bg}'><td>{html.escape(str(r['metric']))}</td><td>{r['a']:.4g}</td><td>{r['b']:.4g}</td>"
                f"<td>{r['diff']:+.4g} [{r['ci_low']:+.4g}, {r['ci_high']:+.4g}]</td>"
                f"<td>{html.escape(str(r['min_effect_shown']) or '-')}</td><td>{html.escape(r['test'])}</td>"
                f"<td>{r['p_value']:.3g}</td><td>{'' if pd.isna(r['p_adjusted']) else f'{r.p_adjusted:.3g}'}</td><td><b>{r['verdict']}</b></td></tr>"
            )
        head = "<tr><th>metric</th><th>a</th><th>b</th><th>b - a [95% CI]</th><th>min effect</th><th>test</th><th>p</th><th>p (Holm)</th><th>verdict</th></tr>"
        return (f"<div><b>{html.escape(self.a)} &rarr; {html.escape(self.b)}</b>: {len(self.regressions)} regressions, "
                f"{len(self.fixes)} fixes<table>{head}{''.join(rows)}</table></div>")


def _verdict(diff: float, p: float, alpha: float, higher_is_better: bool, min_effect: float = 0.0,
             ci: tuple[float, float] | None = None) -> str:
    """``worse`` / ``better`` when the change is significant and its interval reaches the minimum
    effect (a change that may matter); ``below min effect`` when the whole interval is smaller."""
    if np.isnan(p) or p >= alpha or diff == 0:
        return "no significant change"
    if min_effect > 0:
        lo, hi = ci if ci is not None else (diff, diff)
        reach = hi if diff > 0 else -lo  # the largest change the interval allows, in diff's direction
        if not np.isnan(reach) and reach < min_effect:
            return "below min effect"
    return "better" if (diff > 0) == higher_is_better else "worse"


def compare(a: Any, b: Any, *, evaluators: Sequence[str] | None = None, alpha: float = 0.05, seed: int = 0,
            n_boot: int = 4000, min_effect: dict[str, Any] | None = None) -> Comparison:
    """Compare experiment ``b`` (candidate) against ``a`` (baseline) on the examples both ran.

    Pass/fail evaluators use McNemar's exact test; scores use the Wilcoxon signed-rank test
    (and a paired bootstrap interval); cost and latency use the paired bootstrap (lower is
    better). p-values are Holm-adjusted over all of them (evaluators, cost and latency), so adding
    evaluators does not raise the chance of a false alarm.

    A change is a regression only when it is statistically significant *and* may matter: its 95%
    interval reaches ``min_effect[metric]``, given as an amount in the metric's units (``0.05``:
    5 points of pass rate), a share of the baseline mean (``"10%"``) or both (``("10%", 5.0)``:
    the larger). A significant change whose whole interval is smaller is ``below min effect``.
    Defaults: ``DEFAULT_MIN_EFFECT`` (latency: 10% and 5 ms; cost: 10%; quality: none); pass
    ``{"latency_ms": 0}`` to flag any significant change.

    Example:
        >>> cmp = compare(exp_v1, exp_v2)  # doctest: +SKIP
        >>> cmp.significant_regressions  # doctest: +SKIP
        ['correctness']
    """
    sa, sb = per_example_scores(a), per_example_scores(b)
    names = sorted(set(sa["evaluator"]) & set(sb["evaluator"])) if evaluators is None else list(evaluators)
    specs = _min_effects(min_effect, names)
    rows: list[dict[str, Any]] = []
    items = pd.DataFrame({"example_id": sorted(set(a.outputs["example_id"]) & set(b.outputs["example_id"]))})
    ua, ub = _per_example_usage(a), _per_example_usage(b)
    items = items.join(ua.add_suffix("_a"), on="example_id").join(ub.add_suffix("_b"), on="example_id")
    regress: list[dict[str, Any]] = []
    fixes: list[dict[str, Any]] = []
    for name in names:
        pa_ = sa[sa["evaluator"] == name].set_index("example_id")["value"]
        pb_ = sb[sb["evaluator"] == name].set_index("example_id")["value"]
        common = pa_.index.intersection(pb_.index)
        x, y = pa_.loc[common], pb_.loc[common]
        items = items.join(pa_.rename(f"{name}_a"), on="example_id").join(pb_.rename(f"{name}_b"), on="example_id")
        binary = _is_binary(pd.concat([x, y]))
        if binary:
            t = mcnemar(x.astype(bool).values, y.astype(bool).values, seed=seed, n_boot=n_boot)
            regress.extend({"example_id": e, "evaluator": name} for e in common[(x == 1).values & (y == 0).values])
            fixes.extend({"example_id": e, "evaluator": name} for e in common[(x == 0).values & (y == 1).values])
        else:
            t = wilcoxon(x.values, y.values, seed=seed, n_boot=n_boot)
            worse = common[(y < x).values]
            better = common[(y > x).values]
            regress.extend({"example_id": e, "evaluator": name} for e in worse)
            fixes.extend({"example_id": e, "evaluator": name} for e in better)
        rows.append({"metric": name, "kind": "pass rate" if binary else "score", "a": float(x.mean()) if len(x) else np.nan,
                     "b": float(y.mean()) if len(y) else np.nan, "diff": t.diff, "ci_low": t.ci_low, "ci_high": t.ci_high,
                     "test": t.test, "p_value": t.p_value, "n": t.n, "higher_is_better": True})
    for r in rows:
        r["min_effect"], r["min_effect_shown"] = _threshold(r["metric"], r["a"], specs)
    for metric in ("cost_usd", "latency_ms"):
        x = items[f"{metric}_a"].astype(float)
        y = items[f"{metric}_b"].astype(float)
        t = paired_bootstrap(x.values, y.values, seed=seed, n_boot=max(n_boot, 2000))
        mean_a = float(x.mean()) if x.notna().any() else np.nan
        thr, shown = _threshold(metric, mean_a, specs)
        rows.append({"metric": metric, "kind": "mean per example", "a": mean_a,
                     "b": float(y.mean()) if y.notna().any() else np.nan, "diff": t.diff, "ci_low": t.ci_low,
                     "ci_high": t.ci_high, "min_effect": thr, "min_effect_shown": shown, "test": t.test,
                     "p_value": t.p_value, "n": t.n, "higher_is_better": False})
    # one family: every evaluator, cost and latency, so the chance of any false alarm stays at alpha
    for r, p in zip(rows, holm([r["p_value"] for r in rows])):
        r["p_adjusted"] = p
        r["verdict"] = _verdict(r["diff"], p, alpha, r["higher_is_better"], r["min_effect"], (r["ci_low"], r["ci_high"]))
    table = pd.DataFrame(rows, columns=["metric", "kind", "a", "b", "diff", "ci_low", "ci_high", "min_effect",
                                        "min_effect_shown", "test", "p_value", "p_adjusted", "n", "higher_is_better",
                                        "verdict"])
    reg = pd.DataFrame(regress, columns=["example_id", "evaluator"])
    fix = pd.DataFrame(fixes, columns=["example_id", "evaluator"])
    if len(reg):
        reg = reg.join(items.set_index("example_id")[["output_text_a", "output_text_b"]], on="example_id")
    if len(fix):
        fix = fix.join(items.set_index("example_id")[["output_text_a", "output_text_b"]], on="example_id")
    notes = []
    if set(a.outputs["example_id"]) != set(b.outputs["example_id"]):
        notes.append("the experiments ran different examples; only the common ones are compared")
    return Comparison(getattr(a, "name", "a"), getattr(b, "name", "b"), table, items, reg, fix, alpha, notes)


def compare_traffic(
    frame: pd.DataFrame,
    *,
    by: str,
    a: Any,
    b: Any,
    metrics: Sequence[str],
    lower_is_better: Sequence[str] = ("cost_usd", "latency_ms"),
    alpha: float = 0.05,
    seed: int = 0,
    min_effect: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Compare two variants of live traffic (an A/B rollout): rows where ``frame[by] == a``
    against rows where it equals ``b``, for each metric column (bool -> Fisher's exact test,
    numbers -> Mann-Whitney with a bootstrap interval). One row per metric. A significant change
    smaller than ``min_effect[metric]`` (as in ``compare``) is ``below min effect``.

    Example:
        >>> df = pd.DataFrame({"prompt_version": ["v1"] * 50 + ["v2"] * 50,
        ...                    "passed": [True] * 45 + [False] * 5 + [True] * 30 + [False] * 20})
        >>> compare_traffic(df, by="prompt_version", a="v1", b="v2", metrics=["passed"])["verdict"].tolist()
        ['worse']
    """
    if by not in frame.columns:
        raise KeyError(f"column {by!r} is not in the frame; columns: {list(frame.columns)}")
    fa, fb = frame[frame[by] == a], frame[frame[by] == b]
    if not len(fa) or not len(fb):
        raise ValueError(f"no rows with {by} == {a!r} ({len(fa)}) or {by} == {b!r} ({len(fb)}); values: {frame[by].dropna().unique().tolist()[:20]}")
    specs = _min_effects(min_effect, list(metrics))
    rows = []
    for m in metrics:
        xa, xb = fa[m].dropna(), fb[m].dropna()
        hib = m not in lower_is_better
        if xa.dtype == bool or str(xa.dtype) == "boolean" or _is_binary(pd.concat([xa, xb])):
            t = two_proportions(xa.astype(bool).values, xb.astype(bool).values)
        else:
            t = unpaired_bootstrap(xa.astype(float).values, xb.astype(float).values, seed=seed)
        mean_a = float(xa.astype(float).mean())
        thr, _ = _threshold(m, mean_a, specs)
        rows.append({"metric": m, "a": mean_a, "b": float(xb.astype(float).mean()), "diff": t.diff,
                     "ci_low": t.ci_low, "ci_high": t.ci_high, "min_effect": thr, "test": t.test, "p_value": t.p_value,
                     "n_a": len(xa), "n_b": len(xb),
                     "verdict": _verdict(t.diff, t.p_value, alpha, hib, thr, (t.ci_low, t.ci_high))})
    return pd.DataFrame(rows)


def plot_quality_vs_cost(experiments: Sequence[Any], evaluator: str) -> Any:
    """A plotly scatter of every experiment: mean cost per example against the evaluator's
    mean (pass rate or score), with a 95% bootstrap interval.

    Example:
        >>> fig = plot_quality_vs_cost([exp_v1, exp_v2], "correctness")  # doctest: +SKIP
        >>> fig.show()  # doctest: +SKIP
    """
    import plotly.graph_objects as go

    xs, ys, lo, hi, names = [], [], [], [], []
    for e in experiments:
        s = per_example_scores(e)
        v = s.loc[s["evaluator"] == evaluator, "value"].to_numpy(dtype=float)
        cost = float(e.outputs["cost_usd"].astype(float).mean())
        if len(v):
            rng = np.random.default_rng(0)
            boots = v[rng.integers(0, len(v), size=(2000, len(v)))].mean(axis=1)
            low, h = np.quantile(boots, [0.025, 0.975])
            m = float(v.mean())
        else:
            m = low = h = np.nan
        xs.append(cost)
        ys.append(m)
        lo.append(m - low)
        hi.append(h - m)
        names.append(getattr(e, "name", "experiment"))
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="markers+text", text=names, textposition="top center",
                               error_y={"type": "data", "symmetric": False, "array": hi, "arrayminus": lo},
                               marker={"size": 12}))
    fig.update_layout(title=f"{evaluator} vs cost per example", xaxis_title="mean cost per example (USD)",
                      yaxis_title=evaluator, template="plotly_white")
    return fig
