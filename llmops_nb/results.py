"""The results table (:data:`llmops_nb.schema.RESULTS`) and every view of it, in one place:
reading and writing results files. Evaluation writes results; analysis, annotation, datasets,
experiments, monitoring and reports read them through these functions.

Example:
    >>> import pandas as pd
    >>> from llmops_nb.results import read_results, write_results
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "results.csv")
    >>> write_results(pd.DataFrame({"evaluator": ["ok", "ok"], "passed": [True, None],
    ...                             "error": ["", "timeout"]}), path)
    >>> read_results(path)["error"].isna().tolist()
    [True, False]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["read_results", "write_results", "ResultView", "frame_markdown"]


def read_results(source: str | Path | Any, run_id: str | None = None) -> pd.DataFrame:
    """Results from a file (.parquet, .csv, .jsonl, .json), a store folder or a
    :class:`~llmops_nb.Store` (a store's latest run when no ``run_id``).

    Example:
        >>> read_results("missing.parquet")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        FileNotFoundError: results file 'missing.parquet' does not exist; ...
    """
    from llmops_nb.store import Store

    store = source if isinstance(source, Store) else None
    p = None if store is not None else Path(source)
    if p is not None and p.is_dir():
        store = Store(p)
    if store is not None:
        if run_id is None:
            latest = store.sql("SELECT run_id FROM results ORDER BY created_at DESC LIMIT 1")
            if len(latest):
                run_id = latest["run_id"].iloc[0]
        return store.results("run_id = ?", [run_id]) if run_id else store.results()
    assert p is not None
    if not p.exists():
        raise FileNotFoundError(f"results file {str(source)!r} does not exist; pass a .parquet/.csv/.jsonl file or a store folder")
    suf = p.suffix.lower()
    if suf == ".parquet":
        df = pd.read_parquet(p)
    elif suf == ".csv":
        df = pd.read_csv(p)
    elif suf in (".jsonl", ".ndjson"):
        df = pd.read_json(p, lines=True)
    elif suf == ".json":
        df = pd.read_json(p)
    else:
        raise ValueError(f"cannot read results from {str(source)!r}; valid: .parquet, .csv, .jsonl, .json or a store folder")
    if "error" in df.columns:
        df["error"] = df["error"].where(df["error"].notna() & (df["error"].astype(str) != ""), None)
    if run_id is not None and "run_id" in df.columns:
        df = df[df["run_id"] == run_id]
    return df


def write_results(frame: pd.DataFrame, path: str | Path) -> None:
    """Write results as .parquet (the declared schema), .csv or .jsonl.

    Example:
        >>> write_results(pd.DataFrame(), "out.txt")
        Traceback (most recent call last):
        ValueError: cannot write results to 'out.txt'; valid suffixes: .parquet, .csv, .jsonl
    """
    suf = Path(path).suffix.lower()
    if suf == ".parquet":
        import pyarrow.parquet as pq

        from llmops_nb.schema import RESULTS, to_arrow

        pq.write_table(to_arrow(frame, RESULTS), path)
    elif suf == ".csv":
        frame.to_csv(path, index=False)
    elif suf in (".jsonl", ".ndjson"):
        frame.to_json(path, orient="records", lines=True, date_format="iso")
    else:
        raise ValueError(f"cannot write results to {str(path)!r}; valid suffixes: .parquet, .csv, .jsonl")


def frame_markdown(frame: pd.DataFrame, *, max_rows: int = 50) -> str:
    """A frame as a Markdown (GitHub) pipe table, for CI logs and PR comments; no extra package.

    Example:
        >>> print(frame_markdown(pd.DataFrame({"metric": ["ok"], "value": [0.91234]})))
        | metric | value |
        | --- | --- |
        | ok | 0.9123 |
    """

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "" if v != v else f"{v:.4g}"
        return "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")

    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for row in frame.head(max_rows).itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    if len(frame) > max_rows:
        lines.append(f"({len(frame) - max_rows} more rows)")
    return "\n".join(lines)


class ResultView:
    """The protocol every rich result object follows: ``.frame`` (its main table as a
    DataFrame), ``_repr_html_`` (notebooks) and plain-text ``repr``, and ``to_markdown()``.

    Example:
        >>> class Scores(ResultView):
        ...     def __init__(self, frame): self.frame = frame
        >>> Scores(pd.DataFrame({"a": [1]})).to_markdown().splitlines()[0]
        '| a |'
    """

    frame: pd.DataFrame

    def to_markdown(self) -> str:
        """The main table as Markdown (see :func:`frame_markdown`)."""
        return frame_markdown(self.frame)
