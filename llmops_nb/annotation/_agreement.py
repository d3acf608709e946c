"""Agreement between annotators: Cohen's kappa, Fleiss' kappa, Krippendorff's alpha (nominal,
ordinal, interval), per-label confusion, and the queue of items they disagree on."""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb._compat import renamed_argument
from llmops_nb.annotation._html import esc
from llmops_nb.results import ResultView
from llmops_nb.schema import is_missing

__all__ = [
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "confusion",
    "agreement",
    "disagreements",
    "Agreement",
    "ratings_matrix",
]


def _key(v: Any) -> Hashable:
    if isinstance(v, list):
        return tuple(v)
    if isinstance(v, dict):
        return tuple(sorted(v.items()))
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def cohen_kappa(a: Sequence[Any], b: Sequence[Any], *, weights: str | None = None,
                labels: Sequence[Any] | None = None) -> float:
    """Cohen's kappa between two raters over the same items (pairs with a missing value dropped).
    ``weights``: None (nominal), ``"linear"`` or ``"quadratic"`` (ordinal labels, in ``labels`` order).

    Example:
        >>> round(cohen_kappa([1, 1, 0, 0], [1, 0, 0, 0]), 3)
        0.5
    """
    pairs = [(_key(x), _key(y)) for x, y in zip(a, b) if not is_missing(x) and not is_missing(y)]
    if not pairs:
        return float("nan")
    cats = list(labels) if labels is not None else sorted({p for pr in pairs for p in pr}, key=lambda v: (str(type(v)), v))
    idx = {c: i for i, c in enumerate(cats)}
    k = len(cats)
    m = np.zeros((k, k))
    for x, y in pairs:
        m[idx[x], idx[y]] += 1
    n = m.sum()
    if weights is None:
        w = 1.0 - np.eye(k)
    elif weights in ("linear", "quadratic"):
        d = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / max(k - 1, 1)
        w = d if weights == "linear" else d**2
    else:
        raise ValueError(f"weights={weights!r} is not valid; valid: None, 'linear', 'quadratic'")
    expected = np.outer(m.sum(1), m.sum(0)) / n
    den = (w * expected).sum()
    if den == 0:
        return 1.0 if (w * m).sum() == 0 else float("nan")
    return float(1.0 - (w * m).sum() / den)


def fleiss_kappa(ratings: pd.DataFrame | np.ndarray) -> float:
    """Fleiss' kappa. ``ratings``: an items x raters frame of labels (None where a rater did not
    label; items need at least two ratings), or an items x categories matrix of counts with the
    same number of ratings per item.

    Example:
        >>> round(fleiss_kappa(np.array([[2, 0], [0, 2], [1, 1]])), 3)
        0.333
    """
    if isinstance(ratings, pd.DataFrame):
        counts = _counts(ratings)[0]
    else:
        counts = np.asarray(ratings, dtype=float)
    counts = counts[counts.sum(1) >= 2]
    if len(counts) == 0:
        return float("nan")
    n_i = counts.sum(1)
    if not np.allclose(n_i, n_i[0]):
        # unequal numbers of raters: the generalisation with per-item n_i
        p_j = counts.sum(0) / n_i.sum()
        p_i = ((counts * (counts - 1)).sum(1)) / (n_i * (n_i - 1))
    else:
        p_j = counts.sum(0) / counts.sum()
        p_i = ((counts * (counts - 1)).sum(1)) / (n_i * (n_i - 1))
    p_bar = p_i.mean()
    p_e = (p_j**2).sum()
    if p_e == 1:
        return 1.0 if p_bar == 1 else float("nan")
    return float((p_bar - p_e) / (1 - p_e))


def _counts(ratings: pd.DataFrame) -> tuple[np.ndarray, list[Any]]:
    vals = [[_key(v) for v in row if not is_missing(v)] for row in ratings.itertuples(index=False)]
    cats = sorted({v for r in vals for v in r}, key=lambda v: (str(type(v)), v))
    idx = {c: i for i, c in enumerate(cats)}
    m = np.zeros((len(vals), len(cats)))
    for i, r in enumerate(vals):
        for v in r:
            m[i, idx[v]] += 1
    return m, cats


