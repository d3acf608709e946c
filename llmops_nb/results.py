"""The results table (:data:`llmops_nb.schema.RESULTS`) and every view of it, in one place.
Evaluation writes results; analysis, annotation, datasets, experiments, monitoring, views,
gates and reports read them only through these functions:

- :func:`verdicts` (pass / fail of each row) and :func:`row_scores` (1/0 for a verdict, else the
  score): what one result row says;
- :func:`item_ids` and :func:`latest` (the last row per item and evaluator);
- :func:`wide` (one column per evaluator on spans, traces or sessions);
- :func:`outcome_from_results` (failed or not, per trace or session);
- :func:`item_scores` (mean score per item or example and evaluator) and :func:`pass_rates`
  (pass rate with its Wilson interval, mean score, counts per evaluator);
- :func:`read_results` / :func:`write_results` (files).

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

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.schema import grain_of, is_missing

__all__ = [
    "read_results", "write_results", "ResultView", "frame_markdown", "verdicts", "row_scores", "item_ids",
    "latest", "wide", "outcome_from_results", "item_scores", "pass_rates",
]

_VERDICT_TEXT = {"true": True, "false": False, "1": True, "0": False, "pass": True, "fail": False,
                 "passed": True, "failed": False}


def _verdicts(results: pd.DataFrame) -> pd.Series:
    """:func:`verdicts` as a nullable boolean Series."""
    if "passed" not in results.columns:
        return pd.Series(pd.array([None] * len(results), dtype="boolean"), index=results.index)
    s = results["passed"]
    if pd.api.types.is_bool_dtype(s) or str(s.dtype) == "boolean":
        return s.astype("boolean")
    try:  # C speed for True/False/None (and 1/0)
        return pd.Series(pd.array(s.to_numpy(dtype=object), dtype="boolean"), index=s.index)
    except (TypeError, ValueError):
        pass

    def one(v: Any) -> Any:
        if is_missing(v):
            return None
        if isinstance(v, (bool, np.bool_, int, float, np.integer, np.floating)):
            return bool(v)
        return _VERDICT_TEXT.get(str(v).strip().lower())

    return pd.Series(pd.array([one(v) for v in s], dtype="boolean"), index=s.index)


def verdicts(results: pd.DataFrame) -> pd.Series:
    """The pass / fail verdict of each result row: True, False or None (no verdict: a score or a
    label only, or a failed evaluation). Text read back from CSV (``"true"``, ``"pass"``, ``"0"``)
    counts too.

    Example:
        >>> verdicts(pd.DataFrame({"passed": [True, None, "false"]})).tolist()
        [True, None, False]
    """
    v = _verdicts(results)
    return v.astype(object).where(v.notna(), None)


def row_scores(results: pd.DataFrame) -> pd.Series:
    """One number per result row: 1.0 / 0.0 where the evaluator gives a verdict (``passed``), else
    its numeric ``score``, else NaN. Error rows are NaN.

    Example:
        >>> row_scores(pd.DataFrame({"passed": [True, None, False], "score": [None, 0.7, 1.0],
        ...                          "error": [None, None, None]})).tolist()
        [1.0, 0.7, 0.0]
    """
    v = pd.Series(_verdicts(results).to_numpy(dtype=float, na_value=np.nan), index=results.index)
    score = pd.to_numeric(results["score"], errors="coerce") if "score" in results.columns else np.nan
    out = v.where(v.notna(), score).astype(float)
    if "error" in results.columns:
        out = out.where(results["error"].isna())
    return out


def item_ids(results: pd.DataFrame) -> pd.Series:
    """The item each result row judges: ``trace_id/span_id`` for a span result, the trace id for
    a trace result, the session id for a session result (no trace id).

    Example:
        >>> item_ids(pd.DataFrame({"trace_id": ["t", "t", None], "span_id": [None, "s", None],
        ...                        "session_id": [None, None, "u"]})).tolist()
        ['t', 't/s', 'u']
    """
    tid = results["trace_id"].astype(object) if "trace_id" in results.columns else pd.Series(
        [None] * len(results), index=results.index, dtype=object)
    out = tid.copy()
    if "span_id" in results.columns:
        has = results["span_id"].notna() & tid.notna()
        out = out.where(~has, tid.astype(str) + "/" + results["span_id"].astype(str))
    if "session_id" in results.columns:
        out = out.where(tid.notna(), results["session_id"].astype(object))
    return out.astype(object)


def _item_keys(results: pd.DataFrame) -> list[str]:
    return [c for c in ("trace_id", "span_id", "session_id") if c in results.columns]


def latest(results: pd.DataFrame, *, errors: bool = True) -> pd.DataFrame:
    """The last row (by ``created_at``, then table order) per item and evaluator: a rerun or a
    resumed run supersedes what came before. ``errors=False`` leaves failed evaluations out first,
    so the last good row wins. The rows kept stay in table order.

    Example:
        >>> r = pd.DataFrame({"trace_id": ["t", "t"], "evaluator": ["x", "x"], "passed": [False, True],
        ...                   "created_at": pd.to_datetime(["2025-01-02", "2025-01-01"])})
        >>> latest(r)["passed"].tolist()
        [False]
    """
    df = results
    if not errors and "error" in df.columns:
        df = df[df["error"].isna()]
    order = np.arange(len(df))
    if "created_at" in df.columns:
        order = df["created_at"].reset_index(drop=True).sort_values(kind="stable").index.to_numpy()
    keep = ~df.iloc[order].duplicated([*_item_keys(df), "evaluator"], keep="last").to_numpy()
    return df.iloc[np.sort(order[keep])]


def wide(frame: pd.DataFrame, results: pd.DataFrame, *, values: str = "auto", explanations: bool = False,
         evaluators: Iterable[str] | None = None) -> pd.DataFrame:
    """``frame`` (spans, traces or sessions) with one column per evaluator from ``results`` (a new frame).

    Span results join on (trace_id, span_id); trace results (span_id null) join on trace_id;
    on a sessions table, session results (trace_id null) join on session_id.
    ``values`` picks the result column shown: ``"auto"`` (default) shows the pass / fail view
    (``passed``) for true/false results, so True always reads "passed" (a detector such as
    ``pii`` shows False where it found something, not its raw "True = found" value), and the
    value elsewhere (scores, labels); or one of ``value``, ``score``, ``label``, ``passed``, ``error``.
    With several rows for one item and evaluator the latest wins (:func:`latest`).
    ``explanations=True`` adds ``<evaluator>__explanation`` columns.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm", "output_text": "{}"}],
        ...                        format="records")
        >>> lo.wide(spans, lo.evaluate(spans, "is_json", cache=False))["is_json"].tolist()
        [True]
    """
    valid = ("auto", "value", "score", "label", "passed", "error", "explanation")
    if values not in valid:
        raise ValueError(f"values={values!r} is not valid; valid: {list(valid)}")
    res = results
    if values == "auto":
        is_bool = res["value"].map(lambda v: isinstance(v, (bool, np.bool_)))
        shown = res["passed"].astype(object).where(is_bool & res["passed"].notna(), res["value"].astype(object))
        res = res.assign(auto=shown)
    if evaluators is not None:
        res = res[res["evaluator"].isin(list(evaluators))]
    res = latest(res)
    grain = grain_of(frame)
    out = frame.copy()
    if grain == "sessions":  # a sessions table: session rows
        res = res[res["session_id"].notna() & res["trace_id"].isna()] if "session_id" in res else res.iloc[0:0]
        parts: tuple[tuple[pd.DataFrame, list[str]], ...] = ((res, ["session_id"]),)
    else:
        span_res = res[res["span_id"].notna()] if grain == "spans" else res.iloc[0:0]
        trace_res = res[res["span_id"].isna() & res["trace_id"].notna()]
        parts = ((span_res, ["trace_id", "span_id"]), (trace_res, ["trace_id"]))
    for part, keys in parts:
        if not len(part):
            continue
        fields = [values] + (["explanation"] if explanations else [])
        last = part.drop_duplicates([*keys, "evaluator"], keep="last")
        for fld in fields:
            piv = last.pivot(index=keys, columns="evaluator", values=fld)
            piv.columns = [c if fld == values else f"{c}__explanation" for c in piv.columns]
            piv = piv.astype(object).where(piv.notna(), None).reset_index()
            clash = [c for c in piv.columns if c in out.columns and c not in keys]
            if clash:
                piv = piv.rename(columns={c: f"{c}__eval" for c in clash})
            out = out.merge(piv, on=keys, how="left")
    return out


def outcome_from_results(results: pd.DataFrame, evaluator: str) -> pd.Series:
    """Failures from an evaluation results table: one bool per trace (True = the evaluator's
    ``passed`` is False for some row of the trace), indexed by trace_id; for a session-level
    evaluator, one bool per session, indexed by session_id. An evaluator without verdicts fails
    where its score is below 0.5.

    Example:
        >>> r = pd.DataFrame({"trace_id": ["a", "b"], "evaluator": ["x", "x"], "passed": [True, False]})
        >>> outcome_from_results(r, "x").to_dict()
        {'a': False, 'b': True}
    """
    sub = results[results["evaluator"] == evaluator]
    if sub.empty:
        raise ValueError(
            f"no results for evaluator {evaluator!r}; evaluators present: {sorted(results['evaluator'].dropna().unique())}"
        )
    passed = sub["passed"]
    if passed.isna().all() and "score" in sub.columns:
        passed = sub["score"] >= 0.5
    failed = (~passed.astype("boolean")).where(passed.notna())
    session_rows = "session_id" in sub.columns and sub["trace_id"].isna().all() and sub["session_id"].notna().all()
    out = failed.groupby(sub["session_id" if session_rows else "trace_id"]).max().astype("boolean")
    out.name = f"{evaluator} failed"
    return out


def item_scores(results: pd.DataFrame, by: str | Sequence[str] = "trace_id") -> pd.DataFrame:
    """One row per ``by`` (a trace, an example, ...) and evaluator: ``value``, the mean of
    :func:`row_scores` over its rows (the pass rate where the evaluator gives verdicts, else the
    mean score; repeats averaged); failed evaluations left out.

    Example:
        >>> r = pd.DataFrame({"example_id": ["e", "e"], "evaluator": ["x", "x"], "passed": [True, False],
        ...                   "score": [None, None], "error": [None, None]})
        >>> item_scores(r, by="example_id").to_dict("records")
        [{'example_id': 'e', 'evaluator': 'x', 'value': 0.5}]
    """
    keys = [by] if isinstance(by, str) else list(by)
    if results is None or len(results) == 0:
        return pd.DataFrame(columns=[*keys, "evaluator", "value"])
    r = results[results["error"].isna()] if "error" in results.columns else results
    r = r.assign(value=row_scores(r).to_numpy())
    return r.groupby([*keys, "evaluator"], as_index=False)["value"].mean()


def pass_rates(results: pd.DataFrame, *, by: str | Sequence[str] | None = None,
               confidence: float = 0.95) -> pd.DataFrame:
    """One row per evaluator (and ``by`` group): ``n`` rows evaluated without error, ``errors``,
    ``verdicts`` (rows with a pass / fail), ``passed``, ``pass_rate`` = passed / verdicts with
    its Wilson interval ``ci_low``/``ci_high`` at ``confidence`` (NaN without verdicts), and
    ``mean_score`` (mean numeric score of the rows without error).

    Example:
        >>> r = pd.DataFrame({"evaluator": ["x"] * 4, "passed": [True, True, False, None],
        ...                   "score": [None] * 4, "error": [None, None, None, "timeout"]})
        >>> pass_rates(r)[["evaluator", "n", "errors", "verdicts", "passed", "pass_rate"]].to_dict("records")
        [{'evaluator': 'x', 'n': 3, 'errors': 1, 'verdicts': 3, 'passed': 2, 'pass_rate': 0.6666666666666666}]
    """
    from llmops_nb.stats import wilson

    keys = ["evaluator", *([by] if isinstance(by, str) else list(by or []))]
    cols = [*keys, "n", "errors", "verdicts", "passed", "pass_rate", "ci_low", "ci_high", "mean_score"]
    if results is None or len(results) == 0:
        return pd.DataFrame(columns=cols)
    err = results["error"].notna() if "error" in results.columns else pd.Series(False, index=results.index)
    v = _verdicts(results).mask(err.to_numpy())
    score = pd.to_numeric(results["score"], errors="coerce") if "score" in results.columns else pd.Series(
        np.nan, index=results.index)
    df = results[keys].assign(
        _ok=(~err).astype(int), _err=err.astype(int), _v=v.notna().astype(int),
        _p=v.fillna(False).astype(int), _s=score.where(~err),
    )
    g = df.groupby(keys, sort=True, dropna=False)
    out = g.agg(n=("_ok", "sum"), errors=("_err", "sum"), verdicts=("_v", "sum"), passed=("_p", "sum"),
                mean_score=("_s", "mean")).reset_index()
    k, n = out["passed"].to_numpy(float), out["verdicts"].to_numpy(float)
    lo, hi = wilson(k, n, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["pass_rate"] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    out["ci_low"] = np.where(n > 0, lo, np.nan)
    out["ci_high"] = np.where(n > 0, hi, np.nan)
    return out[cols]


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
