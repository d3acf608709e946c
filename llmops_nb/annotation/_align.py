"""Judge alignment: how well an LLM judge agrees with human labels (TPR, TNR, precision, recall,
F1, accuracy, kappa, with intervals), deterministic train/dev/test splits, the bias-corrected
pass rate of the unlabelled rest (Rogan-Gladen with a bootstrap interval), and position and
length bias checks for pairwise judges."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb._compat import renamed_argument, warn_deprecated
from llmops_nb.annotation._agreement import _key, cohen_kappa, confusion
from llmops_nb.annotation._html import esc
from llmops_nb.hashing import uniform
from llmops_nb.results import ResultView, item_ids, latest
from llmops_nb.stats import wilson

__all__ = [
    "align",
    "Alignment",
    "split_items",
    "rogan_gladen",
    "corrected_pass_rate",
    "CorrectedRate",
    "wilson",
    "pairwise_bias",
]


def split_items(item_ids: Sequence[str], fractions: tuple[float, float, float] = (0.2, 0.4, 0.4),
                salt: str = "llmops_nb") -> pd.Series:
    """Deterministic train/dev/test split by a hash of each item id (the same id always lands in
    the same split, whatever else is labelled): :func:`llmops_nb.hashing.uniform`, algorithm
    ``"sha256"``, salt ``"<salt>:"``.

    Example:
        >>> split_items(["a", "b", "c"]).tolist() == split_items(["c", "b", "a"])[::-1].tolist()
        True
    """
    if abs(sum(fractions) - 1) > 1e-9 or any(f < 0 for f in fractions):
        raise ValueError(f"fractions={fractions} must be three non-negative numbers that sum to 1 (train, dev, test)")
    cut1, cut2 = fractions[0], fractions[0] + fractions[1]
    out = ["train" if u < cut1 else "dev" if u < cut2 else "test"
           for u in uniform(item_ids, salt=f"{salt}:", algorithm="sha256")]
    return pd.Series(out, index=list(item_ids), name="split", dtype=object)


def rogan_gladen(p_obs: float, tpr: float, tnr: float) -> float:
    """The true pass rate from the judge's observed pass rate and its TPR and TNR:
    ``(p_obs + TNR - 1) / (TPR + TNR - 1)``, clipped to [0, 1]; NaN when the judge is no better
    than chance (TPR + TNR <= 1).

    Example:
        >>> round(rogan_gladen(0.62, 0.9, 0.8), 3)
        0.6
    """
    den = tpr + tnr - 1
    if not np.isfinite(den) or den <= 0:
        return float("nan")
    return float(min(1.0, max(0.0, (p_obs + tnr - 1) / den)))


@dataclass
class CorrectedRate:
    """The bias-corrected pass rate of unlabelled items, with its bootstrap interval.

    Example:
        >>> r = corrected_pass_rate([True, True, False, False] * 25, [True, True, False, True] * 25,
        ...                         [True] * 60 + [False] * 40, n_boot=200)
        >>> isinstance(r, CorrectedRate), r.n_labelled, r.n_unlabelled
        (True, 100, 100)
    """

    estimate: float
    lo: float
    hi: float
    observed: float
    tpr: float
    tnr: float
    n_labelled: int
    n_unlabelled: int
    confidence: float = 0.95

    @property
    def level(self) -> float:
        """Deprecated: the interval's confidence level is :attr:`confidence`."""
        warn_deprecated("CorrectedRate.level", "CorrectedRate.confidence")
        return self.confidence

    def __repr__(self) -> str:
        return (f"CorrectedRate(estimate={self.estimate:.3f}, {int(self.confidence * 100)}% CI [{self.lo:.3f}, {self.hi:.3f}], "
                f"observed={self.observed:.3f}, tpr={self.tpr:.3f}, tnr={self.tnr:.3f}, "
                f"n_labelled={self.n_labelled}, n_unlabelled={self.n_unlabelled})")


