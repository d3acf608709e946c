"""Drift of production inputs against a reference window: input length, language, topics
(clusters fit on the reference) and the centroid of text embeddings, each with a population
stability index (PSI) and/or a test's p-value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["psi", "drift"]


def psi(ref_counts: Sequence[float] | np.ndarray, cur_counts: Sequence[float] | np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index between two histograms over the same bins (< 0.1 stable,
    0.1-0.25 moderate shift, > 0.25 large shift).

    Example:
        >>> round(psi([50, 50], [50, 50]), 3), psi([90, 10], [10, 90]) > 0.25
        (0.0, True)
    """
    r = np.asarray(ref_counts, dtype=float)
    c = np.asarray(cur_counts, dtype=float)
    r = np.clip(r / max(r.sum(), 1.0), eps, None)
    c = np.clip(c / max(c.sum(), 1.0), eps, None)
    return float(np.sum((c - r) * np.log(c / r)))


def _language(texts: pd.Series) -> pd.Series:
    import py3langid

    return texts.map(lambda t: py3langid.classify(str(t))[0] if isinstance(t, str) and len(t.strip()) >= 12 else "unknown")


def _categorical(ref: pd.Series, cur: pd.Series) -> tuple[float, float, str]:
    from scipy.stats import chi2_contingency

    cats = sorted(set(ref.dropna()) | set(cur.dropna()))
    rc = np.array([(ref == k).sum() for k in cats], dtype=float)
    cc = np.array([(cur == k).sum() for k in cats], dtype=float)
    keep = (rc + cc) > 0
    rc, cc = rc[keep], cc[keep]
    p = float("nan")
    if len(rc) > 1 and rc.sum() and cc.sum():
        p = float(chi2_contingency(np.vstack([rc, cc]))[1])
    top = [k for k, _ in sorted(zip([c for c, m in zip(cats, keep) if m], cc - rc * cc.sum() / max(rc.sum(), 1)),
                                key=lambda kv: -abs(kv[1]))[:3]]
    return psi(rc, cc), p, "largest changes: " + ", ".join(map(str, top))


def _vectors(texts: list[str], ref_n: int, dims: int = 32, seed: int = 0) -> np.ndarray:
    """LSA vectors (TF-IDF then SVD) fit on the reference texts, applied to all."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(max_features=5000, sublinear_tf=True)
    xr = vec.fit_transform(texts[:ref_n])
    k = max(1, min(dims, xr.shape[1] - 1, ref_n - 1))
    svd = TruncatedSVD(n_components=k, random_state=seed).fit(xr)
    v = svd.transform(vec.transform(texts))
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return np.asarray(v / np.where(n == 0, 1, n))


def drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    text: str = "input_text",
    language: str | None = "language",
    embeddings: np.ndarray | None = None,
    n_topics: int = 8,
    n_permutations: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Compare a current window of traces with a reference window; one row per feature with
    ``psi``, ``p_value``, the test used and a short detail.

    - ``input_length``: PSI over the reference's deciles, two-sample Kolmogorov-Smirnov p-value.
    - ``language``: the metadata key ``language`` when traces carry one, else py3langid on the
      text; PSI and a chi-square test.
    - ``topics``: k-means clusters of text vectors fit on the reference; PSI and chi-square.
    - ``embedding_centroid``: cosine distance between the mean vectors, p-value from a
      permutation test. ``embeddings`` (rows of reference then current) replaces the LSA vectors.

    Example:
        >>> ref = pd.DataFrame({"input_text": ["where is my order"] * 40 + ["refund please now"] * 40})
        >>> cur = pd.DataFrame({"input_text": ["refund please now"] * 70 + ["where is my order"] * 10})
        >>> d = drift(ref, cur, language=None)
        >>> bool(d.set_index("feature").loc["topics", "p_value"] < 0.01)
        True
    """
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    rt = reference[text].fillna("").astype(str) if text in reference.columns else pd.Series([], dtype=str)
    ct = current[text].fillna("").astype(str) if text in current.columns else pd.Series([], dtype=str)
    base = {"n_reference": len(rt), "n_current": len(ct)}
    if not len(rt) or not len(ct):
        return pd.DataFrame(columns=["feature", "psi", "p_value", "test", "detail", "n_reference", "n_current"])
    # input length
    rl, cl = rt.str.len().to_numpy(float), ct.str.len().to_numpy(float)
    edges = np.unique(np.quantile(rl, np.linspace(0, 1, 11)))
    edges[0], edges[-1] = -np.inf, np.inf
    rows.append({"feature": "input_length", "psi": psi(np.histogram(rl, edges)[0], np.histogram(cl, edges)[0]),
                 "p_value": float(ks_2samp(rl, cl).pvalue), "test": "kolmogorov-smirnov",
                 "detail": f"median {np.median(rl):.0f} -> {np.median(cl):.0f} chars", **base})
    # language
    if language:
        def lang(df: pd.DataFrame, t: pd.Series) -> pd.Series:
            if "metadata" in df.columns:
                m = df["metadata"].map(lambda d: d.get(language) if isinstance(d, Mapping) else None)
                if m.notna().mean() > 0.5:
                    return m.fillna("unknown").astype(str)
            return _language(t)
        v, p, detail = _categorical(lang(reference, rt).reset_index(drop=True), lang(current, ct).reset_index(drop=True))
        rows.append({"feature": "language", "psi": v, "p_value": p, "test": "chi-square", "detail": detail, **base})
    # topics and centroid
    texts = [*rt.tolist(), *ct.tolist()]
    vecs = embeddings if embeddings is not None else _vectors(texts, len(rt), seed=seed)
    from sklearn.cluster import KMeans

    k = max(1, min(n_topics, len(rt) // 5 or 1))
    km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(vecs[: len(rt)])
    lab = km.predict(vecs)
    v, p, detail = _categorical(pd.Series(lab[: len(rt)]), pd.Series(lab[len(rt):]))
    rows.append({"feature": "topics", "psi": v, "p_value": p, "test": "chi-square",
                 "detail": f"{k} clusters fit on the reference; {detail}", **base})
    r, c = vecs[: len(rt)], vecs[len(rt):]

    def dist(a: np.ndarray, b: np.ndarray) -> float:
        ma, mb = a.mean(0), b.mean(0)
        den = float(np.linalg.norm(ma) * np.linalg.norm(mb)) or 1.0
        return 1.0 - float(ma @ mb) / den

    d0 = dist(r, c)
    allv = np.vstack([r, c])
    hits = 0
    for _ in range(n_permutations):
        idx = rng.permutation(len(allv))
        hits += dist(allv[idx[: len(r)]], allv[idx[len(r):]]) >= d0
    rows.append({"feature": "embedding_centroid", "psi": float("nan"), "p_value": (hits + 1) / (n_permutations + 1),
                 "test": "permutation", "detail": f"cosine distance between centroids {d0:.4f}", **base})
    return pd.DataFrame(rows)
