"""Slice dimensions: turn a frame's columns into one-hot indicator matrices.

Each dimension (a column, a metadata key, a derived feature) becomes a sparse 0/1 matrix of
rows x levels; list-valued columns (``models``, ``tools``) may set several levels per row.
Numeric columns are cut at quantiles so that the tails get their own bucket.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Dimension", "build_dimensions", "DEFAULT_QUANTILES", "auto_columns", "dimension_mask", "slice_masks"]

DEFAULT_QUANTILES: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9)
"""Cut points of numeric buckets: quartiles plus the top 10% tail."""

MISSING = "(missing)"

# frame columns that are identifiers, texts or structures, never slice dimensions
_NEVER = {
    "trace_id", "span_id", "parent_span_id", "root_span_id", "result_id", "label_id", "item_id",
    "start_time", "end_time", "created_at", "input_messages", "output_messages", "documents",
    "tool_arguments", "tool_result", "input_text", "output_text", "attributes", "metadata",
    "tags", "models", "tools", "error_message", "session_id", "params", "value", "explanation",
    "previous_value", "trace_ids", "user_inputs", "assistant_outputs", "tool_calls",
}
# what is known about a request before the application answers it (possible causes)
_CONTEXT_CATEGORICAL = ["name", "kind", "provider", "source_format", "user_id"]
_CONTEXT_NUMERIC: list[str] = []
_CONTEXT_TEXT = {"input_length": "input_text"}
# what the application did (consequences of a failure as much as causes)
_SYMPTOM_CATEGORICAL = ["status", "has_error"]
_SYMPTOM_NUMERIC = [
    "prompt_tokens", "latency_ms", "total_tokens", "completion_tokens", "cost_usd", "n_spans", "n_llm", "n_tool",
    "n_retriever", "n_errors", "n_tool_errors", "retrieval_score", "n_turns", "duration_ms",
]
_SYMPTOM_TEXT = {"output_length": "output_text"}
_DERIVED_TEXT = {**_CONTEXT_TEXT, **_SYMPTOM_TEXT}
PRESETS = ("context", "all")


@dataclass
class Dimension:
    """One slice dimension: its name, level labels, and which rows hold each level: ``codes``,
    the level of each row (an int array, -1 for none) for a one-value-per-row dimension, or the
    rows x levels 0/1 CSR matrix for a list dimension (a row may hold several); ``matrix`` is
    the rows x levels indicator matrix either way (built on first use)."""

    name: str
    labels: list[str]
    codes: Any
    numeric: bool = False
    bounds: list[tuple[float, float]] = field(default_factory=list)

    @property
    def single(self) -> bool:
        """One level (or none) per row: ``codes`` is an array of level numbers."""
        return isinstance(self.codes, np.ndarray)

    @property
    def matrix(self) -> Any:
        """The rows x levels 0/1 indicator matrix (scipy.sparse CSR)."""
        if not self.single:
            return self.codes
        m = self.__dict__.get("_matrix")
        if m is None:
            m = self.__dict__["_matrix"] = _one_hot(self.codes, len(self.labels))
        return m


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "nan"
    if float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}".replace(",", "")
    ax = abs(x)
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 1:
        return f"{x:.3g}"
    return f"{x:.3g}"


def _meta_frame(frame: pd.DataFrame) -> pd.DataFrame:
    if "metadata" not in frame.columns:
        return pd.DataFrame(index=frame.index)
    recs = [m if isinstance(m, dict) else {} for m in frame["metadata"].tolist()]
    meta = pd.DataFrame.from_records(recs, index=frame.index)
    keep = []
    for c in meta.columns:
        s = meta[c]
        sample = s.dropna().head(200)
        if len(sample) and not sample.map(lambda v: isinstance(v, (dict, list, tuple, set))).any():
            keep.append(c)
    return meta[keep]


def _one_hot(codes: np.ndarray, n_levels: int) -> Any:
    from scipy import sparse

    rows = np.flatnonzero(codes >= 0)
    return sparse.csr_matrix(
        (np.ones(rows.size, dtype=np.float64), (rows, codes[rows])), shape=(codes.size, n_levels)
    )


def _categorical(name: str, values: pd.Series, max_levels: int) -> Dimension | str:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)

    def label(u: Any) -> str:
        if isinstance(u, float) and u.is_integer():
            return str(int(u))
        return str(u)

    labels = [label(u) for u in uniques]
    if len(set(labels)) < len(labels):  # e.g. 1 and "1": merge levels that print the same
        labels_arr = np.array(labels, dtype=object)
        codes2, labels_u = pd.factorize(labels_arr[codes[codes >= 0]])
        new = np.full(codes.shape, -1, dtype=np.int64)
        new[codes >= 0] = codes2
        codes, labels = new, [str(x) for x in labels_u]
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any() and (codes >= 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels.append(MISSING)
    if len(labels) > max_levels:
        return f"{len(labels)} distinct values > max_levels={max_levels}"
    if len(labels) < 2:
        return "a single value"
    return Dimension(name, labels, codes)


def _listed(name: str, values: pd.Series, max_levels: int) -> Dimension | str:
    from scipy import sparse

    lists = [list(dict.fromkeys(v)) if isinstance(v, (list, tuple, np.ndarray)) else ([] if v is None or v != v else [v]) for v in values.tolist()]
    lens = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))
    flat = list(itertools.chain.from_iterable(lists))
    codes, uniques = pd.factorize(pd.Series(flat, dtype=object).map(str))
    labels = [str(u) for u in uniques]
    rows = np.repeat(np.arange(len(lists)), lens)
    empty = np.flatnonzero(lens == 0)
    if empty.size and empty.size < len(lists):
        labels.append("(none)")
        rows = np.concatenate([rows, empty])
        codes = np.concatenate([codes, np.full(empty.size, len(labels) - 1)])
    if len(labels) > max_levels:
        return f"{len(labels)} distinct values > max_levels={max_levels}"
    if len(labels) < 2 and not (len(labels) == 1 and (lens == 0).any()):
        return "a single value"
    m = sparse.csr_matrix((np.ones(rows.size), (rows, codes)), shape=(len(lists), len(labels)))
    m.data[:] = 1.0
    m.sum_duplicates()
    m.data = np.minimum(m.data, 1.0)
    return Dimension(name, labels, m)


def _numeric(name: str, values: pd.Series, quantiles: Sequence[float], max_levels: int) -> Dimension | str:
    x = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
    ok = ~np.isnan(x)
    if not ok.any():
        return "no values"
    distinct = np.unique(x[ok])
    if distinct.size <= 8:
        return _categorical(name, pd.Series(np.where(ok, x, np.nan)).map(lambda v: None if v != v else _fmt(v)), max_levels)
    qs = np.quantile(x[ok], list(quantiles))
    edges = np.unique(np.concatenate([[distinct[0]], qs, [distinct[-1]]]))
    inner = edges[1:-1]
    codes = np.searchsorted(inner, x, side="right").astype(np.int64)
    codes[~ok] = -1
    labels, bounds = [], []
    for i in range(len(edges) - 1):
        lo, hi = edges[i], edges[i + 1]
        last = i == len(edges) - 2
        labels.append(f"[{_fmt(lo)}, {_fmt(hi)}{']' if last else ')'}")
        bounds.append((float(lo), float(hi)))
    present = np.unique(codes[codes >= 0])
    if present.size < 2:
        return "a single bucket"
    if (~ok).any():
        codes = np.where(ok, codes, len(labels))
        labels.append(MISSING)
        bounds.append((float("nan"), float("nan")))
    return Dimension(name, labels, codes, numeric=True, bounds=bounds)


def auto_columns(frame: pd.DataFrame, preset: str = "context") -> list[str]:
    """The dimensions of a preset. ``"context"`` (the default of :func:`find_slices`): what
    is known about a request before the application answers it: every metadata key,
    ``model``, input length, name, provider, source, user. ``"all"`` adds what the
    application did, which is as much a consequence of a failure as a cause: the tools it
    called, output length, latency, prompt/completion/total tokens (summed over the calls it
    chose to make), cost, span/llm/tool/error counts, status, has_error, retrieval score.

    Example:
        >>> auto_columns(pd.DataFrame({"metadata": [{"tenant": "a"}], "input_text": ["x"], "latency_ms": [1.0]}))
        ['tenant', 'input_length']
    """
    if preset not in PRESETS:
        raise ValueError(f"columns preset {preset!r} is not valid; valid: {list(PRESETS)} or a list of columns")
    cols: list[str] = []
    if "metadata" in frame.columns:
        keys: dict[str, None] = {}
        for m in frame["metadata"].head(5000):
            if isinstance(m, dict):
                keys.update(dict.fromkeys(m))
        cols += [k if k not in frame.columns else f"metadata.{k}" for k in keys]
    if "models" in frame.columns or "model" in frame.columns:
        cols.append("model")
    if preset == "all" and ("tools" in frame.columns or "tool_name" in frame.columns):
        cols.append("tool")
    cols += [c for c in _CONTEXT_CATEGORICAL if c in frame.columns]
    cols += [d for d, src in _CONTEXT_TEXT.items() if src in frame.columns]
    cols += [c for c in _CONTEXT_NUMERIC if c in frame.columns]
    if preset == "all":
        cols += [c for c in _SYMPTOM_CATEGORICAL if c in frame.columns]
        cols += [d for d, src in _SYMPTOM_TEXT.items() if src in frame.columns]
        cols += [c for c in _SYMPTOM_NUMERIC if c in frame.columns]
    return list(dict.fromkeys(cols))


def _source(frame: pd.DataFrame, name: str, meta: pd.DataFrame) -> tuple[str, pd.Series]:
    """(kind, values) for a dimension name: kind is 'list', 'numeric' or 'categorical'."""
    if name == "model" and "model" not in meta.columns:
        if "models" in frame.columns:
            return "list", frame["models"]
        if "model" in frame.columns:
            return "categorical", frame["model"]
    if name == "tool" and "tool" not in meta.columns:
        if "tools" in frame.columns:
            return "list", frame["tools"]
        if "tool_name" in frame.columns:
            return "categorical", frame["tool_name"]
    if name in _DERIVED_TEXT and name not in frame.columns:
        src = frame[_DERIVED_TEXT[name]]
        return "numeric", src.map(lambda v: len(v) if isinstance(v, str) else np.nan).astype(float)
    if name in frame.columns:
        s = frame[name]
    elif name.startswith("metadata.") and name[9:] in meta.columns:
        s = meta[name[9:]]
    elif name in meta.columns:
        s = meta[name]
    else:
        raise KeyError(
            f"slice column {name!r} is neither a column of the frame nor a metadata key; "
            f"columns: {[c for c in frame.columns]}, metadata keys: {list(meta.columns)}"
        )
    sample = s.dropna().head(200)
    if len(sample) and sample.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).all():
        return "list", s
    if s.dtype == bool or str(s.dtype) == "boolean":
        return "categorical", s
    if pd.api.types.is_numeric_dtype(s.dtype):
        return "numeric", s
    if (
        s.dtype == object
        and len(sample)
        and sample.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).all()
    ):
        return "numeric", pd.to_numeric(s, errors="coerce")
    return "categorical", s


def build_dimensions(
    frame: pd.DataFrame,
    columns: Sequence[str] | str | None = None,
    *,
    exclude: Sequence[str] = (),
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    max_levels: int = 50,
) -> tuple[list[Dimension], dict[str, str]]:
    """Dimensions for ``columns`` (or :func:`auto_columns`), and the skipped ones with the reason."""
    meta = _meta_frame(frame)
    explicit = columns is not None and not isinstance(columns, str)
    names = list(columns) if explicit else auto_columns(frame, columns or "context")  # type: ignore[arg-type]
    dims: list[Dimension] = []
    skipped: dict[str, str] = {}
    for name in names:
        if name in exclude:
            continue
        if not explicit and name in _NEVER:
            continue
        derived = name in ("model", "tool") or name in _DERIVED_TEXT or name in frame.columns
        key = name[9:] if name.startswith("metadata.") else None if derived else name
        if not explicit and key is not None and key not in meta.columns:
            skipped[name] = "a metadata key whose values are objects or lists, not categories"
            continue
        kind, values = _source(frame, name, meta)
        if kind == "list":
            d = _listed(name, values, max_levels)
        elif kind == "numeric":
            d = _numeric(name, values, quantiles, max_levels)
        else:
            d = _categorical(name, values, max_levels)
        if isinstance(d, str):
            skipped[name] = d
        else:
            dims.append(d)
    return dims, skipped


def dimension_mask(frame: pd.DataFrame, column: str, value: str, *, quantiles: Sequence[float] = DEFAULT_QUANTILES) -> np.ndarray:
    """Boolean mask of the rows of ``frame`` in the slice ``column == value`` (a level label as
    :func:`find_slices` shows it).

    Numeric buckets are recomputed from ``frame``; pass the frame the slices were found on.

    Example:
        >>> import pandas as pd
        >>> dimension_mask(pd.DataFrame({"model": ["a", "b", "a"]}), "model", "a").tolist()
        [True, False, True]
    """
    dims, skipped = build_dimensions(frame, [column], quantiles=quantiles, max_levels=10**9)
    if not dims:
        raise ValueError(f"column {column!r} cannot be sliced: {skipped.get(column)}")
    d = dims[0]
    if value not in d.labels:
        raise ValueError(f"{value!r} is not a level of {column!r}; levels: {d.labels}")
    j = d.labels.index(value)
    return np.asarray(d.matrix[:, j].toarray()).ravel() > 0


def slice_masks(frame: pd.DataFrame, slices: pd.DataFrame) -> np.ndarray:
    """Boolean matrix rows x slices: which rows of ``frame`` (the frame the slices were found
    on, at the same grain) fall in each slice of a :func:`find_slices` result.

    Example:
        >>> import llmops_nb as lo
        >>> df = pd.DataFrame({"metadata": [{"c": "a"}, {"c": "b"}] * 30, "failed": [True, False] * 30})
        >>> s = lo.find_slices(df, "failed", min_size=5)
        >>> slice_masks(df, s)[:2, 0].tolist()
        [True, False]
    """
    q = slices.attrs.get("quantiles", DEFAULT_QUANTILES)
    needed = list(dict.fromkeys([*slices["column"].dropna(), *slices["column_2"].dropna()]))
    dims, skipped = build_dimensions(frame, needed, quantiles=q, max_levels=10**9)
    by = {d.name: d for d in dims}
    cache: dict[tuple[str, str], np.ndarray] = {}

    def one(col: str, val: str) -> np.ndarray:
        key = (col, val)
        if key not in cache:
            d = by.get(col)
            if d is None or val not in d.labels:
                raise ValueError(f"slice {col} = {val} cannot be rebuilt on this frame ({skipped.get(col, 'unknown level')})")
            cache[key] = np.asarray(d.matrix[:, d.labels.index(val)].toarray()).ravel() > 0
        return cache[key]

    out = np.zeros((len(frame), len(slices)), dtype=bool)
    for i, (c1, v1, c2, v2) in enumerate(zip(slices["column"], slices["value"], slices["column_2"], slices["value_2"])):
        m = one(c1, v1)
        if isinstance(c2, str):
            m = m & one(c2, v2)
        out[:, i] = m
    return out
