"""Vectorised statistics for slices: Wilson intervals, Fisher's exact test, Benjamini-Hochberg."""

from __future__ import annotations

import numpy as np

__all__ = ["wilson_interval", "fisher_vs_rest", "log_fisher_vs_rest", "benjamini_hochberg", "log_benjamini_hochberg"]


def wilson_interval(
    failures: np.ndarray, size: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of ``failures / size`` for arrays of counts.

    Example:
        >>> lo, hi = wilson_interval(np.array([5]), np.array([100]))
        >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
        (0.022, 0.112)
    """
    from scipy.stats import norm

    k = np.asarray(failures, dtype=float)
    n = np.asarray(size, dtype=float)
    z = float(norm.ppf(1 - (1 - confidence) / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / n, np.nan)
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


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
    from scipy.stats import hypergeom

    k = np.asarray(failures, dtype=np.int64)
    n = np.asarray(size, dtype=np.int64)
    K = np.broadcast_to(np.asarray(total_failures, dtype=np.int64), k.shape)
    N = np.broadcast_to(np.asarray(total, dtype=np.int64), k.shape)
    below = k * N <= n * K
    tail = np.empty(k.shape, dtype=float)
    if below.any():
        tail[below] = hypergeom.cdf(k[below], N[below], K[below], n[below])
    if (~below).any():
        tail[~below] = hypergeom.sf(k[~below] - 1, N[~below], K[~below], n[~below])
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

    k = np.asarray(failures, dtype=np.int64)
    n = np.asarray(size, dtype=np.int64)
    K = np.broadcast_to(np.asarray(total_failures, dtype=np.int64), k.shape)
    N = np.broadcast_to(np.asarray(total, dtype=np.int64), k.shape)
    # cdf/sf are vectorised in scipy; its logcdf/logsf sum pmfs element by element, so they
    # are used only where a tail underflows
    # the smaller tail is the one on the observed side of the mean: compute only that one
    below = k * N <= n * K
    tail = np.empty(k.shape, dtype=float)
    if below.any():
        tail[below] = hypergeom.cdf(k[below], N[below], K[below], n[below])
    if (~below).any():
        tail[~below] = hypergeom.sf(k[~below] - 1, N[~below], K[~below], n[~below])
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


def log_benjamini_hochberg(log_p: np.ndarray) -> np.ndarray:
    """:func:`benjamini_hochberg` on natural-log p-values, returning log adjusted p-values."""
    lp = np.asarray(log_p, dtype=float)
    m = lp.size
    if m == 0:
        return lp.copy()
    order = np.argsort(lp, kind="stable")
    ranked = lp[order] + np.log(m) - np.log(np.arange(1, m + 1))
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 0.0)
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), in the input order.

    Example:
        >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.5])).round(3).tolist()
        [0.04, 0.053, 0.053, 0.5]
    """
    p = np.asarray(p, dtype=float)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(ranked, 1.0)
    return out
