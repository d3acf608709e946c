"""Curation steps: each takes a frame and returns a new one (one row per example or item)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb._compat import deprecated_alias
from llmops_nb.hashing import uniform
from llmops_nb.schema import none_if_missing

__all__ = ["select", "stratified_sample", "assign_splits", "stable_hash"]


def _stable_hash(values: Sequence[Any], salt: str = "") -> np.ndarray:
    """A uniform number in [0, 1) per value: :func:`llmops_nb.hashing.uniform` with the
    ``"sha256"`` algorithm (what stored splits and samples were drawn with).

    Example:
        >>> float(_stable_hash(["a"])[0]) == float(uniform(["a"], algorithm="sha256")[0])
        True
    """
    return uniform(values, salt=salt, algorithm="sha256")


stable_hash = deprecated_alias(_stable_hash, "llmops_nb.datasets.stable_hash",
                               'llmops_nb.hashing.uniform(values, salt=salt, algorithm="sha256")')


def _lookup(frame: pd.DataFrame, key: str) -> pd.Series:
    """A column, or a key inside the ``metadata`` JSON column (``metadata.key`` or bare ``key``)."""
    if key in frame.columns:
        return frame[key]
    sub = key[len("metadata."):] if key.startswith("metadata.") else key
    if "metadata" in frame.columns:
        return frame["metadata"].map(lambda m: m.get(sub) if isinstance(m, dict) else None)
    raise KeyError(
        f"{key!r} is neither a column nor a metadata key; columns are {list(frame.columns)}"
    )


def _norm_verdict(v: Any) -> str | None:
    """pass/fail view of a bool, a pass/fail label, or a 0/1 score."""
    v = none_if_missing(v)
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return "pass" if v else "fail"
    if isinstance(v, dict):
        if v.get("passed") is not None:
            return _norm_verdict(bool(v["passed"]))
        return _norm_verdict(v.get("label") if v.get("label") is not None else v.get("score"))
    if isinstance(v, (int, float)):
        return "pass" if float(v) >= 0.5 else "fail"
    s = str(v).strip().lower()
    if s in ("pass", "passed", "true", "yes", "good", "correct", "1"):
        return "pass"
    if s in ("fail", "failed", "false", "no", "bad", "incorrect", "0"):
        return "fail"
    return s


def _label_value(row_labels: Any, question: str) -> Any:
    return row_labels.get(question) if isinstance(row_labels, dict) else None


def select(
    frame: pd.DataFrame,
    *,
    failure_mode: str | Sequence[str] | None = None,
    slice: Mapping[str, Any] | None = None,
    cluster: Any | Sequence[Any] | None = None,
    label: Mapping[str, Any] | None = None,
    disagreement: tuple[str, str] | None = None,
    where: str | Callable[[pd.DataFrame], pd.Series] | None = None,
) -> pd.DataFrame:
    """Keep the rows that match every given condition (one row per example or item in, same out).

    - ``failure_mode``: one mode or a list (any matches): found in a ``failure_modes`` list
      column, a ``failure_mode`` column, or a boolean column named after the mode.
    - ``slice``: ``{column_or_metadata_key: value or [values]}``, e.g. ``{"category": "billing"}``.
    - ``cluster``: cluster id(s) in a ``cluster`` (or ``cluster_id``) column.
    - ``label``: ``{question: value or [values]}`` matched against the ``labels`` column (from
      :func:`to_examples`) or a column named after the question.
    - ``disagreement``: ``(evaluator, question)``: rows where the judge's pass/fail (from the
      ``results`` column or a column named after the evaluator) differs from the human label.
    - ``where``: a pandas query string or a function of the frame returning a boolean mask.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"example_id": ["a", "b"], "failure_modes": [["pii_echo"], []],
        ...                    "metadata": [{"category": "billing"}, {"category": "travel"}]})
        >>> select(df, failure_mode="pii_echo")["example_id"].tolist()
        ['a']
        >>> select(df, slice={"category": "travel"})["example_id"].tolist()
        ['b']
    """
    mask = pd.Series(True, index=frame.index)
    if failure_mode is not None:
        modes = [failure_mode] if isinstance(failure_mode, str) else list(failure_mode)
        m = pd.Series(False, index=frame.index)
        found = False
        if "failure_modes" in frame.columns:
            found = True
            m |= frame["failure_modes"].map(
                lambda v: v is not None and not isinstance(v, float) and any(x in modes for x in list(v))
            ).astype(bool)
        if "failure_mode" in frame.columns:
            found = True
            m |= frame["failure_mode"].isin(modes).astype(bool)
        for mode in modes:
            if mode in frame.columns:
                found = True
                m |= frame[mode].fillna(False).astype(bool)
        if not found:
            raise KeyError(
                f"cannot find failure modes {modes}: the frame has no 'failure_modes' or 'failure_mode' "
                f"column nor a boolean column per mode; columns are {list(frame.columns)}"
            )
        mask &= m
    if slice:
        for key, want in slice.items():
            col = _lookup(frame, key)
            wants = list(want) if isinstance(want, (list, tuple, set)) else [want]
            mask &= col.isin(wants).fillna(False).astype(bool)
    if cluster is not None:
        ccol = next((c for c in ("cluster", "cluster_id") if c in frame.columns), None)
        if ccol is None:
            raise KeyError(f"select(cluster=...) needs a 'cluster' or 'cluster_id' column; columns are {list(frame.columns)}")
        wants = list(cluster) if isinstance(cluster, (list, tuple, set)) else [cluster]
        mask &= frame[ccol].isin(wants).fillna(False).astype(bool)
    if label:
        for question, want in label.items():
            wants = list(want) if isinstance(want, (list, tuple, set)) else [want]
            if question in frame.columns and question not in ("labels",):
                vals = frame[question]
            elif "labels" in frame.columns:
                vals = frame["labels"].map(lambda d, q=question: _label_value(d, q))
            else:
                raise KeyError(f"no label {question!r}: the frame has no 'labels' column nor a {question!r} column")
            mask &= vals.map(lambda v, w=wants: v is not None and (v in w or _norm_verdict(v) in [_norm_verdict(x) for x in w])).astype(bool)
    if disagreement is not None:
        evaluator, question = disagreement
        if evaluator in frame.columns:
            judge = frame[evaluator].map(_norm_verdict)
        elif "results" in frame.columns:
            judge = frame["results"].map(lambda d: _norm_verdict(d.get(evaluator)) if isinstance(d, dict) else None)
        else:
            raise KeyError(f"no judge {evaluator!r}: the frame has no 'results' column nor a {evaluator!r} column")
        if question in frame.columns:
            human = frame[question].map(_norm_verdict)
        elif "labels" in frame.columns:
            human = frame["labels"].map(lambda d: _norm_verdict(_label_value(d, question)))
        else:
            raise KeyError(f"no label {question!r}: the frame has no 'labels' column nor a {question!r} column")
        mask &= (judge.notna() & human.notna() & (judge != human)).astype(bool)
    if where is not None:
        if callable(where):
            mask &= pd.Series(where(frame), index=frame.index).fillna(False).astype(bool)
        else:
            mask &= frame.eval(where).fillna(False).astype(bool)
    return frame.loc[mask].copy()


def _stratum_key(frame: pd.DataFrame, by: str | Sequence[str]) -> pd.Series:
    keys = [by] if isinstance(by, str) else list(by)
    cols = [_lookup(frame, k).map(lambda v: None if none_if_missing(v) is None else v) for k in keys]
    if len(cols) == 1:
        return cols[0]
    return pd.Series(list(zip(*cols)), index=frame.index)


def stratified_sample(
    frame: pd.DataFrame,
    by: str | Sequence[str],
    n: int | Mapping[Any, int],
    *,
    seed: int = 0,
    key: str | None = "example_id",
) -> pd.DataFrame:
    """Up to ``n`` rows per stratum (or ``n[stratum]`` for a dict), deterministic for a seed.

    ``by`` is a column, a metadata key, or a list of them (strata are then tuples). Rows are
    ranked by a hash of (seed, ``key``) when the ``key`` column exists, so adding rows to the
    frame changes a sample only where a new row ranks in; otherwise a seeded shuffle is used.
    Strata smaller than their target are kept whole. The output keeps the input order.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"example_id": list("abcdef"), "cat": list("xxxxyy")})
        >>> stratified_sample(df, "cat", 1, seed=0)["cat"].tolist()
        ['x', 'y']
    """
    strata = _stratum_key(frame, by)
    if key is not None and key in frame.columns:
        rank = pd.Series(uniform(frame[key].tolist(), salt=f"sample:{seed}:", algorithm="sha256"), index=frame.index)
    else:
        rng = np.random.default_rng(seed)
        rank = pd.Series(rng.random(len(frame)), index=frame.index)
    keep: list[Any] = []
    order = rank.sort_values(kind="stable").index
    s_sorted = strata.loc[order]
    counts: dict[Any, int] = {}
    for idx, s in zip(order, s_sorted.tolist()):
        target = n.get(s, 0) if isinstance(n, Mapping) else int(n)
        c = counts.get(s, 0)
        if c < target:
            keep.append(idx)
            counts[s] = c + 1
    if isinstance(n, Mapping):
        unknown = [k for k in n if k not in set(strata.tolist())]
        if unknown:
            raise KeyError(f"strata {unknown} are not in the frame; strata are {sorted(set(map(str, strata.dropna().tolist())))}")
    return frame.loc[frame.index.isin(keep)].copy()


def assign_splits(
    frame: pd.DataFrame,
    fractions: Mapping[str, float] | None = None,
    *,
    key: str = "example_id",
    salt: str = "llmops_nb.splits",
    column: str = "split",
) -> pd.DataFrame:
    """Add a ``split`` column: each row's split is a function of its key alone (a SHA-256 hash).

    So a row never moves between splits when rows are added or removed across versions (as long
    as ``fractions`` and ``salt`` stay the same). Fractions must be positive and sum to 1.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"example_id": [f"e{i}" for i in range(1000)]})
        >>> s = assign_splits(df, {"train": .7, "dev": .15, "test": .15})
        >>> sorted(s["split"].unique().tolist())
        ['dev', 'test', 'train']
        >>> assign_splits(df.iloc[:10])["split"].tolist() == s["split"].iloc[:10].tolist()
        True
    """
    fractions = dict(fractions or {"train": 0.7, "dev": 0.15, "test": 0.15})
    if not fractions or any(v <= 0 for v in fractions.values()):
        raise ValueError(f"split fractions must be positive, got {fractions}")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {total:g} from {fractions}; e.g. {{'train': .7, 'dev': .15, 'test': .15}}")
    if key not in frame.columns:
        raise KeyError(f"assign_splits(key={key!r}): no such column; columns are {list(frame.columns)}. Build examples with to_examples() first")
    u = uniform(frame[key].tolist(), salt=salt + ":", algorithm="sha256")
    names = list(fractions)
    edges = np.cumsum([fractions[k] for k in names])
    edges[-1] = 1.0 + 1e-12
    idx = np.searchsorted(edges, u, side="right")
    out = frame.copy()
    out[column] = pd.Series([names[i] for i in idx], index=frame.index, dtype=object)
    return out
