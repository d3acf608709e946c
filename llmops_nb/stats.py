"""Paired and unpaired statistics for comparing two systems on the same (or live) items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TestResult",
    "mcnemar",
    "paired_bootstrap",
    "wilcoxon",
    "two_proportions",
    "unpaired_bootstrap",
    "holm",
]


@dataclass(frozen=True)
class TestResult:
    """A difference (b - a), its 95% interval, a p-value and the test's name."""

    test: str
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int


def _bootstrap_mean(d: np.ndarray, n_boot: int, seed: int, level: float) -> tuple[float, float]:
    if len(d) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(n_boot, len(d)))
    means = d[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def mcnemar(a: Sequence[bool], b: Sequence[bool], *, level: float = 0.95, seed: int = 0, n_boot: int = 4000) -> TestResult:
    """McNemar's exact test for paired pass/fail outcomes; ``diff`` is pass rate of b minus a,
    with a paired bootstrap interval.

    Example:
        >>> r = mcnemar([True] * 50 + [False] * 50, [True] * 30 + [False] * 70)
        >>> round(r.diff, 2), r.p_value < 0.001
        (-0.2, True)
    """
    from scipy.stats import binomtest

    x = np.asarray(a, dtype=bool)
    y = np.asarray(b, dtype=bool)
    if x.shape != y.shape:
        raise ValueError(f"paired outcomes must have the same length; got {len(x)} and {len(y)}")
    n01 = int((x & ~y).sum())  # a passed, b failed
    n10 = int((~x & y).sum())  # a failed, b passed
    p = 1.0 if n01 + n10 == 0 else float(binomtest(n10, n01 + n10, 0.5).pvalue)
    d = y.astype(float) - x.astype(float)
    lo, hi = _bootstrap_mean(d, n_boot, seed, level)
    return TestResult("mcnemar_exact", float(d.mean()) if len(d) else float("nan"), lo, hi, p, len(d))


def wilcoxon(a: Sequence[float], b: Sequence[float], *, level: float = 0.95, seed: int = 0, n_boot: int = 4000) -> TestResult:
    """Wilcoxon signed-rank test for paired scores; ``diff`` is the mean of b - a with a paired
    bootstrap interval.

    Example:
        >>> r = wilcoxon([3, 4, 5, 4, 3, 5, 4, 4], [3, 4, 5, 4, 3, 5, 4, 4])
        >>> r.diff, r.p_value
        (0.0, 1.0)
    """
    from scipy.stats import wilcoxon as _w

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    d = (y - x)[ok]
    if len(d) == 0 or np.all(d == 0):
        return TestResult("wilcoxon", 0.0 if len(d) else float("nan"), 0.0, 0.0, 1.0, len(d))
    p = float(_w(d, zero_method="zsplit").pvalue)
    lo, hi = _bootstrap_mean(d, n_boot, seed, level)
    return TestResult("wilcoxon", float(d.mean()), lo, hi, p, len(d))


def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, n_boot: int = 10000, level: float = 0.95, seed: int = 0) -> TestResult:
    """Paired bootstrap of the mean difference b - a; the p-value is the two-sided share of
    resampled means on the other side of zero (shifted to the null).

    Example:
        >>> paired_bootstrap([1, 2, 3], [1, 2, 3]).p_value
        1.0
    """
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    ok = ~(np.isnan(x) | np.isnan(y))
    d = (y - x)[ok]
    if len(d) == 0 or np.all(d == d[0]) and d[0] == 0:
        return TestResult("paired_bootstrap", 0.0 if len(d) else float("nan"), 0.0, 0.0, 1.0, len(d))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), size=(n_boot, len(d)))
    means = d[idx].mean(axis=1)
    obs = d.mean()
    centred = means - obs
    p = float((np.abs(centred) >= abs(obs)).mean())
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return TestResult("paired_bootstrap", float(obs), float(lo), float(hi), max(p, 1.0 / n_boot), len(d))


def two_proportions(a: Sequence[bool], b: Sequence[bool], *, level: float = 0.95) -> TestResult:
    """Unpaired pass rates (live traffic): Fisher's exact test, Newcombe's interval for b - a.

    Example:
        >>> r = two_proportions([True] * 90 + [False] * 10, [True] * 70 + [False] * 30)
        >>> round(r.diff, 2), r.p_value < 0.01
        (-0.2, True)
    """
    from scipy.stats import fisher_exact, norm

    x = np.asarray(a, dtype=bool)
    y = np.asarray(b, dtype=bool)
    n1, n2 = len(x), len(y)
    k1, k2 = int(x.sum()), int(y.sum())
    p = float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue) if n1 and n2 else 1.0
    z = float(norm.ppf(1 - (1 - level) / 2))

    def wilson(k: int, n: int) -> tuple[float, float]:
        if n == 0:
            return 0.0, 1.0
        ph = k / n
        den = 1 + z * z / n
        c = (ph + z * z / (2 * n)) / den
        h = z * np.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n)) / den
        return c - h, c + h

    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    p1 = k1 / n1 if n1 else float("nan")
    p2 = k2 / n2 if n2 else float("nan")
    d = p2 - p1
    lo = d - np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    hi = d + np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return TestResult("fisher_exact", float(d), float(lo), float(hi), p, n1 + n2)


def unpaired_bootstrap(a: Sequence[float], b: Sequence[float], *, n_boot: int = 10000, level: float = 0.95, seed: int = 0) -> TestResult:
    """Unpaired scores (live traffic): Mann-Whitney U p-value, bootstrap interval of mean(b) - mean(a)."""
    from scipy.stats import mannwhitneyu

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if len(x) == 0 or len(y) == 0:
        return TestResult("mann_whitney", float("nan"), float("nan"), float("nan"), 1.0, len(x) + len(y))
    p = float(mannwhitneyu(x, y).pvalue) if np.ptp(np.concatenate([x, y])) > 0 else 1.0
    rng = np.random.default_rng(seed)
    bx = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)
    by = y[rng.integers(0, len(y), size=(n_boot, len(y)))].mean(axis=1)
    lo, hi = np.quantile(by - bx, [(1 - level) / 2, 1 - (1 - level) / 2])
    return TestResult("mann_whitney", float(y.mean() - x.mean()), float(lo), float(hi), p, len(x) + len(y))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (family-wise error over several evaluators).

    Example:
        >>> holm([0.01, 0.04, 0.03])
        [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    order = np.argsort(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return [round(float(v), 12) for v in adj]
