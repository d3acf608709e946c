"""Regression gates between a baseline and a candidate experiment, for CI."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb._compat import warn_deprecated
from llmops_nb.experiments._compare import Comparison, compare
from llmops_nb.results import ResultView
from llmops_nb.rules import OPS, parse_rule

__all__ = ["ExperimentGate", "gate_experiments"]

_USAGE = ("cost_usd", "latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "cost_increase", "latency_increase")


def _parse_rule(rule: str) -> tuple[str, str | None, float | None, bool]:
    """Deprecated: the old tuple form, ``(metric, op, number as written, percent)``.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     _parse_rule("cost_increase <= 10%")
        ('cost_increase', '<=', 10.0, True)
    """
    warn_deprecated("llmops_nb.experiments.parse_rule", "llmops_nb.rules.parse_rule(rule, bare=True)")
    r = parse_rule(rule, bare=True)
    thr = None if r.threshold is None else (round(r.threshold * 100, 12) if r.percent else r.threshold)
    return r.metric, r.op, thr, r.percent


@dataclass
class ExperimentGate(ResultView):
    """The gate's verdict: one row per rule with the candidate's value, the baseline's, the
    difference with its interval and p-value where paired, and pass / fail.

    Example:
        >>> g = gate_experiments(exp_v1, exp_v2, ["correctness", "cost_increase <= 10%"])  # doctest: +SKIP
        >>> g.exit_code  # doctest: +SKIP
        0
    """

    table: pd.DataFrame
    comparison: Comparison

    @property
    def frame(self) -> pd.DataFrame:
        """The main table (the result-object protocol: ``.frame``, ``_repr_html_``, ``to_markdown``)."""
        return self.table

    @property
    def passed(self) -> bool:
        return bool(self.table["passed"].all())

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def __repr__(self) -> str:
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            return f"{'PASSED' if self.passed else 'FAILED'}\n{self.table.to_string(index=False)}"

    def _repr_html_(self) -> str:
        colour = {True: "#e1f5e4", False: "#fde2e1"}
        body = "".join(
            f"<tr style='background:{colour[bool(r.passed)]}'>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r)
            + "</tr>" for r in self.table.itertuples(index=False)
        )
        head = "".join(f"<th>{c}</th>" for c in self.table.columns)
        return f"<div><b>Gate {'passed' if self.passed else 'FAILED'}</b><table><tr>{head}</tr>{body}</table></div>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "" if np.isnan(v) else f"{v:.4g}"
    return str(v)


def _ok(value: float, op: str | None, thr: float | None) -> bool:
    return OPS[op](value, thr) if op is not None and thr is not None else True


def gate_experiments(baseline: Any, candidate: Any, rules: Sequence[str], *, alpha: float = 0.05) -> ExperimentGate:
    """Fail when the candidate is significantly worse than the baseline on a gated evaluator
    (paired test, Holm-adjusted), below an absolute threshold, or over a cost or latency limit.

    Example:
        >>> g = gate_experiments(exp_v1, exp_v2, ["correctness", "cost_increase <= 10%"])  # doctest: +SKIP
        >>> g.passed  # doctest: +SKIP
        False
    """
    cmp = compare(baseline, candidate, alpha=alpha)
    ev = cmp.evaluators.set_index("metric")
    rows = []
    lat_b = candidate.outputs["latency_ms"].astype(float)
    for text in rules:
        rule = parse_rule(text, bare=True)
        metric, op, thr, pct = rule.metric, rule.op, rule.threshold, rule.percent
        row: dict[str, Any] = {"rule": text, "metric": metric, "baseline": np.nan, "candidate": np.nan,
                               "diff": np.nan, "ci": "", "p_value": np.nan}
        if metric in _USAGE:
            if metric in ("cost_increase", "latency_increase"):
                base_m = "cost_usd" if metric == "cost_increase" else "latency_ms"
                a, b = float(ev.loc[base_m, "a"]), float(ev.loc[base_m, "b"])
                inc = (b - a) / a if pct and a else (b - a)  # a relative increase when written with %
                row.update(baseline=a, candidate=b, diff=inc * 100 if pct and a else inc,
                           p_value=float(ev.loc[base_m, "p_value"]))
                passed = _ok(inc, op or "<=", thr if thr is not None else 0.0)
            elif metric in ("cost_usd", "latency_ms"):
                r = ev.loc[metric]
                row.update(baseline=float(r["a"]), candidate=float(r["b"]), diff=float(r["diff"]),
                           ci=f"[{r['ci_low']:+.4g}, {r['ci_high']:+.4g}]", p_value=float(r["p_value"]))
                passed = _ok(float(r["b"]), op, thr) if op and thr is not None else r["verdict"] != "worse"
            else:
                q = {"p50_latency_ms": 0.5, "p95_latency_ms": 0.95, "p99_latency_ms": 0.99}[metric]
                a = float(baseline.outputs["latency_ms"].astype(float).quantile(q))
                b = float(lat_b.quantile(q))
                row.update(baseline=a, candidate=b, diff=b - a)
                passed = _ok(b, op or "<=", thr if thr is not None else a)
        else:
            if metric not in ev.index:
                raise KeyError(f"rule {text!r}: no evaluator {metric!r} in both experiments; evaluators: "
                               f"{[m for m in ev.index if m not in ('cost_usd', 'latency_ms')]}")
            r = ev.loc[metric]
            row.update(baseline=float(r["a"]), candidate=float(r["b"]), diff=float(r["diff"]),
                       ci=f"[{r['ci_low']:+.4g}, {r['ci_high']:+.4g}]", p_value=float(r["p_adjusted"]))
            passed = r["verdict"] != "worse"
            if op is not None:
                passed = passed and _ok(float(r["b"]), op, thr)  # type: ignore[arg-type]
        row["passed"] = bool(passed)
        rows.append(row)
    return ExperimentGate(pd.DataFrame(rows), cmp)
