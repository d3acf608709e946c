"""The table engine behind :func:`llmops_nb.explore`: filter, search, sort and page a large frame
in Python so that only the visible page travels to the browser.

Sort orders are computed once per column (a stable argsort, cached); a filter is a boolean mask
(cached per filter); a page is ``order[mask[order]][offset:offset + size]``, O(rows) numpy work
with no re-sort. Metadata keys become ``metadata.<key>`` columns and evaluator results
``result.<evaluator>`` columns, so any of them can be filtered and sorted on.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TableEngine", "OPS", "flatten_metadata", "result_columns"]

OPS = ("=", "!=", ">", ">=", "<", "<=", "contains", "not contains", "is null", "not null")
_SEARCH_COLUMNS = ("trace_id", "name", "input_text", "output_text")
_HIDDEN = ("metadata",)


def _as_dict(v: Any) -> dict[str, Any] | None:
    if isinstance(v, Mapping):
        return dict(v)
    if isinstance(v, str) and v[:1] == "{":
        try:
            d = json.loads(v)
        except ValueError:
            return None
        return d if isinstance(d, dict) else None
    return None


def flatten_metadata(frame: pd.DataFrame, *, column: str = "metadata", sample: int = 20000,
                     max_keys: int = 50) -> pd.DataFrame:
    """``metadata.<key>`` columns for the keys seen in (a sample of) ``frame[column]``; values
    that are dicts or lists become JSON text so every column can be sorted and filtered."""
    if column not in frame.columns or len(frame) == 0:
        return pd.DataFrame(index=frame.index)
    dicts = [_as_dict(v) for v in frame[column].tolist()]
    seen: dict[str, int] = {}
    step = max(1, len(dicts) // sample)
    for d in dicts[::step]:
        if d:
            for k in d:
                seen[k] = seen.get(k, 0) + 1
    keys = sorted(seen, key=lambda k: (-seen[k], k))[:max_keys]
    out: dict[str, Any] = {}
    for k in keys:
        vals = [d.get(k) if d else None for d in dicts]
        if any(isinstance(v, (dict, list, tuple)) for v in vals[::step]):
            vals = [json.dumps(v, default=str) if isinstance(v, (dict, list, tuple)) else v for v in vals]
        s = pd.Series(vals, index=frame.index, dtype=object)
        num = pd.to_numeric(s, errors="coerce")
        if num.notna().sum() == s.notna().sum() and s.notna().any() and not s.dropna().map(type).eq(bool).all():
            s = num
        out[f"{column}.{k}"] = s
    return pd.DataFrame(out, index=frame.index)


def result_columns(results: pd.DataFrame | None, trace_ids: pd.Series) -> pd.DataFrame:
    """One ``result.<evaluator>`` column per evaluator, aligned with ``trace_ids``: the mean of
    ``passed`` (1/0) where the evaluator defines it, else of ``score``, else its first ``label``;
    trace-level rows win over span-level ones; failed evaluations (``error``) are left out."""
    idx = trace_ids.index
    if results is None or len(results) == 0 or "evaluator" not in results.columns or "trace_id" not in results.columns:
        return pd.DataFrame(index=idx)
    r = results
    if "error" in r.columns:
        r = r[r["error"].isna()]
    if "span_id" in r.columns:
        lvl = r["span_id"].isna()
        has_trace_level = lvl.groupby(r["evaluator"]).transform("any")
        r = r[lvl | ~has_trace_level]
    passed = r["passed"].astype("Float64").astype(float) if "passed" in r.columns else pd.Series(np.nan, index=r.index)
    score = pd.to_numeric(r["score"], errors="coerce") if "score" in r.columns else pd.Series(np.nan, index=r.index)
    num = passed.where(passed.notna(), score)
    out: dict[str, Any] = {}
    for ev, g in r.assign(_v=num).groupby("evaluator", sort=True):
        col = f"result.{ev}"
        if g["_v"].notna().any():
            m = g.groupby("trace_id")["_v"].mean()
            out[col] = trace_ids.map(m).astype(float)
        elif "label" in g.columns:
            m = g.dropna(subset=["label"]).groupby("trace_id")["label"].first()
            out[col] = trace_ids.map(m)
    return pd.DataFrame(out, index=idx)


def _kind(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "bool"
    if pd.api.types.is_numeric_dtype(s):
        return "num"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "time"
    return "str"


def _cell(v: Any, width: int = 160) -> Any:
    """A page cell: JSON-safe and short."""
    if v is None:
        return None
    if isinstance(v, float):
        return None if math.isnan(v) else float(f"{v:.6g}")
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, np.floating):
        return None if np.isnan(v) else float(f"{float(v):.6g}")
    if isinstance(v, pd.Timestamp):
        return None if pd.isna(v) else v.isoformat(sep=" ", timespec="seconds")
    if isinstance(v, (list, tuple, np.ndarray)):
        v = ", ".join(str(x) for x in list(v)[:20])
    elif isinstance(v, dict):
        v = json.dumps(v, default=str)
    elif v is pd.NaT or v is pd.NA:
        return None
    s = str(v)
    return s if len(s) <= width else s[: width - 1] + "…"


@dataclass
class Query:
    """What the view asks for: filters, free-text search, sort column and direction, the page."""

    filters: list[dict[str, Any]] = field(default_factory=list)
    search: str = ""
    sort: str | None = None
    desc: bool = False
    offset: int = 0
    size: int = 50

    @classmethod
    def of(cls, d: Mapping[str, Any] | None) -> Query:
        d = dict(d or {})
        return cls(filters=[dict(f) for f in d.get("filters") or []], search=str(d.get("search") or ""),
                   sort=d.get("sort") or None, desc=bool(d.get("desc")), offset=max(0, int(d.get("offset") or 0)),
                   size=min(500, max(1, int(d.get("size") or 50))))


class TableEngine:
    """Filter, search, sort and page ``frame`` without copying it (see the module doc).

    Example:
        >>> import pandas as pd
        >>> t = TableEngine(pd.DataFrame({"trace_id": list("abc"), "latency_ms": [3.0, 1.0, 2.0]}))
        >>> p = t.page({"sort": "latency_ms", "filters": [{"column": "latency_ms", "op": ">", "value": 1}]})
        >>> [r["trace_id"] for r in p["rows"]], p["matching"]
        (['c', 'a'], 2)
    """

    def __init__(self, frame: pd.DataFrame, *, key: str = "trace_id",
                 search_columns: Sequence[str] | None = None) -> None:
        if key not in frame.columns:
            raise ValueError(f"the table has no {key!r} column; columns: {list(frame.columns)[:20]}")
        self.frame = frame.reset_index(drop=True)
        self.key = key
        self.columns = [c for c in self.frame.columns if c not in _HIDDEN]
        self.kinds = {c: _kind(self.frame[c]) for c in self.columns}
        cols = search_columns if search_columns is not None else [c for c in _SEARCH_COLUMNS if c in self.frame.columns]
        self.search_columns = list(cols)
        self._orders: dict[str, np.ndarray] = {}
        self._nulls: dict[str, int] = {}
        self._masks: dict[str, np.ndarray] = {}
        self._texts: dict[str, Any] = {}
        self._keys: np.ndarray = self.frame[key].astype(str).to_numpy(dtype=object)
        self._pos: dict[str, int] | None = None
        self.last_ms: float = 0.0

    # ---- building blocks
    def order(self, column: str | None, desc: bool = False) -> np.ndarray:
        """Row positions sorted by ``column`` (nulls last either way), computed once per column."""
        n = len(self.frame)
        if column is None:
            return np.arange(n)
        self._check(column)
        if column not in self._orders:
            s = self.frame[column]
            if self.kinds[column] == "str":
                s = s.map(lambda v: v if v is None or isinstance(v, str) else _cell(v, 10**6))
            try:  # the frame has a RangeIndex: the sorted index is the order of positions
                o = s.sort_values(kind="stable", na_position="last").index.to_numpy()
            except TypeError:
                o = s.astype(str).sort_values(kind="stable").index.to_numpy()
            self._orders[column] = o
            self._nulls[column] = int(s.isna().sum())
        o = self._orders[column]
        if not desc:
            return o
        k = self._nulls[column]
        valid, nulls = o[: n - k], o[n - k:]
        return np.concatenate([valid[::-1], nulls])

    def _check(self, column: str) -> None:
        if column not in self.kinds:
            raise KeyError(f"no column {column!r} in the table; columns: {self.columns}")

    def mask(self, filters: Iterable[Mapping[str, Any]], search: str = "") -> np.ndarray | None:
        """The rows matching every filter and the search (None: all rows)."""
        out: np.ndarray | None = None
        for f in filters:
            m = self._filter_mask(f)
            out = m if out is None else out & m
        if search.strip():
            m = self._search_mask(search)
            out = m if out is None else out & m
        return out

    def _filter_mask(self, f: Mapping[str, Any]) -> np.ndarray:
        col, op, val = f.get("column"), f.get("op", "="), f.get("value")
        if not isinstance(col, str):
            raise ValueError(f"a filter needs a column: {dict(f)}")
        self._check(col)
        if op not in OPS:
            raise ValueError(f"unknown filter op {op!r} for {col!r}; valid: {list(OPS)}")
        ck = json.dumps([col, op, val], default=str)
        if ck in self._masks:
            return self._masks[ck]
        s = self.frame[col]
        kind = self.kinds[col]
        if op == "is null":
            m = s.isna().to_numpy()
        elif op == "not null":
            m = s.notna().to_numpy()
        elif op in ("contains", "not contains"):
            m = self._contains(col, str(val)) & s.notna().to_numpy()
            if op == "not contains":
                m = ~m
        else:
            v = self._coerce(col, kind, val)
            if kind == "str" and op in ("=", "!="):
                base = s.to_numpy(dtype=object) == v
                if not isinstance(v, str):  # lists shown as text: compare the text
                    base = s.astype(str).to_numpy() == str(v)
            else:
                arr = s if kind != "str" else s.astype(str)
                cmp = {"=": arr.__eq__, "!=": arr.__ne__, ">": arr.__gt__, ">=": arr.__ge__, "<": arr.__lt__,
                       "<=": arr.__le__}[op]
                res = cmp(v)
                base = np.asarray(res.fillna(False) if hasattr(res, "fillna") else res, dtype=bool)
            m = np.array(base, dtype=bool)
            if op != "!=":
                m &= s.notna().to_numpy()
        self._masks[ck] = m
        if len(self._masks) > 64:
            self._masks.pop(next(iter(self._masks)))
        return m

    @staticmethod
    def _coerce(col: str, kind: str, val: Any) -> Any:
        if kind == "num":
            try:
                return float(val)
            except (TypeError, ValueError):
                raise ValueError(f"filter on {col!r} (a number column) needs a number, not {val!r}") from None
        if kind == "bool":
            if isinstance(val, str):
                low = val.strip().lower()
                if low in ("true", "1", "yes", "pass"):
                    return True
                if low in ("false", "0", "no", "fail"):
                    return False
                raise ValueError(f"filter on {col!r} (true/false) needs true or false, not {val!r}")
            return bool(val)
        if kind == "time":
            return pd.Timestamp(val, tz="UTC") if pd.Timestamp(val).tzinfo is None else pd.Timestamp(val)
        return val

    def _text(self, column: str) -> Any:
        """The column lower-cased as an Arrow string array (built once): substring search then
        runs in Arrow's C++ (a plain memmem, no case-folding per request)."""
        if column not in self._texts:
            import pyarrow as pa
            import pyarrow.compute as pc

            s = self.frame[column]
            arr = None
            if self.kinds.get(column) == "str":
                try:
                    arr = pa.array(s, from_pandas=True)
                except (pa.ArrowInvalid, pa.ArrowTypeError):
                    arr = None
                if arr is not None and not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
                    arr = None
            if arr is None:
                vals = [None if v is None or (isinstance(v, float) and math.isnan(v)) else _cell(v, 10**6) for v in s.tolist()]
                arr = pa.array(vals, type=pa.string())
            self._texts[column] = pc.utf8_lower(arr)
        return self._texts[column]

    def _blob(self) -> Any:
        """The search columns joined (lower-cased), built once."""
        if "\x00blob" not in self._texts:
            import pyarrow as pa
            import pyarrow.compute as pc

            cols = [pc.fill_null(self._text(c), "") for c in self.search_columns]
            if not cols:
                self._texts["\x00blob"] = pa.array([""] * len(self.frame), type=pa.string())
            elif len(cols) == 1:
                self._texts["\x00blob"] = cols[0]
            else:
                self._texts["\x00blob"] = pc.binary_join_element_wise(*[c.cast(pa.large_string()) for c in cols], pa.scalar("\x1f", pa.large_string()))
        return self._texts["\x00blob"]

    def _match(self, key: str, word: str) -> np.ndarray:
        """Rows whose lower-cased text (a column, or the search blob) contains ``word``: Python's
        substring test over a list of str built once (faster here than Arrow's match_substring)."""
        lk = "\x00list\x00" + key
        if lk not in self._texts:
            arr = self._blob() if key == "\x00blob" else self._text(key)
            self._texts[lk] = [v if v is not None else "" for v in arr.to_pylist()]
        vals = self._texts[lk]
        w = word.lower()
        return np.fromiter((w in v for v in vals), dtype=bool, count=len(vals))

    def _contains(self, column: str, word: str) -> np.ndarray:
        return self._match(column, word)

    def _search_mask(self, text: str) -> np.ndarray:
        ck = "\x00search\x00" + text
        if ck in self._masks:
            return self._masks[ck]
        m = np.ones(len(self.frame), dtype=bool)
        for word in text.lower().split():  # one mask per word, kept: typing on reuses the words before
            wk = "\x00word\x00" + word
            if wk not in self._masks:
                self._masks[wk] = self._match("\x00blob", word)
            m &= self._masks[wk]
        self._masks[ck] = m
        return m

    def positions(self, query: Mapping[str, Any] | Query | None = None) -> np.ndarray:
        """All matching row positions, in the query's sort order."""
        q = query if isinstance(query, Query) else Query.of(query)
        o = self.order(q.sort, q.desc)
        m = self.mask(q.filters, q.search)
        return o if m is None else o[m[o]]

    def page(self, query: Mapping[str, Any] | Query | None = None) -> dict[str, Any]:
        """The page the query asks for: ``rows`` (JSON-safe cells, the visible columns only),
        ``matching`` (rows matching), ``total``, ``offset``, ``ms`` (server time)."""
        t0 = time.perf_counter()
        q = query if isinstance(query, Query) else Query.of(query)
        pos = self.positions(q)
        off = min(q.offset, max(0, (len(pos) - 1) // q.size * q.size)) if len(pos) else 0
        sel = pos[off: off + q.size]
        sub = self.frame.iloc[sel]
        cols = self.columns
        data = {c: sub[c].tolist() for c in cols}
        rows = [{c: _cell(data[c][i]) for c in cols} for i in range(len(sel))]
        self.last_ms = (time.perf_counter() - t0) * 1000
        return {"rows": rows, "matching": int(len(pos)), "total": int(len(self.frame)), "offset": int(off),
                "size": q.size, "ms": round(self.last_ms, 2)}

    def rows_of(self, keys: Iterable[Any]) -> pd.DataFrame:
        """The rows whose key is in ``keys``, in that order (unknown keys are ignored)."""
        if self._pos is None:
            self._pos = {k: i for i, k in enumerate(self._keys.tolist())}
        p = [self._pos[str(k)] for k in keys if str(k) in self._pos]
        return self.frame.iloc[p]

    def catalog(self) -> list[dict[str, str]]:
        """The columns the view may show, filter and sort on, with their kind."""
        return [{"name": c, "kind": self.kinds[c]} for c in self.columns]