@renamed_argument("level", "scale", "llmops_nb.annotation.krippendorff_alpha")
def krippendorff_alpha(ratings: pd.DataFrame | Sequence[Sequence[Any]], scale: str = "nominal",
                       order: Sequence[Any] | None = None) -> float:
    """Krippendorff's alpha over an items x raters table (None for a missing rating); ``scale``
    (the measurement scale) is ``nominal``, ``ordinal`` (ranks in ``order``, default sorted
    values) or ``interval``. ``level=`` is its deprecated spelling.

    Example:
        >>> round(krippendorff_alpha([[1, 1], [2, 2], [1, 2]]), 3)
        0.444
    """
    if scale not in ("nominal", "ordinal", "interval"):
        raise ValueError(f"scale={scale!r} is not valid; valid: 'nominal', 'ordinal', 'interval'")
    df = ratings if isinstance(ratings, pd.DataFrame) else pd.DataFrame(list(ratings))
    counts, cats = _counts(df)
    if order is not None:
        missing = [c for c in cats if c not in [_key(o) for o in order]]
        if missing:
            raise ValueError(f"values {missing} are not in order={list(order)}")
        keyed = [_key(o) for o in order]
        perm = [cats.index(c) if c in cats else None for c in keyed]
        counts = np.column_stack([counts[:, p] if p is not None else np.zeros(len(counts)) for p in perm])
        cats = keyed
    m_u = counts.sum(1)
    counts = counts[m_u >= 2]
    m_u = m_u[m_u >= 2]
    if len(counts) == 0:
        return float("nan")
    # coincidence matrix
    o = np.zeros((len(cats), len(cats)))
    for row, m in zip(counts, m_u):
        o += (np.outer(row, row) - np.diag(row)) / (m - 1)
    n_c = o.sum(1)
    n = n_c.sum()
    k = len(cats)
    if scale == "nominal":
        d2 = 1.0 - np.eye(k)
    elif scale == "ordinal":
        cum = np.cumsum(n_c)
        d2 = np.zeros((k, k))
        for c in range(k):
            for j in range(k):
                lo, hi = min(c, j), max(c, j)
                s = cum[hi] - (cum[lo - 1] if lo > 0 else 0.0)
                d2[c, j] = (s - (n_c[c] + n_c[j]) / 2.0) ** 2
    else:
        x = np.array([float(c) for c in cats])
        d2 = np.subtract.outer(x, x) ** 2
    d_o = (o * d2).sum()
    d_e = (np.outer(n_c, n_c) * d2).sum()
    if d_e == 0:
        return 1.0 if d_o == 0 else float("nan")
    return float(1.0 - (n - 1) * d_o / d_e)


def confusion(a: Sequence[Any], b: Sequence[Any], *, names: tuple[str, str] = ("a", "b")) -> pd.DataFrame:
    """Counts of (a's label, b's label) over the items both labelled: rows a, columns b.

    Example:
        >>> int(confusion(["x", "y", "y"], ["x", "y", "x"]).loc["y", "x"])
        1
    """
    pairs = [(_key(x), _key(y)) for x, y in zip(a, b) if not is_missing(x) and not is_missing(y)]
    df = pd.DataFrame(pairs, columns=list(names))
    cats = sorted({v for p in pairs for v in p}, key=lambda v: (str(type(v)), v))
    ct = pd.crosstab(df[names[0]], df[names[1]]) if len(df) else pd.DataFrame()
    return ct.reindex(index=cats, columns=cats, fill_value=0).rename_axis(index=names[0], columns=names[1])


def ratings_matrix(labels: pd.DataFrame, question: str) -> pd.DataFrame:
    """Current labels of one question as an items x annotators frame (None where missing)."""
    from llmops_nb.annotation._labels import resolve_labels

    cur = resolve_labels(labels) if "action" in labels.columns else labels
    cur = cur[(cur["question"] == question) & cur["value"].notna()]
    if len(cur) == 0:
        return pd.DataFrame()
    cur = cur.assign(value=[_key(v) for v in cur["value"]])
    wide: dict[str, dict[str, Any]] = {}
    for iid, ann, v in zip(cur["item_id"], cur["annotator"], cur["value"]):
        wide.setdefault(ann, {})[iid] = v
    out = pd.DataFrame(wide).astype(object)
    return out.where(out.notna(), None)


@dataclass
class Agreement(ResultView):
    """Agreement between annotators on one question (computed once, shown as HTML).

    Example:
        >>> import pandas as pd
        >>> from llmops_nb.schema import conform, LABELS
        >>> rows = [{"label_id": f"{i}{a}", "item_id": str(i), "question": "ok", "value": v, "action": "set",
        ...          "annotator": a, "created_at": pd.Timestamp("2024-01-01", tz="UTC")}
        ...         for i, (x, y) in enumerate([(True, True), (False, False)]) for a, v in (("a", x), ("b", y))]
        >>> ag = agreement(conform(pd.DataFrame(rows), LABELS), "ok")
        >>> ag.n_items, ag.annotators
        (2, ['a', 'b'])
    """

    question: str
    n_items: int
    annotators: list[str]
    fleiss_kappa: float
    krippendorff_alpha: float
    krippendorff_alpha_ordinal: float | None
    pairwise: pd.DataFrame
    confusions: dict[tuple[str, str], pd.DataFrame] = field(repr=False)
    per_label: pd.DataFrame = field(repr=False)

    @property
    def frame(self) -> pd.DataFrame:
        """The main table (the result-object protocol: ``.frame``, ``_repr_html_``, ``to_markdown``)."""
        return self.pairwise

    def _repr_html_(self) -> str:
        alpha_o = "" if self.krippendorff_alpha_ordinal is None else f", ordinal alpha {self.krippendorff_alpha_ordinal:.3f}"
        return (
            f"<div><b>Agreement on {esc(self.question)}</b>: {self.n_items} items with 2+ annotators, "
            f"{len(self.annotators)} annotators; Fleiss' kappa {self.fleiss_kappa:.3f}, "
            f"Krippendorff's alpha {self.krippendorff_alpha:.3f}{alpha_o}"
            f"{self.pairwise.to_html(index=False, float_format=lambda x: f'{x:.3f}')}"
            f"<div>per label</div>{self.per_label.to_html(float_format=lambda x: f'{x:.3f}')}</div>"
        )


