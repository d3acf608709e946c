"""The statistics every area shares: intervals (Wilson, bootstrap), tests (Fisher, McNemar,
Wilcoxon, Mann-Whitney, paired bootstrap) and multiple-comparison adjustments (Benjamini-Hochberg,
Holm). Written once here; slices, gates, alignment, monitoring and experiments all call these.

``confidence`` is always the confidence level of an interval (0.95 for 95%); ``level`` names a
grain elsewhere in llmops_nb, so here it is only a deprecated spelling. scipy loads on first use.

Example:
    >>> from llmops_nb.stats import wilson
    >>> [round(x, 3) for x in wilson(9, 10)]
    [0.596, 0.982]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from llmops_nb._compat import renamed_argument

__all__ = [
    "wilson",
    "bootstrap_interval",
    "fisher_vs_rest",
    "log_fisher_vs_rest",
    "benjamini_hochberg",
    "log_benjamini_hochberg",
    "holm",
    "TestResult",
    "mcnemar",
    "paired_bootstrap",
    "wilcoxon",
    "two_proportions",
    "unpaired_bootstrap",
]


def _z(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2))


@overload
def wilson(k: float, n: float, confidence: float = 0.95) -> tuple[float, float]: ...
@overload
def wilson(k: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]: ...
@renamed_argument("level", "confidence", "llmops_nb.stats.wilson")
def wilson(k: Any, n: Any, confidence: float = 0.95) -> tuple[Any, Any]:
    """Wilson score interval of the proportion ``k / n`` at ``confidence``, clipped to
    [0, 1]; NaN where ``n`` is 0. Scalars give floats; arrays give arrays (one call for all slices).

    Example:
        >>> [round(x, 3) for x in wilson(8, 10)]
        [0.49, 0.943]
        >>> lo, hi = wilson(np.array([5, 0]), np.array([100, 0]))
        >>> round(float(lo[0]), 3), round(float(hi[0]), 3), bool(np.isnan(lo[1]))
        (0.022, 0.112, True)
    """
    scalar = np.ndim(k) == 0 and np.ndim(n) == 0
    kk = np.asarray(k, dtype=float)
    nn = np.asarray(n, dtype=float)
    z = _z(confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(nn > 0, kk / nn, np.nan)
        den = 1 + z * z / nn
        centre = (p + z * z / (2 * nn)) / den
        half = z * np.sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / den
    lo, hi = np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)
    if scalar:
        return float(lo), float(hi)
    return lo, hi


@renamed_argument("level", "confidence", "llmops_nb.stats.bootstrap_interval")
def bootstrap_interval(x: Sequence[float] | np.ndarray, *, stat: str = "mean", q: float | None = None,
                       confidence: float = 0.95, seed: int = 0, n_boot: int | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (``stat="mean"``) or of the quantile ``q``
    (``stat="quantile"``, q from 0 to 1) of ``x``. ``n_boot`` resamples (default: 200 to 2,000,
    fewer for long inputs); resamples are drawn in chunks so memory stays bounded.

    Example:
        >>> lo, hi = bootstrap_interval(np.arange(100.0)); lo < 49.5 < hi
        True
        >>> bootstrap_interval([3.0])
        (3.0, 3.0)
    """
    arr = np.asarray(x, dtype="float64")
    n = len(arr)
    if n == 0:
        return (float("nan"), float("nan"))
    if n == 1:
        return (float(arr[0]), float(arr[0]))
    if stat not in ("mean", "quantile"):
        raise ValueError(f"stat={stat!r} is not valid; use 'mean' or 'quantile' (with q)")
    rng = np.random.default_rng(seed)
    b = int(n_boot) if n_boot is not None else int(max(200, min(2000, 20_000_000 // n)))
    stats = np.empty(b)
    chunk = max(1, 2_000_000 // n)
    for s in range(0, b, chunk):
        m = min(chunk, b - s)
        sample = arr[rng.integers(0, n, size=(m, n))]
        stats[s:s + m] = sample.mean(axis=1) if stat == "mean" else np.quantile(sample, float(q or 0.5), axis=1)
    a = (1 - confidence) / 2
    return (float(np.quantile(stats, a)), float(np.quantile(stats, 1 - a)))


def _hypergeom_tail(k: np.ndarray, n: np.ndarray, K: np.ndarray, N: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.stats import hypergeom

    # the smaller tail is the one on the observed side of the mean: compute only that one
    below = k * N <= n * K
    tail = np.empty(k.shape, dtype=float)
    if below.any():
        tail[below] = hypergeom.cdf(k[below], N[below], K[below], n[below])
    if (~below).any():
        tail[~below] = hypergeom.sf(k[~below] - 1, N[~below], K[~below], n[~below])
    return tail, below


def _counts(failures: Any, size: Any, total_failures: Any, total: Any) -> tuple[np.ndarray, ...]:
    k = np.asarray(failures, dtype=np.int64)
    n = np.asarray(size, dtype=np.int64)
    K = np.broadcast_to(np.asarray(total_failures, dtype=np.int64), k.shape)
    N = np.broadcast_to(np.asarray(total, dtype=np.int64), k.shape)
    return k, n, K, N


def fisher_vs_rest(
    failures: np.ndarray, size: np.ndarray, total_failures: np.ndarray | int, total: np.ndarray | int
) -> np.ndarray:
    """Two-sided Fisher's exact test of a slice against the rest of its population.

    Under the null hypothesis (failing is independent of slice membership) the failures in
    a slice of ``size`` rows drawn from ``total`` rows with ``total_failures`` failures follow
    the hypergeometric distribution; the two-sided p-value is twice the smaller tail, capped
    at 1 (the "central" Fisher test). Computed for all slices in one vectorised call.

    Example:
        >>> p = fisher_vs_rest(np.array([30, 5]), np.array([100, 100]), 40, 1000)
        >>> bool(p[0] < 1e-10), bool(p[1] > 0.05)
        (True, True)
    """
    k, n, K, N = _counts(failures, size, total_failures, total)
    tail, _ = _hypergeom_tail(k, n, K, N)
    p = np.minimum(1.0, 2.0 * tail)
    return np.where(n > 0, p, 1.0)


def log_fisher_vs_rest(
    failures: np.ndarray, size: np.ndarray, total_failures: np.ndarray | int, total: np.ndarray | int
) -> np.ndarray:
    """Natural log of :func:`fisher_vs_rest`, computed in log space so that very strong
    evidence (p below 1e-300) still orders correctly.

    Example:
        >>> float(np.exp(log_fisher_vs_rest(np.array([5]), np.array([100]), 40, 1000))[0]) > 0.05
        True
    """
    from scipy.stats import hypergeom

    k, n, K, N = _counts(failures, size, total_failures, total)
    # cdf/sf are vectorised in scipy; its logcdf/logsf sum pmfs element by element, so they
    # are used only where a tail underflows
    tail, below = _hypergeom_tail(k, n, K, N)
    with np.errstate(divide="ignore"):
        lt = np.log(tail)
        tiny = tail < 1e-250
        if tiny.any():
            idx = np.flatnonzero(tiny)
            use_lower = below[idx]
            vals = np.empty(idx.size)
            if use_lower.any():
                i = idx[use_lower]
                vals[use_lower] = hypergeom.logcdf(k[i], N[i], K[i], n[i])
            if (~use_lower).any():
                i = idx[~use_lower]
                vals[~use_lower] = hypergeom.logsf(k[i] - 1, N[i], K[i], n[i])
            lt[idx] = vals
    lp = np.minimum(0.0, np.log(2.0) + lt)
    return np.where(n > 0, lp, 0.0)


def _step_up(ranked: np.ndarray, order: np.ndarray, cap: float) -> np.ndarray:
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(len(order))
    out[order] = np.minimum(ranked, cap)
    return out


def log_benjamini_hochberg(log_p: np.ndarray) -> np.ndarray:
    """:func:`benjamini_hochberg` on natural-log p-values, returning log adjusted p-values.

    Example:
        >>> np.exp(log_benjamini_hochberg(np.log([0.01, 0.04]))).round(3).tolist()
        [0.02, 0.04]
    """
    lp = np.asarray(log_p, dtype=float)
    m = lp.size
    if m == 0:
        return lp.copy()
    order = np.argsort(lp, kind="stable")
    return _step_up(lp[order] + np.log(m) - np.log(np.arange(1, m + 1)), order, 0.0)


def benjamini_hochberg(p: np.ndarray | Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), in the input order.

    Example:
        >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5])).round(3).tolist()
        [0.04, 0.053, 0.053, 0.5]
    """
    arr = np.asarray(p, dtype=float)
    m = arr.size
    if m == 0:
        return arr.copy()
    order = np.argsort(arr, kind="stable")
    return _step_up(arr[order] * m / np.arange(1, m + 1), order, 1.0)


@dataclass(frozen=True)
class TestResult:
    """A difference (b - a), its 95% interval, a p-value and the test's name.

    Example:
        >>> mcnemar([True, False, True], [True, True, True]).test
        'mcnemar_exact'
    """

    test: str
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int


@renamed_argument("level", "confidence", "llmops_nb.stats.mcnemar")
def mcnemar(a: Sequence[bool], b: Sequence[bool], *, confidence: float = 0.95, seed: int = 0, n_boot: int = 4000) -> TestResult:
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
    lo, hi = bootstrap_interval(d, confidence=confidence, seed=seed, n_boot=n_boot)
    return TestResult("mcnemar_exact", float(d.mean()) if len(d) else float("nan"), lo, hi, p, len(d))


@renamed_argument("level", "confidence", "llmops_nb.stats.wilcoxon")
def wilcoxon(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95, seed: int = 0, n_boot: int = 4000) -> TestResult:
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
    lo, hi = bootstrap_interval(d, confidence=confidence, seed=seed, n_boot=n_boot)
    return TestResult("wilcoxon", float(d.mean()), lo, hi, p, len(d))


@renamed_argument("level", "confidence", "llmops_nb.stats.paired_bootstrap")
def paired_bootstrap(a: Sequence[float], b: Sequence[float], *, n_boot: int = 10000, confidence: float = 0.95, seed: int = 0) -> TestResult:
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
    lo, hi = np.quantile(means, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
    return TestResult("paired_bootstrap", float(obs), float(lo), float(hi), max(p, 1.0 / n_boot), len(d))


@renamed_argument("level", "confidence", "llmops_nb.stats.two_proportions")
def two_proportions(a: Sequence[bool], b: Sequence[bool], *, confidence: float = 0.95) -> TestResult:
    """Unpaired pass rates (live traffic): Fisher's exact test, Newcombe's interval for b - a.

    Example:
        >>> r = two_proportions([True] * 90 + [False] * 10, [True] * 70 + [False] * 30)
        >>> round(r.diff, 2), r.p_value < 0.01
        (-0.2, True)
    """
    from scipy.stats import fisher_exact

    x = np.asarray(a, dtype=bool)
    y = np.asarray(b, dtype=bool)
    n1, n2 = len(x), len(y)
    k1, k2 = int(x.sum()), int(y.sum())
    p = float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue) if n1 and n2 else 1.0
    l1, u1 = wilson(k1, n1, confidence)
    l2, u2 = wilson(k2, n2, confidence)
    p1 = k1 / n1 if n1 else float("nan")
    p2 = k2 / n2 if n2 else float("nan")
    d = p2 - p1
    lo = d - np.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    hi = d + np.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return TestResult("fisher_exact", float(d), float(lo), float(hi), p, n1 + n2)


@renamed_argument("level", "confidence", "llmops_nb.stats.unpaired_bootstrap")
def unpaired_bootstrap(a: Sequence[float], b: Sequence[float], *, n_boot: int = 10000, confidence: float = 0.95, seed: int = 0) -> TestResult:
    """Unpaired scores (live traffic): Mann-Whitney U p-value, bootstrap interval of mean(b) - mean(a).

    Example:
        >>> r = unpaired_bootstrap([1, 2, 3, 4], [2, 3, 4, 5], n_boot=200)
        >>> r.test, r.diff
        ('mann_whitney', 1.0)
    """
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
    lo, hi = np.quantile(by - bx, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
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