@renamed_argument("level", "confidence", "llmops_nb.annotation.corrected_pass_rate")
def corrected_pass_rate(judge_labelled: Sequence[bool], human_labelled: Sequence[bool],
                        judge_unlabelled: Sequence[bool], *, confidence: float = 0.95, n_boot: int = 2000,
                        seed: int = 0) -> CorrectedRate:
    """Estimate the true pass rate of the unlabelled items from the judge's verdicts on them,
    corrected by the judge's TPR and TNR measured on labelled items (Rogan-Gladen). The interval
    is a percentile bootstrap at ``confidence`` that resamples both the labelled pairs and the
    unlabelled verdicts (``level=`` is the deprecated spelling of ``confidence=``).

    Example:
        >>> r = corrected_pass_rate([True, True, False, False] * 25, [True, True, False, True] * 25,
        ...                         [True] * 60 + [False] * 40, n_boot=200)
        >>> round(r.estimate, 3)
        0.9
    """
    j = np.asarray(judge_labelled, dtype=bool)
    y = np.asarray(human_labelled, dtype=bool)
    u = np.asarray(judge_unlabelled, dtype=bool)
    if len(j) != len(y):
        raise ValueError(f"judge_labelled ({len(j)}) and human_labelled ({len(y)}) must have the same length")
    if y.all() or (~y).all():
        raise ValueError("the labelled items need both human passes and human fails to measure TPR and TNR")
    if len(u) == 0:
        raise ValueError("judge_unlabelled is empty: there is nothing to estimate")

    def rates(jj: np.ndarray, yy: np.ndarray) -> tuple[float, float]:
        pos, neg = yy.sum(), (~yy).sum()
        tpr = (jj & yy).sum() / pos if pos else np.nan
        tnr = (~jj & ~yy).sum() / neg if neg else np.nan
        return tpr, tnr

    tpr, tnr = rates(j, y)
    p_obs = float(u.mean())
    est = rogan_gladen(p_obs, tpr, tnr)
    rng = np.random.default_rng(seed)
    n, m = len(j), len(u)
    pos_j, neg_j = j[y], j[~y]
    # resample the labelled pairs (stratified by the human label, so every resample measures both
    # rates) and the unlabelled verdicts, all at once
    tb = pos_j[rng.integers(0, len(pos_j), (n_boot, len(pos_j)))].mean(1)
    nb = (~neg_j[rng.integers(0, len(neg_j), (n_boot, len(neg_j)))]).mean(1)
    pb = rng.binomial(m, p_obs, n_boot) / m
    den = tb + nb - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        boots = np.where(den > 0, np.clip((pb + nb - 1) / den, 0.0, 1.0), np.nan)
    boots = boots[np.isfinite(boots)]
    a = (1 - confidence) / 2
    lo, hi = (np.quantile(boots, [a, 1 - a]) if len(boots) else (np.nan, np.nan))
    return CorrectedRate(est, float(lo), float(hi), p_obs, float(tpr), float(tnr), n, m, confidence)


