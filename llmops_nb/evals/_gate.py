"""Quality gates for CI: rules over a results table, each with its value, a 95% confidence
interval (Wilson for pass rates, bootstrap for means and percentiles) and pass / fail."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from llmops_nb.results import ResultView, pass_rates
from llmops_nb.rules import OPS, rules_from
from llmops_nb.stats import bootstrap_interval, wilson

__all__ = ["gate", "GateReport", "GateRule"]

@dataclass
class GateRule:
    """One rule's outcome: the metric, the comparison, the value, its interval, n and pass / fail.

    Example:
        >>> import pandas as pd
        >>> res = pd.DataFrame({"evaluator": ["ok"] * 4, "passed": [True] * 4, "score": [1.0] * 4, "error": [None] * 4})
        >>> r = gate(res, ["ok >= 0.5"]).rules[0]
        >>> r.rule, r.value, r.passed
        ('ok >= 0.5', 1.0, True)
    """

    metric: str
    op: str
    threshold: float
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    passed: bool
    method: str
    note: str = ""

    @property
    def rule(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass
class GateReport(ResultView):
    """The outcome of :func:`gate`: one :class:`GateRule` per rule; ``passed`` when all pass.

    Shows itself as a table in notebooks (``_repr_html_``) and as text elsewhere.

    Example:
        >>> import pandas as pd
        >>> res = pd.DataFrame({"evaluator": ["ok"] * 4, "passed": [True, True, True, False], "score": [1.0] * 4,
        ...                     "error": [None] * 4})
        >>> rep = gate(res, {"ok": ">= 0.9"})
        >>> bool(rep), rep.to_frame()["value"].tolist()
        (False, [0.75])
    """

    rules: list[GateRule]
    confidence: float = 0.95

    @property
    def frame(self) -> pd.DataFrame:
        """The main table (the result-object protocol: ``.frame``, ``_repr_html_``, ``to_markdown``)."""
        return self.to_frame()

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rules)

    def __bool__(self) -> bool:
        return self.passed

    def to_frame(self) -> pd.DataFrame:
        """One row per rule."""
        rows = [{"rule": r.rule, **asdict(r)} for r in self.rules]
        return pd.DataFrame(rows, columns=["rule", "metric", "op", "threshold", "value", "ci_low", "ci_high", "n",
                                           "passed", "method", "note"])

    @staticmethod
    def _fmt(v: float | None) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return f"{v:.4g}"

    def _rows(self) -> list[list[str]]:
        pct = int(round(self.confidence * 100))
        head = ["rule", "value", f"{pct}% CI", "n", "result", "note"]
        out = [head]
        for r in self.rules:
            ci = "-" if r.ci_low is None else f"[{self._fmt(r.ci_low)}, {self._fmt(r.ci_high)}]"
            out.append([r.rule, self._fmt(r.value), ci, str(r.n), "PASS" if r.passed else "FAIL", r.note])
        return out

    def __str__(self) -> str:
        rows = self._rows()
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"gate: {'PASSED' if self.passed else 'FAILED'} ({sum(r.passed for r in self.rules)}/{len(self.rules)} rules pass)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def to_markdown(self) -> str:
        """A Markdown table (for CI summaries)."""
        rows = self._rows()
        md = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        md += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        md.append(f"\n**gate: {'PASSED' if self.passed else 'FAILED'}**")
        return "\n".join(md)

    def _repr_html_(self) -> str:
        rows = self._rows()
        th = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in rows[0])
        body = []
        for r in rows[1:]:
            color = "#1a7f37" if r[4] == "PASS" else "#cf222e"
            cells = [f"<td>{html.escape(c)}</td>" for c in r]
            cells[4] = f"<td style='color:{color};font-weight:600'>{r[4]}</td>"
            body.append("<tr>" + "".join(cells) + "</tr>")
        status = "PASSED" if self.passed else "FAILED"
        color = "#1a7f37" if self.passed else "#cf222e"
        return (f"<div><b>Gate <span style='color:{color}'>{status}</span></b>"
                f"<table><thead><tr>{th}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _metric(results: pd.DataFrame, metric: str, confidence: float) -> tuple[float | None, float | None, float | None, int, str, str]:
    """(value, ci_low, ci_high, n, method, note) for a metric name."""
    evs = set(results["evaluator"].dropna().unique())
    ok = results[results["error"].isna()] if "error" in results.columns else results

    def rows_of(ev: str) -> pd.DataFrame:
        return ok[ok["evaluator"] == ev]

    if metric == "error_rate" or (metric.startswith("error_rate_") and metric[11:] in evs):
        sub = results if metric == "error_rate" else results[results["evaluator"] == metric[11:]]
        n = len(sub)
        k = int(sub["error"].notna().sum()) if "error" in sub.columns else 0
        lo, hi = wilson(k, n, confidence)
        return (k / n if n else None), lo, hi, n, "wilson", ""
    if metric in ("cost_usd", "total_cost_usd") and metric not in evs:
        c = pd.to_numeric(results.get("cost_usd"), errors="coerce").fillna(0.0).sum()
        return float(c), None, None, len(results), "sum", "judge cost"
    m = re.match(r"^(?:p(\d{1,2}(?:\.\d+)?)_|mean_|pass_rate_|n_)(.+)$", metric)
    ev = metric
    kind = "auto"
    if metric not in evs and m:
        ev = m.group(2)
        kind = "quantile" if m.group(1) else metric[: metric.index("_")]
    for suffix in (".pass_rate", ".mean"):
        if metric not in evs and metric.endswith(suffix):
            ev, kind = metric[: -len(suffix)], suffix[1:].replace(".", "")
    if ev not in evs:
        raise KeyError(
            f"gate metric {metric!r} names no evaluator in the results; evaluators: {sorted(evs)}. Metrics: "
            "<evaluator> (pass rate, or mean score when it has no pass/fail), pass_rate_<ev>, mean_<ev>, "
            "p50_/p90_/p95_/p99_<ev>, n_<ev>, error_rate, error_rate_<ev>, cost_usd"
        )
    sub = rows_of(ev)
    if kind == "n":
        return float(len(sub)), None, None, len(sub), "count", ""
    rate = pass_rates(sub, confidence=confidence)
    if kind in ("auto", "pass", "pass_rate") and len(rate) and rate["verdicts"].iloc[0] > 0:
        r = rate.iloc[0]
        return float(r["pass_rate"]), float(r["ci_low"]), float(r["ci_high"]), int(r["verdicts"]), "wilson", "pass rate"
    if kind in ("pass", "pass_rate"):
        raise KeyError(f"evaluator {ev!r} has no pass/fail view; use mean_{ev} or a percentile")
    x = pd.to_numeric(sub["score"], errors="coerce").dropna().to_numpy(dtype="float64")
    if len(x) == 0:
        return None, None, None, 0, "-", "no numeric results"
    if kind == "quantile":
        q = float(m.group(1)) / 100  # type: ignore[union-attr]
        lo, hi = bootstrap_interval(x, stat="quantile", q=q, confidence=confidence)
        return float(np.quantile(x, q)), lo, hi, len(x), "bootstrap", f"p{m.group(1)}"  # type: ignore[union-attr]
    lo, hi = bootstrap_interval(x, confidence=confidence)
    return float(x.mean()), lo, hi, len(x), "bootstrap", "mean"


def gate(results: pd.DataFrame, rules: Mapping[str, str | float] | Sequence[str], *, confidence: float = 0.95,
         strict: bool = False, run_id: str | None = None) -> GateReport:
    """Check quality rules against a results table.

    ``rules`` is ``{"groundedness": ">= 0.9", "p95_latency_ms": "<= 2000"}`` or a list of
    ``"metric op number"`` strings. A metric is an evaluator name (its pass rate, or its mean
    score when it has no pass/fail view), ``pass_rate_<ev>``, ``mean_<ev>``,
    ``p50_/p90_/p95_/p99_<ev>``, ``n_<ev>``, ``error_rate`` / ``error_rate_<ev>`` or ``cost_usd``.
    Error rows are left out of every metric but ``error_rate``. A rule passes on its point
    value; with ``strict=True`` the whole confidence interval must satisfy it. ``run_id``
    keeps one run.

    Example:
        >>> import pandas as pd
        >>> res = pd.DataFrame({"evaluator": ["ok"] * 10, "passed": [True] * 9 + [False],
        ...                     "score": [1.0] * 9 + [0.0], "error": [None] * 10})
        >>> rep = gate(res, {"ok": ">= 0.8"}); rep.passed, round(rep.rules[0].value, 2)
        (True, 0.9)
    """
    if run_id is not None:
        results = results[results["run_id"] == run_id]
    parsed = rules_from(rules)
    if not parsed:
        raise ValueError("gate() needs at least one rule, e.g. {'groundedness': '>= 0.9'}")
    out = []
    for rule in parsed:
        metric, op, thr = rule.metric, str(rule.op), float(rule.threshold)  # type: ignore[arg-type]
        value, lo, hi, n, method, note = _metric(results, metric, confidence)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append(GateRule(metric, op, thr, None, lo, hi, n, False, method, (note + "; " if note else "") + "no results"))
            continue
        ok = OPS[op](value, thr)
        if strict and ok and lo is not None and hi is not None:
            ok = OPS[op](lo, thr) and OPS[op](hi, thr)
            if not ok:
                note = (note + "; " if note else "") + "interval crosses the threshold"
        out.append(GateRule(metric, op, thr, float(value), lo, hi, n, bool(ok), method, note))
    return GateReport(out, confidence)
