"""Slices: where failures concentrate, with intervals and corrected p-values."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.analysis._dims import DEFAULT_QUANTILES, build_dimensions
from llmops_nb.analysis._frame import Outcome, as_analysis_frame, id_series, resolve_outcome
from llmops_nb.stats import (
    benjamini_hochberg,
    fisher_vs_rest,
    log_benjamini_hochberg,
    log_fisher_vs_rest,
    wilson,
)

__all__ = ["find_slices", "plot_slices", "SliceTable"]

_COLUMNS = [
    "slice", "order", "column", "value", "column_2", "value_2", "size", "share", "failures",
    "failure_rate", "ci_low", "ci_high", "lift", "direction", "p_value", "p_adjusted",
    "evidence", "significant", "same_as", "examples",
]


class SliceTable(pd.DataFrame):
    """The slices :func:`find_slices` found: a DataFrame (one row per slice) whose ``attrs``
    carry the baseline, the size threshold and what was tested, and that shows itself.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(40)], "model": ["a", "b"] * 20,
        ...                    "failed": [i % 2 == 0 and i % 4 != 0 for i in range(40)]})
        >>> s = find_slices(df, outcome="failed", columns=["model"])
        >>> isinstance(s, SliceTable), s.iloc[0]["slice"]
        (True, 'model = a')
    """

    @property
    def _constructor(self) -> type[SliceTable]:
        return SliceTable

    def _summary(self) -> str:
        a = self.attrs
        if "baseline" not in a:
            return ""
        sig = int(self["significant"].sum()) if "significant" in self.columns else 0
        return (
            f"slices of {a['n']:,} rows for outcome {a['outcome']!r}: baseline failure rate "
            f"{a['baseline']:.1%} ({a['n_failures']:,} failures); {a['n_tested']:,} slices tested "
            f"over {len(a['columns'])} columns (max_order={a['max_order']}); {sig} significant at "
            f"FDR {a['alpha']:g} (Benjamini-Hochberg); slices smaller than min_size={a['min_size']:,} "
            f"left out ({a['n_small']:,}); {a['n_pairs_dropped']:,} pairs that add nothing over "
            f"their parents left out"
            + (f"; {a['n_merged']:,} slices with the same rows as another merged into it (same_as)"
               if a.get("n_merged") else "")
        )

    def _display(self) -> pd.DataFrame:
        """The table as it reads: rates as percentages with their interval, evidence and
        p-values rounded, merged definitions beside the slice, examples as a count."""
        d = pd.DataFrame(self)
        if d.empty or "failure_rate" not in d.columns:
            return d.drop(columns=["examples"], errors="ignore")

        def pct(v: Any) -> str:
            return "" if pd.isna(v) else f"{v:.1%}"

        same = d["same_as"] if "same_as" in d.columns else pd.Series([[]] * len(d), index=d.index)
        show = pd.DataFrame({
            "slice": [str(n) + ("" if not o else " (same rows: " + "; ".join(o) + ")") for n, o in zip(d["slice"], same)],
            "size": d["size"].map("{:,}".format),
            "share": d["share"].map(pct),
            "failures": d["failures"].map("{:,}".format),
            "failure rate [95% CI]": [f"{pct(r)} [{pct(lo)}, {pct(hi)}]" for r, lo, hi in
                                      zip(d["failure_rate"], d["ci_low"], d["ci_high"])],
            "lift": d["lift"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}x"),
            "p_adjusted": d["p_adjusted"].map(lambda v: f"{v:.2g}"),
            "evidence": d["evidence"].map(lambda v: f"{v + 0.0:.1f}"),  # + 0.0: no "-0.0"
            "significant": d["significant"].map(lambda v: "yes" if v else "no"),
        }, index=d.index)
        return show

    def __repr__(self) -> str:
        head = self._summary()
        with pd.option_context("display.max_colwidth", 80, "display.width", 200):
            body = self._display().to_string(max_rows=20, max_cols=14, index=False)
        return f"{head}\n{body}" if head else body

    def _repr_html_(self) -> str:
        head = self._summary()
        d = pd.DataFrame(self).head(50)
        show = self._display().head(50)
        if "examples" in d.columns and len(d):
            def ex_cell(ids: Any, n_fail: Any) -> str:
                ids = list(ids) if isinstance(ids, (list, tuple, np.ndarray)) else []
                if not ids:
                    return "0"
                more = f" of {int(n_fail):,}" if pd.notna(n_fail) and int(n_fail) > len(ids) else ""
                items = "".join(f"<li><code>{html.escape(str(i))}</code></li>" for i in ids)
                return f"<details><summary>{len(ids)}{more}</summary><ul style='margin:0;padding-left:1.2em'>{items}</ul></details>"

            show = show.assign(**{"failing examples": [ex_cell(i, f) for i, f in zip(d["examples"], d["failures"])]})
            show["slice"] = [html.escape(str(n)) + ("" if not o else "<br><small>same rows: " + html.escape("; ".join(o)) + "</small>")
                             for n, o in zip(d["slice"], d["same_as"] if "same_as" in d.columns else [[]] * len(d))]
            esc = {c: (lambda v: v) for c in ("slice", "failing examples")}
            body = show.to_html(index=False, escape=False, formatters={
                c: (esc[c] if c in esc else (lambda v: html.escape(str(v)))) for c in show.columns})
        else:
            body = show.to_html(index=False, escape=True)
        more = f"<p>showing 50 of {len(self):,} slices</p>" if len(self) > 50 else ""
        return f"<div class='llmops-slices'><p>{html.escape(head)}</p>{body}{more}</div>"


def _labels(dim_names: list[str], dim_labels: list[list[str]]) -> tuple[list[str], list[str]]:
    cols, vals = [], []
    for name, labels in zip(dim_names, dim_labels):
        cols += [name] * len(labels)
        vals += labels
    return cols, vals


def _slice_name(col: str, val: str) -> str:
    if val.startswith("[") or val.startswith("("):
        return f"{col} in {val}" if val[0] == "[" else f"{col} {val}"
    return f"{col} = {val}"


def find_slices(
    frame: pd.DataFrame,
    outcome: Outcome,
    columns: Sequence[str] | str | None = None,
    max_order: int = 2,
    min_size: int | None = None,
    alpha: float = 0.05,
    *,
    exclude: Sequence[str] = (),
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    max_levels: int = 50,
    n_examples: int = 5,
    grain: str = "auto",
    id_column: str | None = None,
    engine: Any = None,
) -> SliceTable:
    """Where failures concentrate: every value of every slice column and (with
    ``max_order=2``) every pair of values, each with its size, failures, failure rate, lift
    over the baseline, a Wilson 95% interval, a two-sided Fisher exact p-value against the
    rest of the rows, and the Benjamini-Hochberg adjusted p-value over all slices tested.

    Row grain of the result: one row per slice, sorted by evidence (p-value, then lift).
    ``frame`` is a traces frame (or a spans frame, analysed per trace unless ``grain="row"``),
    optionally joined with results or a truth column. ``outcome`` is the failure indicator:
    a column name, a boolean Series (True = failed; aligned on the index or on trace_id), an
    array, or a callable ``frame -> bools``; rows where it is null are left out.

    Slice columns: ``columns=None`` (or ``"context"``) takes what is known about a request
    before the application answers it: every metadata key (tenant, language, channel,
    prompt_version, ...), ``model`` (from ``models`` or ``model``) and input length.
    ``columns="all"`` adds what the application did: the tools it called, output length,
    latency, tokens, cost, span and error counts, retrieval score; these are consequences
    of failures as much as causes (a refusal calls no tool, a timeout is slow), so they
    tend to outrank the causes. Or pass a list of
    columns, metadata keys or derived names (``input_length``, ``output_length``, ``model``,
    ``tool``). Numeric columns are cut at the ``quantiles`` (quartiles and the top 10%
    tail by default); integers with few values stay categorical. Slices smaller than
    ``min_size`` (default: max(20, 0.5% of the rows)) are left out; the threshold is in
    ``result.attrs`` and in the repr. A pair is kept only when it adds over both parents: its
    failure rate differs from the rest of each parent (Fisher's test within the parent,
    Benjamini-Hochberg corrected over all pairs, < ``alpha``). ``significant`` means p_adjusted < ``alpha``.

    ``engine``: ``"local"`` or ``"ray"`` (default: the current engine). On Ray the rows go to
    the cluster once, as blocks holding each row's value of every dimension; Ray tasks build each
    block's indicator matrix and count the size and failures of every value and pair (summed
    here), then find each reported slice's first failing rows and a digest of its rows (to merge
    slices with the same rows); the tests and corrections run here on the totals (the same table).

    Example:
        >>> import pandas as pd, numpy as np
        >>> rng = np.random.default_rng(0)
        >>> df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(2000)],
        ...     "metadata": [{"category": c} for c in rng.choice(["billing", "faq", "tech"], 2000)]})
        >>> df["failed"] = rng.random(2000) < np.where(df.metadata.map(lambda m: m["category"]) == "billing", .3, .05)
        >>> s = find_slices(df, outcome="failed")
        >>> s.iloc[0]["slice"], bool(s.iloc[0]["significant"])
        ('category = billing', True)
    """

    if max_order not in (1, 2):
        raise ValueError(f"max_order={max_order!r} is not supported; valid: 1 or 2")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha={alpha!r} must be between 0 and 1")
    df = as_analysis_frame(frame, grain)
    y_all, out_name = resolve_outcome(df, outcome)
    valid = ~np.isnan(y_all)
    excl = list(exclude) + ([out_name] if isinstance(outcome, str) else [])
    if not valid.all():
        df = df.loc[valid]
    y = y_all[valid] > 0.5
    n = int(y.size)
    if n == 0:
        raise ValueError("the outcome is null on every row: nothing to analyse")
    ids = id_series(df, id_column).to_numpy()
    K = int(y.sum())
    baseline = K / n
    if min_size is None:
        min_size = max(20, int(math.ceil(0.005 * n)))
    dims, skipped = build_dimensions(df, columns, exclude=excl, quantiles=quantiles, max_levels=max_levels)
    attrs: dict[str, Any] = {
        "outcome": out_name, "n": n, "n_failures": K, "baseline": baseline, "min_size": int(min_size),
        "alpha": alpha, "max_order": max_order, "columns": [d.name for d in dims], "skipped": skipped,
        "n_tested": 0, "n_small": 0, "n_pairs_dropped": 0, "quantiles": list(quantiles),
        "n_null_outcome": int((~valid).sum()),
    }
    if not dims:
        out = SliceTable(pd.DataFrame(columns=_COLUMNS))
        out.attrs.update(attrs)
        return out
    dim_of = np.concatenate([np.full(len(d.labels), i) for i, d in enumerate(dims)])
    cols, vals = _labels([d.name for d in dims], [d.labels for d in dims])
    L = len(cols)
    yf = y.astype(np.float64)
    pairs = max_order == 2 and len(dims) > 1
    rows = _Rows(dims, yf, engine)
    size1, fail1, G, F = rows.counts(pairs)

    # ---- singles
    keep1 = (size1 >= min_size) & (size1 < n)
    small = int(((size1 > 0) & (size1 < min_size)).sum())
    rec: dict[str, list[Any]] = {k: [] for k in ("a", "b", "size", "fail")}
    idx1 = np.flatnonzero(keep1)
    rec["a"] += idx1.tolist()
    rec["b"] += [-1] * idx1.size
    rec["size"] += size1[idx1].tolist()
    rec["fail"] += fail1[idx1].tolist()

    # ---- pairs
    pair_keep = np.zeros(0, dtype=bool)
    if pairs:
        ia, ib = np.triu_indices(L, k=1)
        cross = dim_of[ia] != dim_of[ib]
        ia, ib = ia[cross], ib[cross]
        sz = G[ia, ib]
        fl = F[ia, ib]
        small += int(((sz > 0) & (sz < min_size)).sum())
        ok = (sz >= min_size) & (sz < np.minimum(size1[ia], size1[ib]))
        ia, ib, sz, fl = ia[ok], ib[ok], sz[ok], fl[ok]
        # does the pair add over each parent? test it against the rest of the parent
        pa = fisher_vs_rest(fl, sz, fail1[ia], size1[ia])
        pb = fisher_vs_rest(fl, sz, fail1[ib], size1[ib])
        # corrected over all pairs tested, so chance differences within a parent do not pass
        pair_keep = benjamini_hochberg(np.maximum(pa, pb)) < alpha
        rec["a"] += ia.tolist()
        rec["b"] += ib.tolist()
        rec["size"] += sz.tolist()
        rec["fail"] += fl.tolist()
    a = np.asarray(rec["a"], dtype=np.int64)
    b = np.asarray(rec["b"], dtype=np.int64)
    size = np.asarray(rec["size"], dtype=np.float64)
    fail = np.asarray(rec["fail"], dtype=np.float64)
    log_p = log_fisher_vs_rest(fail, size, K, n)
    log_adj = log_benjamini_hochberg(log_p)
    report = np.concatenate([np.ones(idx1.size, dtype=bool), pair_keep])
    attrs["n_tested"] = int(size.size)
    attrs["n_small"] = small
    attrs["n_pairs_dropped"] = int((~pair_keep).sum())
    a, b, size, fail, log_p, log_adj = (v[report] for v in (a, b, size, fail, log_p, log_adj))
    rate = fail / size
    lo, hi = wilson(fail, size)
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = rate / baseline if baseline > 0 else np.full(rate.shape, np.nan)
    cols_a = [cols[i] for i in a]
    vals_a = [vals[i] for i in a]
    cols_b = [cols[i] if i >= 0 else None for i in b]
    vals_b = [vals[i] if i >= 0 else None for i in b]
    names = [
        _slice_name(ca, va) + ("" if cb is None or vb is None else " & " + _slice_name(cb, vb))
        for ca, va, cb, vb in zip(cols_a, vals_a, cols_b, vals_b)
    ]
    out = pd.DataFrame(
        {
            "slice": pd.Series(names, dtype=object),
            "order": np.where(b >= 0, 2, 1),
            "column": pd.Series(cols_a, dtype=object),
            "value": pd.Series(vals_a, dtype=object),
            "column_2": pd.Series(cols_b, dtype=object),
            "value_2": pd.Series(vals_b, dtype=object),
            "size": size.astype(np.int64),
            "share": size / n,
            "failures": fail.astype(np.int64),
            "failure_rate": rate,
            "ci_low": lo,
            "ci_high": hi,
            "lift": lift,
            "direction": pd.Series(np.where(rate > baseline, "higher", np.where(rate < baseline, "lower", "same")), dtype=object),
            "p_value": np.exp(log_p),
            "p_adjusted": np.exp(log_adj),
            "evidence": -log_adj / np.log(10),
            "significant": log_adj < np.log(alpha),
        }
    )
    # slices with the very same rows (channel = email and service.name = support-email-bot, say)
    # are one slice with several definitions: keep the first, list the others in ``same_as``.
    # Only slices of equal size and failures can be the same: their rows are compared (by a
    # digest of each block's rows), in the pass over the rows that also finds the examples
    key = pd.Series(list(zip(size.tolist(), fail.tolist())))
    maybe_same = key.duplicated(keep=False).to_numpy()
    sigs, first_fails = rows.slice_rows(a, b, maybe_same, n_examples)
    keep, same_as = _merge_identical(sigs, size, fail, names)
    attrs["n_merged"] = int((~keep).sum())
    out["same_as"] = pd.Series(same_as, dtype=object)
    out = out[keep].reset_index(drop=True)
    log_p = log_p[keep]
    # examples: the first failing ids of each slice
    examples = [[ids[r] for r in first_fails[i]] for i in np.flatnonzero(keep)]
    out["examples"] = pd.Series(examples, dtype=object)
    # strongest evidence first; among equal evidence, where failures concentrate first
    order = np.lexsort((-np.nan_to_num(out["lift"].to_numpy(), nan=0.0), log_p))
    out = out.iloc[order].reset_index(drop=True)
    table = SliceTable(out)
    table.attrs.update(attrs)
    return table


def _block_matrix(block: tuple[Any, ...], n_values: int) -> Any:
    """The rows x values 0/1 matrix of a block of rows (CSR), from its level codes."""
    from scipy import sparse

    _, codes, listed, yb = block
    nb = yb.size
    r = np.repeat(np.arange(nb), codes.shape[1])
    c = codes.ravel()
    ok = c >= 0
    rs, cs = [r[ok]], [c[ok].astype(np.int64)]
    for off, m in listed:
        coo = m.tocoo()
        rs.append(coo.row.astype(np.int64))
        cs.append(coo.col.astype(np.int64) + off)
    rr, cc = np.concatenate(rs), np.concatenate(cs)
    return sparse.csr_matrix((np.ones(rr.size, dtype=np.float64), (rr, cc)), shape=(nb, n_values))


def _block_counts(block: tuple[Any, ...], n_values: int, pairs: bool) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    """Sizes and failures of every value (and pair of values) over one block of rows."""
    X = _block_matrix(block, n_values)
    yf = block[3]
    size1 = np.asarray(X.sum(axis=0)).ravel()
    fail1 = np.asarray(X.T @ yf).ravel()
    if not pairs:
        return size1, fail1, None, None
    G = (X.T @ X).toarray()
    Xf = X[yf > 0.5]
    F = (Xf.T @ Xf).toarray()
    return size1, fail1, G, F


def _block_slice_rows(block: tuple[Any, ...], n_values: int, a: np.ndarray, b: np.ndarray, digest: np.ndarray,
                      n_examples: int) -> tuple[list[bytes | None], list[np.ndarray]]:
    """For each slice (value ``a[i]``, and ``b[i]`` when >= 0) over one block of rows: a digest
    of its rows (where ``digest[i]``) and its first ``n_examples`` failing rows (row numbers of
    the whole frame)."""
    import hashlib

    start, yb = block[0], block[3] > 0.5
    X = _block_matrix(block, n_values).tocsc()
    X.sort_indices()
    fail_rows = np.flatnonzero(yb)
    Xf = X[fail_rows].tocsc()
    Xf.sort_indices()

    def col(M: Any, j: int) -> np.ndarray:
        return M.indices[M.indptr[j]:M.indptr[j + 1]]

    sigs: list[bytes | None] = []
    firsts: list[np.ndarray] = []
    for ja, jb, d in zip(a.tolist(), b.tolist(), digest.tolist()):
        rf = col(Xf, ja)
        if jb >= 0:
            rf = np.intersect1d(rf, col(Xf, jb), assume_unique=True)
        firsts.append(fail_rows[rf[:n_examples]] + start)
        if d:
            r = col(X, ja)
            if jb >= 0:
                r = np.intersect1d(r, col(X, jb), assume_unique=True)
            sigs.append(hashlib.blake2b((r + start).astype(np.int64).tobytes(), digest_size=16).digest())
        else:
            sigs.append(None)
    return sigs, firsts


class _Rows:
    """The rows of a :func:`find_slices` run, cut into blocks that each hold, per row, the value
    number of each one-value dimension (-1: none) and the rows of each list dimension: one block
    here, or several, put on the Ray cluster once, whose tasks build each block's indicator matrix
    and count it (counts are whole numbers, so the sums are exact and the totals the same); the
    tests and the correction run on the driver."""

    def __init__(self, dims: list[Any], yf: np.ndarray, engine: Any) -> None:
        from llmops_nb.engines import resolve_engine

        self.eng = resolve_engine(engine)
        n = yf.size
        widths = [len(d.labels) for d in dims]
        offsets = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
        self.n_values = int(sum(widths))
        single = [np.where(d.codes >= 0, d.codes + off, -1) for d, off in zip(dims, offsets) if d.single]
        codes = np.stack(single, axis=1).astype(np.int32) if single else np.zeros((n, 0), dtype=np.int32)
        listed = [(int(off), d.codes.tocsr()) for d, off in zip(dims, offsets) if not d.single]
        self.on_ray = self.eng.is_ray and n >= 2
        if not self.on_ray:
            self.blocks: list[Any] = [(0, codes, listed, yf)]
            self.spans = [(0, n)]
            return
        from llmops_nb.engines import tasks_for

        k = tasks_for(self.eng, n, per_cpu=1)
        bounds = [round(i * n / k) for i in range(k + 1)]
        self.spans = [(s, e) for s, e in zip(bounds, bounds[1:]) if e > s]
        ray = self.eng.connect()
        # each block goes to the cluster once and serves both passes
        self.blocks = [ray.put((s, codes[s:e], [(off, m[s:e]) for off, m in listed], yf[s:e])) for s, e in self.spans]

    def _run(self, fn: Any, args: tuple[Any, ...], desc: str) -> list[Any]:
        if not self.on_ray:
            return [fn(self.blocks[0], *args)]
        from llmops_nb.engines import run_tasks

        return run_tasks(self.eng, fn, [(blk, *args) for blk in self.blocks],
                         labels=[f"rows {s}-{e - 1}" for s, e in self.spans],
                         weights=[e - s for s, e in self.spans], desc=desc)

    def counts(self, pairs: bool) -> tuple[np.ndarray, np.ndarray, Any, Any]:
        """Size and failures of every value and (with ``pairs``) of every pair of values."""
        parts = self._run(_block_counts, (self.n_values, pairs), "find_slices counts")
        size1 = sum(p[0] for p in parts)
        fail1 = sum(p[1] for p in parts)
        G = sum(p[2] for p in parts) if pairs else None
        F = sum(p[3] for p in parts) if pairs else None
        return size1, fail1, G, F

    def slice_rows(self, a: np.ndarray, b: np.ndarray, digest: np.ndarray,
                   n_examples: int) -> tuple[list[bytes | None], list[np.ndarray]]:
        """For each slice: the digest of its rows (block by block; where ``digest``) and its first
        ``n_examples`` failing rows."""
        parts = self._run(_block_slice_rows, (self.n_values, a, b, digest, n_examples), "find_slices examples")
        sigs = [b"".join(p[0][i] for p in parts) if digest[i] else None for i in range(len(a))]
        firsts = [np.concatenate([p[1][i] for p in parts])[:n_examples] for i in range(len(a))]
        return sigs, firsts


def _merge_identical(sigs: list[bytes | None], size: np.ndarray, fail: np.ndarray,
                     names: list[str]) -> tuple[np.ndarray, list[list[str]]]:
    """Which slices to keep (the first of each set of slices with identical rows) and, for each
    kept slice, the definitions of the others. Only slices with equal size and failures are
    compared, by the digest of their rows (``sigs``)."""
    keep = np.ones(len(sigs), dtype=bool)
    same_as: list[list[str]] = [[] for _ in range(len(sigs))]
    groups: dict[tuple[float, float], list[int]] = {}
    for i, key in enumerate(zip(size.tolist(), fail.tolist())):
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        if len(members) < 2:
            continue
        first: dict[bytes, int] = {}
        for i in members:
            sig = sigs[i]
            assert sig is not None  # every member of a group of two or more has its digest
            if sig in first:
                keep[i] = False
                same_as[first[sig]].append(names[i])
            else:
                first[sig] = i
    return keep, same_as


def plot_slices(slices: pd.DataFrame, top: int = 20, *, only_significant: bool = False) -> Any:
    """A plotly chart of the top slices: failure rate with its Wilson 95% interval, the
    baseline as a vertical line, significant slices highlighted.

    Example:
        >>> import pandas as pd
        >>> s = pd.DataFrame({"slice": ["a = 1"], "failure_rate": [.3], "ci_low": [.2],
        ...     "ci_high": [.4], "significant": [True], "size": [100], "p_adjusted": [1e-5]})
        >>> plot_slices(s).data[0].type
        'scatter'
    """
    import plotly.graph_objects as go

    s = slices[slices["significant"]] if only_significant else slices
    s = s.head(top).iloc[::-1]
    sig = s["significant"].fillna(False).astype(bool).to_numpy()
    hover = np.array([
        f"{name}<br>rate {r:.1%} [{lo:.1%}, {hi:.1%}]<br>n={n:,}<br>p_adj={pa:.2g}"
        for name, r, lo, hi, n, pa in zip(s["slice"], s["failure_rate"], s["ci_low"], s["ci_high"], s["size"], s["p_adjusted"])
    ], dtype=object)
    fig = go.Figure()
    # one trace per colour: plotly colours the interval bars from a single colour, never from a
    # per-point array (that logs "Invalid color specifier" in the browser and draws them black)
    for mask, color, name in ((~sig, "#7f7f7f", "not significant"), (sig, "#d62728", "significant")):
        part = s[mask]
        if len(part) == 0:
            continue
        fig.add_trace(go.Scatter(
            x=part["failure_rate"],
            y=part["slice"],
            mode="markers",
            marker={"color": color, "size": 9},
            error_x={
                "type": "data", "symmetric": False, "color": color, "thickness": 2, "width": 4,
                "array": (part["ci_high"] - part["failure_rate"]).to_numpy(),
                "arrayminus": (part["failure_rate"] - part["ci_low"]).to_numpy(),
            },
            hovertext=hover[mask],
            hoverinfo="text",
            name=f"{name} (rate, 95% Wilson interval)",
        ))
    baseline = slices.attrs.get("baseline")
    if baseline is not None:
        fig.add_vline(x=baseline, line_dash="dash", line_color="#1f77b4",
                      annotation_text=f"baseline {baseline:.1%}", annotation_position="top")
    title = f"Top slices by evidence ({slices.attrs.get('outcome', 'outcome')}); red = significant"
    fig.update_layout(title=title, xaxis_title="failure rate", xaxis_tickformat=".0%",
                      height=max(300, 28 * len(s) + 120), margin={"l": 10}, showlegend=False)
    fig.update_yaxes(categoryorder="array", categoryarray=list(s["slice"]))
    return fig
