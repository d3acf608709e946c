"""What changed between two versions of a dataset, by ``example_id`` (one DuckDB join)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from llmops_nb._compat import renamed_argument
from llmops_nb.datasets._arrow import arrow_to_frame
from llmops_nb.datasets._location import resolve_storage
from llmops_nb.datasets._versions import _read

__all__ = ["DatasetDiff", "diff"]


@dataclass
class DatasetDiff:
    """What changed between two versions, by ``example_id``.

    ``added``: rows only in ``b``; ``removed``: rows only in ``a``; ``changed``: one row per
    example present in both whose content differs, with the list of ``changed_columns``.
    ``detail(example_id)`` shows the before and after values of one changed example.

    Example:
        >>> import tempfile
        >>> from llmops_nb.datasets import save
        >>> root = tempfile.mkdtemp()
        >>> _ = save(pd.DataFrame({"example_id": ["a", "b"], "input_text": ["x", "y"]}), "dd", message="1", store=root)
        >>> _ = save(pd.DataFrame({"example_id": ["b", "c"], "input_text": ["y", "z"]}), "dd", message="2", store=root)
        >>> d = diff("dd", 0, 1, store=root)
        >>> d.added["example_id"].tolist(), d.removed["example_id"].tolist()
        (['c'], ['a'])
    """

    name: str
    a: int
    b: int
    added: pd.DataFrame
    removed: pd.DataFrame
    changed: pd.DataFrame
    unchanged: int
    _ta: pa.Table = field(repr=False, default=None)  # type: ignore[assignment]
    _tb: pa.Table = field(repr=False, default=None)  # type: ignore[assignment]

    def summary(self) -> str:
        return (
            f"{self.name}: v{self.a} -> v{self.b}: {len(self.added):,} added, {len(self.removed):,} removed, "
            f"{len(self.changed):,} changed, {self.unchanged:,} unchanged"
        )

    def __repr__(self) -> str:
        return f"<DatasetDiff {self.summary()}>"

    def column_counts(self) -> pd.Series:
        """How many changed examples touch each column."""
        if not len(self.changed):
            return pd.Series(dtype="int64")
        return self.changed["changed_columns"].explode().value_counts()

    def detail(self, example_id: str) -> pd.DataFrame:
        """Before and after of one changed example: one row per changed column."""
        import pyarrow.compute as pc

        hit = self.changed[self.changed["example_id"] == example_id]
        if not len(hit):
            raise KeyError(f"{example_id!r} did not change between v{self.a} and v{self.b}")
        ra = self._ta.filter(pc.equal(self._ta.column("example_id"), example_id)).to_pylist()[0]
        rb = self._tb.filter(pc.equal(self._tb.column("example_id"), example_id)).to_pylist()[0]
        cols = hit.iloc[0]["changed_columns"]
        return pd.DataFrame({"column": cols, "before": [ra.get(c) for c in cols], "after": [rb.get(c) for c in cols]})

    def _repr_html_(self) -> str:
        counts = self.column_counts()
        cc = ", ".join(f"{html.escape(str(k))} ({v})" for k, v in counts.head(10).items()) or "none"
        return (
            f"<div><b>{html.escape(self.name)}</b> v{self.a} &rarr; v{self.b}: "
            f"<span style='color:green'>+{len(self.added):,} added</span>, "
            f"<span style='color:#b00'>&minus;{len(self.removed):,} removed</span>, "
            f"{len(self.changed):,} changed, {self.unchanged:,} unchanged."
            f"<br><small>changed columns: {cc}</small></div>"
        )


@renamed_argument("storage", "store", "llmops_nb.datasets.diff")
def diff(name: str, a: int | str, b: int | str | None = None, *, store: Any = None) -> DatasetDiff:
    """Compare two versions (numbers or tags; ``b`` defaults to the latest) by ``example_id``.

    Runs as one DuckDB full outer join on the two Arrow snapshots (nested columns compared
    natively), so two 100k-row versions diff in well under a second of SQL.

    Example:
        >>> import tempfile, pandas as pd
        >>> from llmops_nb.datasets import save
        >>> root = tempfile.mkdtemp()
        >>> _ = save(pd.DataFrame({"example_id": ["a", "b"], "input_text": ["x", "y"]}), "d", message="1", store=root)
        >>> _ = save(pd.DataFrame({"example_id": ["b", "c"], "input_text": ["Y", "z"]}), "d", message="2", store=root)
        >>> d = diff("d", 0, 1, store=root)
        >>> d.added["example_id"].tolist(), d.removed["example_id"].tolist(), d.changed.values.tolist()
        (['c'], ['a'], [['b', ['input_text']]])
    """
    import duckdb

    st = resolve_storage(store)
    ta, ja, va, _ = _read(name, a, st)
    tb, jb, vb, _ = _read(name, b, st)
    cols_a = [c for c in ta.column_names if c != "example_id"]
    cols_b = [c for c in tb.column_names if c != "example_id"]
    all_cols = cols_a + [c for c in cols_b if c not in cols_a]

    def q(c: str) -> str:
        return '"' + c.replace('"', '""') + '"'

    exprs = []
    for c in all_cols:
        in_a, in_b = c in cols_a, c in cols_b
        if in_a and in_b:
            if ta.schema.field(c).type == tb.schema.field(c).type:
                exprs.append(f"(A.{q(c)} IS DISTINCT FROM B.{q(c)})")
            else:
                exprs.append(f"(CAST(A.{q(c)} AS VARCHAR) IS DISTINCT FROM CAST(B.{q(c)} AS VARCHAR))")
        elif in_a:
            exprs.append(f"(A.{q(c)} IS NOT NULL)")
        else:
            exprs.append(f"(B.{q(c)} IS NOT NULL)")
    flags = ", ".join(f"{e} AS f{i}" for i, e in enumerate(exprs)) or "FALSE AS f0"
    con = duckdb.connect()
    try:
        con.register("A", ta.select(["example_id"] + cols_a))
        con.register("B", tb.select(["example_id"] + cols_b))
        res = con.sql(
            f"""SELECT A.example_id AS ida, B.example_id AS idb, {flags}
                FROM A FULL OUTER JOIN B ON A.example_id = B.example_id"""
        ).to_arrow_table()
    finally:
        con.close()
    ida = res.column("ida").to_numpy(zero_copy_only=False)
    idb = res.column("idb").to_numpy(zero_copy_only=False)
    a_null = pd.isna(ida)
    b_null = pd.isna(idb)
    added_ids = set(idb[a_null].tolist())
    removed_ids = set(ida[b_null].tolist())
    both = ~a_null & ~b_null
    if all_cols:
        F = np.column_stack([res.column(f"f{i}").to_numpy(zero_copy_only=False).astype(bool) for i in range(len(all_cols))])
    else:
        F = np.zeros((res.num_rows, 0), dtype=bool)
    Fb = F[both]
    ch = Fb.any(axis=1) if Fb.shape[1] else np.zeros(len(Fb), dtype=bool)
    ids_both = ida[both]
    changed = pd.DataFrame(
        {
            "example_id": pd.Series(ids_both[ch], dtype=object),
            "changed_columns": [[all_cols[k] for k in np.flatnonzero(row)] for row in Fb[ch]],
        }
    )
    changed = changed.sort_values("example_id", kind="stable").reset_index(drop=True)
    import pyarrow.compute as pc

    added = arrow_to_frame(tb.filter(pc.is_in(tb.column("example_id"), pa.array(sorted(added_ids), pa.string()))), jb)
    removed = arrow_to_frame(ta.filter(pc.is_in(ta.column("example_id"), pa.array(sorted(removed_ids), pa.string()))), ja)
    return DatasetDiff(name, va, vb, added, removed, changed, int((~ch).sum()), ta, tb)