@renamed_argument("level", "scale", "llmops_nb.annotation.agreement")
def agreement(labels: Any, question: str | None = None, *, annotators: Sequence[str] | None = None,
              scale: str = "nominal") -> Agreement:
    """Agreement between annotators on ``question`` from a labels frame or a store: Cohen's kappa
    and the confusion per pair of annotators, Fleiss' kappa, Krippendorff's alpha (nominal, plus
    ordinal when ``scale="ordinal"``; ``level=`` is its deprecated spelling), and per-label agreement (specific agreement: how often a
    second rater gives the label when one did).

    Example:
        >>> import pandas as pd
        >>> from llmops_nb.schema import conform, LABELS
        >>> rows = [{"label_id": f"{i}{a}", "item_id": str(i), "question": "ok", "value": v, "action": "set",
        ...          "annotator": a, "created_at": pd.Timestamp("2024-01-01", tz="UTC")}
        ...         for i, (x, y) in enumerate([(True, True), (False, False), (True, False)]) for a, v in (("a", x), ("b", y))]
        >>> round(agreement(conform(pd.DataFrame(rows), LABELS), "ok").fleiss_kappa, 3)
        0.333
    """
    if hasattr(labels, "labels") and callable(labels.labels):
        from llmops_nb.annotation._labels import all_labels

        labels = all_labels(labels)
    if question is None:
        qs = [q for q in labels["question"].dropna().unique().tolist() if q not in ("skip", "flag")]
        if len(qs) != 1:
            raise ValueError(f"pass question=...; the labels hold several questions: {qs}")
        question = qs[0]
    mat = ratings_matrix(labels, question)
    if annotators is not None and len(mat):
        mat = mat[[a for a in annotators if a in mat.columns]]
    if len(mat):
        mat = mat[mat.notna().sum(1) >= 2]
    anns = list(mat.columns)
    rows, confs = [], {}
    for x, y in itertools.combinations(anns, 2):
        both = mat[[x, y]].dropna()
        rows.append({"a": x, "b": y, "n": len(both), "agreement": float((both[x] == both[y]).mean()) if len(both) else np.nan,
                     "cohen_kappa": cohen_kappa(both[x], both[y]) if len(both) else np.nan})
        confs[(x, y)] = confusion(both[x], both[y], names=(x, y))
    counts, cats = _counts(mat) if len(mat) else (np.zeros((0, 0)), [])
    per = []
    for j, c in enumerate(cats):
        num = (counts[:, j] * (counts[:, j] - 1)).sum()
        den = (counts[:, j] * (counts.sum(1) - 1)).sum()
        per.append({"label": c, "ratings": int(counts[:, j].sum()), "specific_agreement": num / den if den else np.nan})
    ordinal = krippendorff_alpha(mat, "ordinal") if scale == "ordinal" and len(mat) else None
    return Agreement(
        question=question, n_items=len(mat), annotators=anns,
        fleiss_kappa=fleiss_kappa(mat) if len(mat) else float("nan"),
        krippendorff_alpha=krippendorff_alpha(mat) if len(mat) else float("nan"),
        krippendorff_alpha_ordinal=ordinal,
        pairwise=pd.DataFrame(rows, columns=["a", "b", "n", "agreement", "cohen_kappa"]),
        confusions=confs, per_label=pd.DataFrame(per, columns=["label", "ratings", "specific_agreement"]).set_index("label"),
    )


def disagreements(labels: Any, question: str) -> pd.DataFrame:
    """Items whose annotators gave different current answers to ``question``: one row per item with
    ``item_id``, ``trace_id``, ``span_id`` and the answers by annotator. Pass it to
    ``lo.annotate(..., queue="sequential")`` to settle them.

    Example:
        >>> from llmops_nb.schema import empty_frame, LABELS
        >>> disagreements(empty_frame(LABELS), "ok").shape[0]
        0
    """
    if hasattr(labels, "labels") and callable(labels.labels):
        from llmops_nb.annotation._labels import all_labels

        labels = all_labels(labels)
    from llmops_nb.annotation._labels import resolve_labels

    cur = resolve_labels(labels) if "action" in labels.columns else labels
    cur = cur[(cur["question"] == question) & cur["value"].notna()]
    out = []
    for iid, g in cur.groupby("item_id", sort=False):
        vals = {a: v for a, v in zip(g["annotator"], g["value"])}
        if len({_key(v) for v in vals.values()}) > 1:
            out.append({"item_id": iid, "trace_id": g["trace_id"].iloc[0], "span_id": g["span_id"].iloc[0],
                        "question": question, "answers": vals})
    return pd.DataFrame(out, columns=["item_id", "trace_id", "span_id", "question", "answers"])
