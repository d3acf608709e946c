"""The table engine behind :func:`llmops_nb.explore`: filter, search, sort and page a large frame
in Python so that only the visible page travels to the browser.

Sort orders are computed once per column (a stable argsort, cached); a filter is a boolean mask
(cached per filter); a page is ``order[mask[order]][offset:offset + size]``, O(rows) numpy work
with no re-sort. Metadata keys become ``metadata.<key>`` columns and evaluator results
``result.<evaluator>`` columns, so any of them can be filtered and sorted on.

Nothing heavy happens before the first page: the traces frame is used as it is (no copy), the
derived columns are only named and typed (from a sample of the metadata, one factorize of the
evaluators), a page computes the derived values of its own rows, and every index (a sort order,
a filter mask, a whole derived column, the lower-cased search text, the key index) is built on
its first use and cached.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TableEngine", "OPS", "Derived", "MetadataColumns", "ResultColumns"]

OPS = ("=", "!=", ">", ">=", "<", "<=", "contains", "not contains", "is null", "not null")
_SEARCH_COLUMNS = ("trace_id", "name", "input_text", "output_text")
_HIDDEN = ("metadata",)


def _as_dict(v: Any) -> dict[str, Any] | None:
    if isinstance(v, dict):
        return v
    if isinstance(v, Mapping):
        return dict(v)
    if isinstance(v, str) and v[:1] == "{":
        try:
            d = json.loads(v)
        except ValueError:
            return None
        return d if isinstance(d, dict) else None
    return None


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _convert(values: list[Any], kind: str) -> Any:
    """Metadata values as one typed array: floats (NaN for the rest), nullable booleans, or text
    (dicts and lists as JSON)."""
    if kind == "num":
        try:  # C speed when every value is a number or None
            return np.array(values, dtype=float)
        except (TypeError, ValueError):
            return np.array([float(v) if _is_num(v) else np.nan for v in values], dtype=float)
    if kind == "bool":
        return pd.array([v if isinstance(v, (bool, np.bool_)) else None for v in values], dtype="boolean")
    if not all(v is None or type(v) is str for v in values):
        values = [v if v is None or isinstance(v, str) else json.dumps(v, default=str)
                  if isinstance(v, (dict, list, tuple)) else str(v) for v in values]
    return pd.array(values, dtype="str")


def _arrow_text(s: pd.Series) -> Any:
    """A column as an Arrow string array (zero-copy when it already is one)."""
    import pyarrow as pa

    try:
        arr = pa.array(s, type=pa.string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(s.astype("str"), type=pa.string(), from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


class Derived:
    """A column of the table that is not a column of the traces frame (``metadata.<key>``,
    ``result.<evaluator>``): its kind is known up front, its values are computed only for the
    rows of a page until a filter or sort needs the whole column (then built once, cached)."""

    kind: str = "str"

    def take(self, pos: np.ndarray) -> list[Any]:
        """The values at these row positions."""
        raise NotImplementedError

    def full(self) -> pd.Series:
        """The whole column (RangeIndex, aligned with the traces)."""
        raise NotImplementedError

    def warm(self) -> None:
        """Build ahead what every page of this column needs (nothing by default)."""


class MetadataColumns:
    """``metadata.<key>`` columns from a column of dicts (or JSON text): the keys and their kinds
    come from an evenly spaced sample of rows; a page parses only its own rows; a whole column is
    parsed on its first filter or sort (every row's dict parsed once and shared by all keys).

    Example:
        >>> m = MetadataColumns(pd.Series([{"tier": "pro", "turns": 2}, '{"tier": "free"}']))
        >>> m.kinds, m.column("tier").take(np.array([1]))
        ({'tier': 'str', 'turns': 'num'}, ['free'])
    """

    def __init__(self, series: pd.Series, *, sample: int = 5000, max_keys: int = 50,
                 prefix: str = "metadata") -> None:
        self.series = series.reset_index(drop=True)
        self.prefix = prefix
        n = len(self.series)
        step = max(1, n // sample)
        seen: dict[str, int] = {}
        vals: dict[str, list[Any]] = {}
        for v in self.series.iloc[::step].tolist():
            d = _as_dict(v)
            if d:
                for k, x in d.items():
                    seen[k] = seen.get(k, 0) + 1
                    if x is not None:
                        vals.setdefault(k, []).append(x)
        keys = sorted(seen, key=lambda k: (-seen[k], k))[:max_keys]
        self.kinds: dict[str, str] = {}
        for k in keys:
            xs = vals.get(k, [])
            if xs and all(isinstance(x, (bool, np.bool_)) for x in xs):
                self.kinds[k] = "bool"
            elif xs and all(_is_num(x) for x in xs):
                self.kinds[k] = "num"
            else:
                self.kinds[k] = "str"
        self._dicts: list[dict[str, Any] | None] | None = None

    def names(self) -> list[str]:
        return [f"{self.prefix}.{k}" for k in self.kinds]

    def dicts(self) -> list[dict[str, Any] | None]:
        """Every row's metadata as a dict (parsed once)."""
        if self._dicts is None:
            vals = self.series.tolist()
            if all(type(v) is dict or v is None for v in vals):
                self._dicts = vals
            else:
                self._dicts = [_as_dict(v) for v in vals]
        return self._dicts

    def column(self, key: str) -> _MetadataKey:
        return _MetadataKey(self, key)


class _MetadataKey(Derived):
    def __init__(self, parent: MetadataColumns, key: str) -> None:
        self.parent, self.key, self.kind = parent, key, parent.kinds[key]

    def take(self, pos: np.ndarray) -> list[Any]:
        if self.parent._dicts is not None:
            ds = [self.parent._dicts[i] for i in pos.tolist()]
        else:
            ds = [_as_dict(v) for v in self.parent.series.iloc[pos].tolist()]
        return list(_convert([d.get(self.key) if d else None for d in ds], self.kind))

    def full(self) -> pd.Series:
        k = self.key
        vals = [d.get(k) if d else None for d in self.parent.dicts()]
        return pd.Series(_convert(vals, self.kind), name=f"{self.parent.prefix}.{k}")


class ResultColumns:
    """``result.<evaluator>`` columns from a results table, aligned with the traces' ids: the
    mean of ``passed`` (1/0) where the evaluator defines it, else of ``score``, else its first
    ``label``; trace-level rows win over span-level ones; failed evaluations (``error``) are left
    out. Up front only the evaluator names and kinds are computed (one factorize); a page looks up
    its own traces' rows; a whole column (for a filter or sort) maps every result row to its
    trace once (Arrow hash join) and averages with ``bincount``.

    Example:
        >>> r = pd.DataFrame({"trace_id": ["a", "b", "a"], "evaluator": ["ok", "ok", "tone"],
        ...                   "passed": [True, False, None], "score": [1.0, 0.0, None], "label": [None, None, "calm"]})
        >>> rc = ResultColumns(r, pd.Series(["a", "b"]))
        >>> rc.kinds, rc.column("ok").full().tolist(), rc.column("tone").take(np.array([0, 1]))
        ({'ok': 'num', 'tone': 'str'}, [1.0, 0.0], ['calm', nan])
    """

    def __init__(self, results: pd.DataFrame, trace_ids: pd.Series, *, prefix: str = "result") -> None:
        self.prefix = prefix
        self.trace_ids = trace_ids.reset_index(drop=True)
        r = results
        self.r = r
        n = len(r)
        codes, names = pd.factorize(r["evaluator"], use_na_sentinel=True)
        self.codes = np.asarray(codes)
        keep = self.codes >= 0
        if "error" in r.columns:
            keep &= r["error"].isna().to_numpy()
        if "span_id" in r.columns:
            trace_level = r["span_id"].isna().to_numpy()
            has = np.bincount(self.codes[keep & trace_level], minlength=len(names)) > 0
            keep &= trace_level | ~has[np.where(self.codes >= 0, self.codes, 0)]
        self.keep = keep
        if "score" in r.columns:
            sc = r["score"]
            self._score = (sc.to_numpy(dtype=float, na_value=np.nan) if pd.api.types.is_numeric_dtype(sc)
                           else pd.to_numeric(sc, errors="coerce").to_numpy(dtype=float, na_value=np.nan))
        else:
            self._score = np.full(n, np.nan)
        k = len(names)
        # which evaluators have numbers (a score, else passed) or else labels: the other columns
        # are scanned only for the rows of evaluators still undecided
        num_any = np.bincount(self.codes[keep & ~np.isnan(self._score)], minlength=k) > 0
        lab_any = np.zeros(k, dtype=bool)
        for col, found in (("passed", num_any), ("label", lab_any)):
            todo = ~num_any & ~lab_any
            if col not in r.columns or not todo.any():
                continue
            rows = np.flatnonzero(keep & todo[np.where(self.codes >= 0, self.codes, 0)])
            if len(rows):
                hit = r[col].iloc[rows].notna().to_numpy()
                found |= np.bincount(self.codes[rows[hit]], minlength=k) > 0
        order = sorted(range(k), key=lambda i: str(names[i]))
        self.code_of: dict[str, int] = {}
        self.kinds: dict[str, str] = {}
        for i in order:
            if num_any[i] or lab_any[i]:
                self.code_of[str(names[i])] = i
                self.kinds[str(names[i])] = "num" if num_any[i] else "str"
        self._tpos: np.ndarray | None = None
        self._num: np.ndarray | None = None
        self._last: tuple[bytes, np.ndarray, np.ndarray] | None = None
        self._csr: tuple[np.ndarray, np.ndarray] | None = None
        self._rid: Any = None
        self._lock = threading.RLock()

    def names(self) -> list[str]:
        return [f"{self.prefix}.{e}" for e in self.kinds]

    def warm(self) -> None:
        """Build the index from traces to their result rows now (explore does it in a thread
        once the view has painted its first page, so later pages look their results up instead
        of scanning).
        Each stage holds the lock alone, so a page asked for meanwhile scans instead of waiting."""
        self._result_ids()
        self.trace_positions()
        self._by_trace()

    def _by_trace(self) -> tuple[np.ndarray, np.ndarray]:
        """Result rows grouped by trace position: (rows in trace order, start of each trace)."""
        with self._lock:
            if self._csr is None:
                tpos = self._trace_positions()
                order = np.argsort(tpos, kind="stable")
                starts = np.searchsorted(tpos[order], np.arange(len(self.trace_ids) + 1))
                self._csr = (order, starts)
            return self._csr

    def column(self, evaluator: str) -> _ResultColumn:
        return _ResultColumn(self, evaluator)

    def numbers(self, rows: np.ndarray | None = None) -> np.ndarray:
        """``passed`` as 1/0 where set, else ``score`` (:func:`llmops_nb.results.row_scores`), for
        these result rows (all when None, computed once)."""
        from llmops_nb.results import row_scores

        if rows is None:
            if self._num is None:
                self._num = row_scores(self.r).to_numpy(dtype=float, na_value=np.nan)
            return self._num
        if self._num is not None or len(rows) > 10_000:  # a whole column: every row once, no sub-frame
            return self.numbers()[rows]
        return row_scores(self.r.iloc[rows]).to_numpy(dtype=float, na_value=np.nan)

    def _result_ids(self) -> Any:
        """The results' trace ids as an Arrow string array (converted once)."""
        with self._lock:
            if self._rid is None:
                self._rid = _arrow_text(self.r["trace_id"])
            return self._rid

    def trace_positions(self) -> np.ndarray:
        """Each result row's position in the traces (-1: not there), computed once."""
        with self._lock:
            return self._trace_positions()

    def _trace_positions(self) -> np.ndarray:
        if self._tpos is None:
            import pyarrow.compute as pc

            ids = _arrow_text(self.trace_ids)
            self._tpos = pc.index_in(self._result_ids(), value_set=ids).to_numpy(zero_copy_only=False)
            self._tpos = np.where(np.isnan(self._tpos.astype(float)), -1, self._tpos).astype(np.int64)
        return self._tpos

    def rows_for(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The result rows of the traces at ``pos`` and, for each, its index into ``pos``; the
        last answer is kept (the evaluator columns of one page share it)."""
        key = pos.tobytes()
        last = self._last
        if last is not None and last[0] == key:
            return last[1], last[2]
        csr = self._csr
        if csr is not None:  # the index exists (warm-up or a whole column): look up
            order, starts = csr
            a, b = starts[pos], starts[pos + 1]
            rows = np.concatenate([order[i:j] for i, j in zip(a.tolist(), b.tolist())]) if len(pos) else a
            target = np.repeat(np.arange(len(pos)), b - a)
        else:  # before it (or while the warm-up builds it): scan for this page's traces only
            import pyarrow as pa
            import pyarrow.compute as pc

            ids = [str(t) for t in self.trace_ids.iloc[pos].tolist()]
            rid = self._result_ids()
            hit = pc.is_in(rid, value_set=pa.array(ids, type=pa.string()))
            rows = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
            where_id = {t: i for i, t in enumerate(ids)}
            target = np.array([where_id[t] for t in rid.take(pa.array(rows)).to_pylist()], dtype=np.int64)
        self._last = (key, rows, target)
        return rows, target

    def values(self, code: int, kind: str, rows: np.ndarray, target: np.ndarray, m: int) -> Any:
        """One evaluator's value for ``m`` outputs from result ``rows`` landing on ``target``."""
        sel = (self.codes[rows] == code) & self.keep[rows]
        rows, target = rows[sel], target[sel]
        if kind == "num":
            v = self.numbers(rows)
            ok = ~np.isnan(v)
            sums = np.bincount(target[ok], weights=v[ok], minlength=m)
            cnt = np.bincount(target[ok], minlength=m)
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(cnt > 0, sums / np.maximum(cnt, 1), np.nan)
        labels = self.r["label"].to_numpy(dtype=object)[rows]
        ok = pd.notna(labels)
        t, lab = target[ok], labels[ok]
        out = np.full(m, None, dtype=object)
        first_t, first_i = np.unique(t, return_index=True)
        out[first_t] = [str(x) for x in lab[first_i]]
        return pd.array(out, dtype="str")


class _ResultColumn(Derived):
    def __init__(self, parent: ResultColumns, evaluator: str) -> None:
        self.parent, self.evaluator = parent, evaluator
        self.code, self.kind = parent.code_of[evaluator], parent.kinds[evaluator]

    def take(self, pos: np.ndarray) -> list[Any]:
        p = self.parent
        rows, target = p.rows_for(pos)
        return list(p.values(self.code, self.kind, rows, target, len(pos)))

    def warm(self) -> None:
        self.parent.warm()

    def full(self) -> pd.Series:
        p = self.parent
        tpos = p.trace_positions()
        rows = np.flatnonzero(tpos >= 0)
        vals = p.values(self.code, self.kind, rows, tpos[rows], len(p.trace_ids))
        return pd.Series(vals, name=f"{p.prefix}.{self.evaluator}")


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


def _fast_order(s: pd.Series, kind: str) -> tuple[np.ndarray, int] | None:
    """A stable ascending order of ``s`` with its nulls last, and the number of nulls, in C:
    numpy's argsort over floats (NaN sorts last) or int64 times, Arrow's sort over text. None
    when the column does not fit (mixed objects): the caller sorts with pandas."""
    try:
        if kind in ("num", "bool"):
            v = s.to_numpy(dtype=float, na_value=np.nan)
            return np.argsort(v, kind="stable"), int(np.isnan(v).sum())
        if kind == "time":
            t = s.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(s.dt, "tz", None) is not None else s
            v = t.to_numpy(dtype="datetime64[ns]")
            nat = np.isnat(v)
            iv = np.where(nat, np.iinfo(np.int64).max, v.view(np.int64))
            return np.argsort(iv, kind="stable"), int(nat.sum())
        if kind == "str":
            import pyarrow as pa
            import pyarrow.compute as pc

            arr = pa.array(s, from_pandas=True)
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
                return None
            o = pc.array_sort_indices(arr, order="ascending", null_placement="at_end")
            return o.to_numpy().astype(np.int64), int(arr.null_count)
    except (TypeError, ValueError, OverflowError, AttributeError, ImportError):
        return None
    except Exception as e:  # noqa: BLE001  Arrow's errors (ArrowInvalid, ...): fall back to pandas
        if type(e).__module__.startswith("pyarrow"):
            return None
        raise
    return None


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
                 search_columns: Sequence[str] | None = None, derived: Mapping[str, Derived] | None = None) -> None:
        if key not in frame.columns:
            raise ValueError(f"the table has no {key!r} column; columns: {list(frame.columns)[:20]}")
        idx = frame.index
        plain = isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1
        self.frame = frame if plain else frame.reset_index(drop=True)  # copy-on-write: no data copied
        self.key = key
        self.derived: dict[str, Derived] = {k: v for k, v in (derived or {}).items() if k not in frame.columns}
        self.columns = [c for c in self.frame.columns if c not in _HIDDEN] + list(self.derived)
        self.kinds = {c: _kind(self.frame[c]) for c in self.frame.columns if c not in _HIDDEN}
        self.kinds.update({c: d.kind for c, d in self.derived.items()})
        cols = search_columns if search_columns is not None else [c for c in _SEARCH_COLUMNS if c in self.frame.columns]
        self.search_columns = list(cols)
        self._orders: dict[str, np.ndarray] = {}
        self._nulls: dict[str, int] = {}
        self._masks: dict[str, np.ndarray] = {}
        self._texts: dict[str, Any] = {}
        self._full: dict[str, pd.Series] = {}
        self._last_positions: tuple[str, np.ndarray] | None = None
        self._pos: dict[str, int] | None = None
        self.last_ms: float = 0.0

    def __len__(self) -> int:
        return len(self.frame)

    def column(self, name: str) -> pd.Series:
        """A whole column: a column of the frame, or a derived one (built on first use, cached)."""
        self._check(name)
        if name in self.derived:
            if name not in self._full:
                self._full[name] = self.derived[name].full()
            return self._full[name]
        return self.frame[name]

    def values(self, name: str, pos: np.ndarray) -> list[Any]:
        """The values of one column at these row positions (a derived column not yet built
        computes just these rows)."""
        if name in self.derived and name not in self._full:
            return self.derived[name].take(pos)
        return self.column(name).iloc[pos].tolist()

    def warm(self, columns: Sequence[str] = (), *, idle: Callable[[], Any] | None = None) -> None:
        """Build ahead, once: what every page needs (the derived columns' page look-ups), then
        the sort order (and so the whole column, which filters use) of each of ``columns`` and the
        search text, so a user's first sort, filter or search finds them built. Explore calls it
        in a thread once the view has painted its first page, with ``idle`` waiting while the
        view answers a request (each step is one column). A step that fails is left to first use.

        Example:
            >>> import pandas as pd
            >>> t = TableEngine(pd.DataFrame({"trace_id": list("ab"), "latency_ms": [2.0, 1.0]}))
            >>> t.warm(["latency_ms"])
            >>> t.order("latency_ms").tolist()  # already built: no work now
            [1, 0]
        """
        for d in self.derived.values():
            d.warm()
        for c in columns:
            if idle is not None:
                idle()
            try:
                self.order(c)
            except Exception:  # noqa: BLE001  left to first use, which reports it
                continue
        if self.search_columns:
            if idle is not None:
                idle()
            with contextlib.suppress(Exception):
                self._words("\x00blob")

    def _words(self, key: str) -> list[str]:
        """The lower-cased text of a column (or the search blob) as a list of str, built once."""
        lk = "\x00list\x00" + key
        if lk not in self._texts:
            arr = self._blob() if key == "\x00blob" else self._text(key)
            self._texts[lk] = [v if v is not None else "" for v in arr.to_pylist()]
        return self._texts[lk]

    def built(self) -> list[str]:
        """The derived columns built whole so far (by a filter or a sort on them)."""
        return list(self._full)

    def materialize(self) -> pd.DataFrame:
        """The frame with every derived column built (slow on big tables: the view never needs it)."""
        extra = {c: self.column(c) for c in self.derived}
        return pd.concat([self.frame, pd.DataFrame(extra, index=self.frame.index)], axis=1) if extra else self.frame

    # ---- building blocks
    def order(self, column: str | None, desc: bool = False) -> np.ndarray:
        """Row positions sorted by ``column`` (nulls last either way), computed once per column."""
        n = len(self.frame)
        if column is None:
            return np.arange(n)
        self._check(column)
        if column not in self._orders:
            s = self.column(column)
            got = _fast_order(s, self.kinds[column])
            if got is None:
                if self.kinds[column] == "str" and s.dtype == object:
                    s = s.map(lambda v: v if v is None or isinstance(v, str) else _cell(v, 10**6))
                try:  # the frame has a RangeIndex: the sorted index is the order of positions
                    o = s.sort_values(kind="stable", na_position="last").index.to_numpy()
                except TypeError:
                    o = s.astype(str).sort_values(kind="stable").index.to_numpy()
                got = (o, int(s.isna().sum()))
            self._orders[column], self._nulls[column] = got
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
        s = self.column(col)
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
            if kind == "str" and op in ("=", "!=") and isinstance(v, str) and isinstance(s.dtype, pd.StringDtype):
                base = (s == v).fillna(False).to_numpy(dtype=bool)  # Arrow's compare
            elif kind == "str" and op in ("=", "!="):
                base = s.to_numpy(dtype=object) == v
                if not isinstance(v, str):  # lists shown as text: compare the text
                    base = s.astype(str).to_numpy() == str(v)
            if kind == "str" and op == "!=":
                base = ~np.asarray(base, dtype=bool)
            if kind != "str" or op not in ("=", "!="):
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

            s = self.column(column)
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
        vals = self._words(key)
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
        key = json.dumps([q.sort, q.desc, q.filters, q.search], default=str)
        last = self._last_positions
        if last is not None and last[0] == key:  # paging through the same result: no new work
            return last[1]
        o = self.order(q.sort, q.desc)
        m = self.mask(q.filters, q.search)
        pos = o if m is None else o[m[o]]
        self._last_positions = (key, pos)
        return pos

    def page(self, query: Mapping[str, Any] | Query | None = None,
             columns: Sequence[str] | None = None) -> dict[str, Any]:
        """The page the query asks for: ``rows`` (JSON-safe cells of ``columns``, default all,
        and the key), ``matching`` (rows matching), ``total``, ``offset``, ``ms`` (server time)."""
        t0 = time.perf_counter()
        q = query if isinstance(query, Query) else Query.of(query)
        pos = self.positions(q)
        off = min(q.offset, max(0, (len(pos) - 1) // q.size * q.size)) if len(pos) else 0
        sel = np.asarray(pos[off: off + q.size])
        cols = list(dict.fromkeys([self.key, *(columns if columns is not None else self.columns)]))
        data = {c: self.values(c, sel) for c in cols}
        rows = [{c: _cell(data[c][i]) for c in cols} for i in range(len(sel))]
        self.last_ms = (time.perf_counter() - t0) * 1000
        return {"rows": rows, "matching": int(len(pos)), "total": int(len(self.frame)), "offset": int(off),
                "size": q.size, "ms": round(self.last_ms, 2)}

    def rows_of(self, keys: Iterable[Any]) -> pd.DataFrame:
        """The rows of the frame whose key is in ``keys``, in that order (unknown keys are
        ignored); the key index is built on first use."""
        if self._pos is None:
            ks = self.frame[self.key].astype("str").tolist()
            self._pos = {k: i for i, k in enumerate(ks)}
        p = [self._pos[str(k)] for k in keys if str(k) in self._pos]
        return self.frame.iloc[p]

    def row(self, position: int) -> dict[str, Any]:
        """Every column's value in one row (derived ones included)."""
        at = np.array([position])
        return {c: self.values(c, at)[0] for c in self.columns}

    def catalog(self) -> list[dict[str, str]]:
        """The columns the view may show, filter and sort on, with their kind."""
        return [{"name": c, "kind": self.kinds[c]} for c in self.columns]
