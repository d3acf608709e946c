"""Examples frames to Arrow and back, through the schema's public helpers
(:func:`llmops_nb.schema.frame_to_arrow` / :func:`~llmops_nb.schema.arrow_to_frame`): what is
particular to datasets is only the ``example_id`` checks, JSON with sorted keys (so equal content
is equal text in a diff) and a plain Arrow schema (Delta keeps no field metadata)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pyarrow as pa

from llmops_nb.datasets._errors import DatasetError
from llmops_nb.datasets._examples import EXAMPLES
from llmops_nb.schema import arrow_to_frame as _arrow_to_frame
from llmops_nb.schema import frame_to_arrow as _frame_to_arrow

__all__ = ["JSON_COLUMNS", "frame_to_arrow", "arrow_to_frame"]


JSON_COLUMNS = tuple(c.name for c in EXAMPLES.columns if c.kind == "json")


def frame_to_arrow(frame: pd.DataFrame) -> tuple[pa.Table, list[str]]:
    """Arrow table of an examples frame (declared columns typed as declared, then the extra
    columns) and the names of the columns stored as JSON text.

    Example:
        >>> t, js = frame_to_arrow(pd.DataFrame({"example_id": ["a"], "labels": [{"ok": True}]}))
        >>> t.column("labels").to_pylist(), "labels" in js
        (['{"ok":true}'], True)
    """
    if "example_id" not in frame.columns:
        raise DatasetError(
            "the frame has no 'example_id' column; build examples with "
            "llmops_nb.datasets.to_examples(...) or add a stable id column named example_id"
        )
    ids = frame["example_id"]
    if ids.isna().any():
        raise DatasetError(f"{int(ids.isna().sum())} rows have no example_id; every example needs a stable id")
    dup = ids.duplicated()
    if dup.any():
        raise DatasetError(
            f"{int(dup.sum())} rows repeat an example_id (first {ids[dup].iloc[0]!r}); ids must be unique "
            "(drop duplicates, or dedupe(...) first)"
        )
    bad = [c for c in frame.columns if not isinstance(c, str)]
    if bad:
        raise DatasetError(f"column names must be strings, got {bad[0]!r}")
    table, json_cols = _frame_to_arrow(frame.reset_index(drop=True), EXAMPLES, sort_keys=True)
    # Delta cannot store Arrow field metadata; keep a plain schema (nullability kept)
    plain = pa.schema([pa.field(f.name, f.type, f.nullable) for f in table.schema])
    return pa.Table.from_arrays(table.columns, schema=plain), json_cols


def arrow_to_frame(table: pa.Table, json_columns: Sequence[str] = JSON_COLUMNS) -> pd.DataFrame:
    """pandas frame of a stored version: declared columns with the declared dtypes, JSON text
    parsed back into Python objects, extra columns after them.

    Example:
        >>> t, js = frame_to_arrow(pd.DataFrame({"example_id": ["a"], "labels": [{"ok": True}]}))
        >>> arrow_to_frame(t, js).loc[0, "labels"]
        {'ok': True}
    """
    return _arrow_to_frame(table, EXAMPLES, json_columns)