def _boot_ci(fn: Any, a: np.ndarray, b: np.ndarray, n_boot: int, confidence: float, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = len(a)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        v = fn(a[i], b[i])
        if np.isfinite(v):
            vals.append(v)
    if not vals:
        return (float("nan"), float("nan"))
    q = (1 - confidence) / 2
    lo, hi = np.quantile(vals, [q, 1 - q])
    return (float(lo), float(hi))


def _kappa_codes(a: np.ndarray, b: np.ndarray, k: int) -> float:
    m = np.bincount(a * k + b, minlength=k * k).reshape(k, k).astype(float)
    n = m.sum()
    pe = (m.sum(1) * m.sum(0)).sum() / (n * n)
    po = np.trace(m) / n
    return float((po - pe) / (1 - pe)) if pe < 1 else (1.0 if po == 1 else float("nan"))


@dataclass
class Alignment(ResultView):
    """A judge's agreement with human labels (computed once, shown as HTML).

    ``metrics``: one row per metric with value and interval; ``pairs``: one row per labelled item
    (item_id, judge, human, split); ``unlabelled``: judge verdicts of items no human labelled.

    Example:
        >>> a = align([True, True, False, True], [True, False, False, True], n_boot=100)
        >>> isinstance(a, Alignment), a["accuracy"]
        (True, 0.75)
    """

    metrics: pd.DataFrame
    pairs: pd.DataFrame
    confusion: pd.DataFrame
    positive: Any
    unlabelled: pd.Series = field(repr=False)
    confidence: float = 0.95
    corrected: CorrectedRate | None = None

    @property
    def frame(self) -> pd.DataFrame:
        """The main table (the result-object protocol: ``.frame``, ``_repr_html_``, ``to_markdown``)."""
        return self.metrics

    def __getitem__(self, metric: str) -> float:
        return float(self.metrics.loc[metric, "value"])

    @property
    def level(self) -> float:
        """Deprecated: the intervals' confidence level is :attr:`confidence`."""
        warn_deprecated("Alignment.level", "Alignment.confidence")
        return self.confidence

    @property
    def accuracy(self) -> float:
        return self["accuracy"]

    def split(self, name: str) -> Alignment:
        """The same alignment measured on one split only (``train``, ``dev`` or ``test``)."""
        sub = self.pairs[self.pairs["split"] == name]
        return _align_pairs(sub, self.positive, self.confidence, unlabelled=self.unlabelled)

    def corrected_pass_rate(self, judge_unlabelled: Sequence[Any] | None = None, *, n_boot: int = 2000,
                            seed: int = 0) -> CorrectedRate:
        """The bias-corrected pass rate of the unlabelled items (default: the judge verdicts
        ``align`` found without a human label)."""
        u = self.unlabelled if judge_unlabelled is None else pd.Series(list(judge_unlabelled))
        pos = _key(self.positive)
        return corrected_pass_rate([_key(v) == pos for v in self.pairs["judge"]],
                                   [_key(v) == pos for v in self.pairs["human"]],
                                   [_key(v) == pos for v in u], confidence=self.confidence, n_boot=n_boot, seed=seed)

    def _repr_html_(self) -> str:
        corr = f"<div>{esc(repr(self.corrected))}</div>" if self.corrected is not None else ""
        return (f"<div><b>Judge alignment</b> on {len(self.pairs)} labelled items (positive = {esc(self.positive)})"
                f"{self.metrics.to_html(float_format=lambda x: f'{x:.3f}')}<div>confusion (rows: human, columns: judge)</div>"
                f"{self.confusion.to_html()}{corr}</div>")

    def __repr__(self) -> str:
        m = self.metrics["value"]
        return "Alignment(" + ", ".join(f"{k}={v:.3f}" for k, v in m.items() if k != "n") + f", n={int(m['n'])})"


def _as_verdicts(x: Any, *, evaluator: str | None, value: str, name: str) -> pd.Series:
    """judge results / human labels -> Series item_id -> value."""
    if isinstance(x, pd.Series):
        return x.rename(name)
    if hasattr(x, "labels") and callable(x.labels):
        from llmops_nb.annotation._labels import all_labels

        x = all_labels(x)
    if not isinstance(x, pd.DataFrame):
        return pd.Series(list(x), name=name)
    df = x
    if "question" in df.columns and "annotator" in df.columns:  # a labels table
        from llmops_nb.annotation._labels import resolve_labels

        cur = resolve_labels(df) if "action" in df.columns else df
        if evaluator is not None:
            cur = cur[cur["question"] == evaluator]
        else:
            qs = [q for q in cur["question"].unique().tolist() if q not in ("skip", "flag")]
            if len(qs) > 1:
                raise ValueError(f"the labels hold several questions {qs}; pass question=...")
            cur = cur[cur["question"].isin(qs)]
        cur = cur[cur["value"].notna()]
        iid = cur["item_id"].where(cur["item_id"].notna(), cur["trace_id"])
        # several annotators: the majority answer (ties dropped)
        out = {}
        for k, vals in pd.Series(list(cur["value"]), index=iid.values).groupby(level=0):
            counts = pd.Series([_key(v) for v in vals]).value_counts()
            if len(counts) == 1 or counts.iloc[0] > counts.iloc[1]:
                out[k] = counts.index[0]
        return pd.Series(out, name=name, dtype=object)
    if "evaluator" in df.columns:  # a results table
        if evaluator is not None:
            df = df[df["evaluator"] == evaluator]
        elif df["evaluator"].nunique() > 1:
            raise ValueError(f"the results hold several evaluators {sorted(df['evaluator'].unique())[:10]}; pass evaluator=...")
        df = latest(df, errors=False)
        col: str | None = value if value in df.columns else "passed"
        if col == "passed" and df["passed"].isna().all():
            col = "label"
        s = pd.Series(df[col].tolist(), index=item_ids(df).tolist(), name=name, dtype=object)
        return s[~s.index.duplicated(keep="last")]
    key = "item_id" if "item_id" in df.columns else "trace_id" if "trace_id" in df.columns else None
    col = value if value in df.columns else name if name in df.columns else None
    if key is None or col is None:
        raise ValueError(f"cannot read {name} verdicts from columns {list(df.columns)[:12]}; "
                         f"pass a results/labels table, a Series indexed by item id, or a frame with item_id and {value!r}")
    return pd.Series(df[col].tolist(), index=df[key].tolist(), name=name, dtype=object)


def _norm_bool(v: Any) -> Any:
    if isinstance(v, str) and v.lower() in ("pass", "fail", "true", "false"):
        return v.lower() in ("pass", "true")
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return _key(v)


@renamed_argument("level", "confidence", "llmops_nb.annotation.align")
def align(
    judge_results: Any,
    human_labels: Any,
    *,
    evaluator: str | None = None,
    question: str | None = None,
    positive: Any = True,
    value: str = "passed",
    confidence: float = 0.95,
    n_boot: int = 1000,
    splits: tuple[float, float, float] = (0.2, 0.4, 0.4),
    seed: int = 0,
) -> Alignment:
    """How well a judge agrees with human labels on the items both judged.

    ``judge_results``: a results table (``evaluator`` picks one; ``value`` the column: passed,
    label or score), a frame with ``item_id`` and a verdict column, or a Series indexed by item
    id. ``human_labels``: a labels table or a store (``question`` picks one; several annotators
    vote, ties dropped), or a Series. Both may also be plain sequences in the same order.

    Metrics (``positive`` is the pass class): accuracy and Cohen's kappa for any labels; TPR
    (recall), TNR, precision, F1 for two classes; Wilson intervals for the rates, bootstrap for
    kappa and F1, all at ``confidence`` (``level=`` is its deprecated spelling). Each labelled item gets a deterministic train/dev/test split (hash of its id).
    Judge verdicts on items without a human label form ``unlabelled``, whose bias-corrected pass
    rate is ``.corrected`` (Rogan-Gladen, bootstrap interval).

    Example:
        >>> a = align([True, True, False, True], [True, False, False, True], n_boot=100)
        >>> a["accuracy"], a["tpr"], a["tnr"]
        (0.75, 1.0, 0.5)
    """
    j = _as_verdicts(judge_results, evaluator=evaluator, value=value, name="judge")
    h = _as_verdicts(human_labels, evaluator=question, value=value, name="human")
    if isinstance(j.index, pd.RangeIndex) and isinstance(h.index, pd.RangeIndex) and len(j) != len(h):
        raise ValueError(f"judge ({len(j)}) and human ({len(h)}) sequences must have the same length")
    j = j[[v is not None and not (isinstance(v, float) and np.isnan(v)) for v in j]]
    h = h[[v is not None and not (isinstance(v, float) and np.isnan(v)) for v in h]]
    both = j.index.intersection(h.index)
    if len(both) == 0:
        raise ValueError("no item has both a judge verdict and a human label; check the item ids "
                         f"(judge e.g. {list(j.index[:3])}, human e.g. {list(h.index[:3])})")
    pairs = pd.DataFrame({"item_id": list(both), "judge": [_norm_bool(v) for v in j.loc[both]],
                          "human": [_norm_bool(v) for v in h.loc[both]]})
    pairs["split"] = split_items([str(i) for i in pairs["item_id"]], splits).values
    unl = j[~j.index.isin(h.index)].map(_norm_bool)
    out = _align_pairs(pairs, _norm_bool(positive), confidence, unlabelled=unl, n_boot=n_boot, seed=seed)
    if len(unl) and {_key(v) for v in pairs["human"]} >= {out.positive} and len({_key(v) for v in pairs["human"]}) == 2:
        try:
            out.corrected = out.corrected_pass_rate(n_boot=n_boot, seed=seed)
        except ValueError:
            out.corrected = None
    return out


def _align_pairs(pairs: pd.DataFrame, positive: Any, confidence: float, *, unlabelled: pd.Series,
                 n_boot: int = 1000, seed: int = 0) -> Alignment:
    jv = [_key(v) for v in pairs["judge"]]
    hv = [_key(v) for v in pairs["human"]]
    n = len(pairs)
    correct = sum(a == b for a, b in zip(jv, hv))
    rows: dict[str, tuple[float, float, float]] = {}
    acc_ci = wilson(correct, n, confidence)
    rows["accuracy"] = (correct / n if n else float("nan"), *acc_ci)
    cats = {c: i for i, c in enumerate(dict.fromkeys([*jv, *hv]))}
    ja = np.array([cats[v] for v in jv], dtype=np.int64)
    ha = np.array([cats[v] for v in hv], dtype=np.int64)
    kappa = cohen_kappa(jv, hv)
    rows["kappa"] = (kappa, *_boot_ci(lambda a, b: _kappa_codes(a, b, len(cats)), ja, ha, n_boot, confidence, seed))
    classes = {*jv, *hv}
    if positive in classes and len(classes) <= 2:
        jp = np.array([v == positive for v in jv])
        hp = np.array([v == positive for v in hv])
        tp, fp = int((jp & hp).sum()), int((jp & ~hp).sum())
        fn, tn = int((~jp & hp).sum()), int((~jp & ~hp).sum())

        def f1(a: np.ndarray, b: np.ndarray) -> float:
            a, b = a.astype(bool), b.astype(bool)
            t = (a & b).sum()
            d = a.sum() + b.sum()
            return 2 * t / d if d else float("nan")

        rows["tpr"] = ((tp / (tp + fn)) if tp + fn else float("nan"), *wilson(tp, tp + fn, confidence))
        rows["tnr"] = ((tn / (tn + fp)) if tn + fp else float("nan"), *wilson(tn, tn + fp, confidence))
        rows["precision"] = ((tp / (tp + fp)) if tp + fp else float("nan"), *wilson(tp, tp + fp, confidence))
        rows["recall"] = rows["tpr"]
        rows["f1"] = (f1(jp, hp), *_boot_ci(f1, jp, hp, n_boot, confidence, seed))
        rows["judge_pass_rate"] = (float(jp.mean()), *wilson(int(jp.sum()), n, confidence))
        rows["human_pass_rate"] = (float(hp.mean()), *wilson(int(hp.sum()), n, confidence))
    rows["n"] = (float(n), float("nan"), float("nan"))
    metrics = pd.DataFrame.from_dict(rows, orient="index", columns=["value", "lo", "hi"])
    metrics.index.name = "metric"
    conf = confusion(hv, jv, names=("human", "judge"))
    return Alignment(metrics, pairs.reset_index(drop=True), conf, positive, unlabelled, confidence)


def pairwise_bias(frame: pd.DataFrame, *, winner: str = "winner", winner_swapped: str | None = "winner_swapped",
                  gold: str | None = None, len_a: str | None = "len_a", len_b: str | None = "len_b",
                  first: Any = "1", second: Any = "2") -> pd.DataFrame:
    """Position and length bias of a pairwise judge. One row per comparison with the judge's
    ``winner`` (``first``/``second``, in the original order), optionally ``winner_swapped`` (the
    verdict with the two answers swapped, mapped back to the original order), ``gold`` and the two
    answers' lengths.

    Returns one row per check: ``first_position_rate`` (how often the answer shown first wins;
    0.5 when unbiased, with a binomial test), ``consistency`` (same winner after swapping),
    ``longer_wins_rate`` (how often the longer answer wins, against the gold rate when given),
    and accuracies when ``gold`` is given.

    Example:
        >>> df = pd.DataFrame({"winner": ["1", "1", "2", "1"], "winner_swapped": ["1", "2", "2", "2"]})
        >>> float(pairwise_bias(df, len_a=None, len_b=None).loc["consistency", "value"])
        0.5
    """
    from scipy.stats import binomtest

    rows: dict[str, dict[str, Any]] = {}
    w = frame[winner].astype(str)
    f, s = str(first), str(second)
    shown_first = (w == f).sum()
    n = int(w.isin([f, s]).sum())
    if winner_swapped and winner_swapped in frame:
        ws = frame[winner_swapped].astype(str)
        # in the swapped run the original second answer is shown first
        shown_first += (ws == s).sum()
        n += int(ws.isin([f, s]).sum())
        both = w.isin([f, s]) & ws.isin([f, s])
        k = int((w[both] == ws[both]).sum())
        rows["consistency"] = {"value": k / both.sum() if both.sum() else np.nan, "n": int(both.sum()),
                               "lo": wilson(k, both.sum())[0], "hi": wilson(k, both.sum())[1], "p_value": np.nan}
    if n:
        rows["first_position_rate"] = {"value": shown_first / n, "n": n, "lo": wilson(shown_first, n)[0],
                                       "hi": wilson(shown_first, n)[1], "p_value": binomtest(int(shown_first), n, 0.5).pvalue}
    if len_a and len_b and len_a in frame and len_b in frame:
        la, lb = frame[len_a].to_numpy(float), frame[len_b].to_numpy(float)
        diff = la != lb
        longer = np.where(la > lb, f, s)
        k = int((w.to_numpy()[diff] == longer[diff]).sum())
        m = int(diff.sum())
        row = {"value": k / m if m else np.nan, "n": m, "lo": wilson(k, m)[0], "hi": wilson(k, m)[1],
               "p_value": binomtest(k, m, 0.5).pvalue if m else np.nan}
        if gold and gold in frame:
            g = frame[gold].astype(str).to_numpy()
            row["gold_longer_rate"] = float((g[diff] == longer[diff]).mean()) if m else np.nan
        rows["longer_wins_rate"] = row
    if gold and gold in frame:
        g = frame[gold].astype(str)
        k = int((w == g).sum())
        rows["accuracy"] = {"value": k / len(g), "n": len(g), "lo": wilson(k, len(g))[0], "hi": wilson(k, len(g))[1],
                            "p_value": np.nan}
        if winner_swapped and winner_swapped in frame:
            ws = frame[winner_swapped].astype(str)
            k2 = int((ws == g).sum())
            kb = int(((w == g) & (ws == g)).sum())
            rows["accuracy_swapped"] = {"value": k2 / len(g), "n": len(g), "lo": wilson(k2, len(g))[0],
                                        "hi": wilson(k2, len(g))[1], "p_value": np.nan}
            rows["accuracy_both_orders"] = {"value": kb / len(g), "n": len(g), "lo": wilson(kb, len(g))[0],
                                            "hi": wilson(kb, len(g))[1], "p_value": np.nan}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "check"
    return out
