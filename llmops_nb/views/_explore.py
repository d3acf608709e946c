"""``lo.explore``: a trace table (sort, filter, search, paging over millions of rows) beside the
trace viewer; a selection becomes a DataFrame, an annotation queue or a dataset."""

from __future__ import annotations

import html as _html
import os
import threading
import traceback
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.views._assets import asset_path, asset_text
from llmops_nb.views._table import Derived, MetadataColumns, ResultColumns, TableEngine

__all__ = ["explore", "Explorer"]

_DEFAULT_COLUMNS = ("trace_id", "name", "start_time", "input_text", "output_text", "latency_ms", "n_spans",
                    "n_errors", "total_tokens", "cost_usd", "has_error", "models")


def _esc(v: Any) -> str:
    return _html.escape("" if v is None else str(v), quote=True)


class Explorer:
    """The state behind :func:`explore`: the table engine, the query, the selection. The widget
    (``.widget``) is a thin view of it; everything here also works without a browser.

    Example:
        >>> import pandas as pd
        >>> ex = Explorer(pd.DataFrame({"trace_id": ["a", "b"], "input_text": ["hi", "yo"]}))
        >>> ex.select(["b"]); ex.selected["trace_id"].tolist()
        ['b']
    """

    def __init__(self, traces: pd.DataFrame, *, spans: pd.DataFrame | None = None,
                 results: pd.DataFrame | None = None, labels: pd.DataFrame | None = None,
                 columns: Iterable[str] | None = None, slices: pd.DataFrame | None = None,
                 page_size: int = 50) -> None:
        if not isinstance(traces, pd.DataFrame):
            raise TypeError(f"traces must be a traces DataFrame (lo.to_traces(spans)), not {type(traces).__name__}")
        if "trace_id" not in traces.columns:
            if "span_id" in traces.columns:
                raise ValueError("explore takes the traces table (one row per trace): pass lo.to_traces(spans) "
                                 "and spans=spans")
            raise ValueError(f"traces has no 'trace_id' column; columns: {list(traces.columns)[:20]}")
        idx = traces.index
        plain = isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1
        self.traces = traces if plain else traces.reset_index(drop=True)  # copy-on-write: no data copied
        self.spans, self.results, self.labels = spans, results, labels
        # metadata keys and result values are columns the view can show, filter and sort, built
        # lazily: only their names and kinds now, a page's rows when shown, a whole column when
        # a filter or a sort first needs it (see views/_table.py)
        derived: dict[str, Derived] = {}
        if "metadata" in self.traces.columns and len(self.traces):
            meta = MetadataColumns(self.traces["metadata"])
            derived.update({f"metadata.{k}": meta.column(k) for k in meta.kinds})
        if results is not None and len(results) and {"evaluator", "trace_id"} <= set(results.columns):
            res = ResultColumns(results, self.traces["trace_id"])
            derived.update({f"result.{e}": res.column(e) for e in res.kinds})
        self.engine = TableEngine(self.traces, derived=derived)
        cols = self.engine.columns
        shown = list(columns) if columns is not None else [c for c in _DEFAULT_COLUMNS if c in cols]
        for c in shown:
            self.engine._check(c)
        if "trace_id" not in shown:
            shown.insert(0, "trace_id")
        names = [c for c in cols if c.startswith(("result.", "metadata."))]
        self.shown = shown + [c for c in names if c not in shown and columns is None][:12]
        self.query: dict[str, Any] = {"filters": [], "search": "", "sort": None, "desc": False, "offset": 0,
                                      "size": page_size}
        self.slices = slices
        self._slice_masks: Any = None
        self._selected: list[str] = []
        self._selected_set: set[str] = set()
        self.focus: str | None = None
        self._by_trace: dict[str, tuple[dict[str, int], np.ndarray, np.ndarray]] = {}

    # ---- the table
    def page(self, query: dict[str, Any] | None = None) -> dict[str, Any]:
        """Apply ``query`` (merged into the current one) and return the visible page."""
        q = {**self.query, **(query or {})}
        page = self.engine.page(q, self.shown)  # raises on a bad query, which is then not kept
        self.query = q
        return page

    @property
    def frame(self) -> pd.DataFrame:
        """The whole table: the traces plus every ``metadata.*`` and ``result.*`` column (each
        built here if no filter or sort has built it yet: slow on a big table; the view never
        builds it)."""
        return self.engine.materialize()

    @property
    def matching(self) -> pd.DataFrame:
        """The traces matching the current filters and search, in the current sort order."""
        return self.traces.iloc[self.engine.positions(self.query)]

    # ---- the selection
    def select(self, trace_ids: Iterable[Any], *, add: bool = False) -> None:
        """Select these traces (replacing the selection unless ``add``)."""
        ids = [str(t) for t in trace_ids]
        known = set(self.engine.rows_of(ids)["trace_id"].astype(str))
        unknown = [t for t in ids if t not in known]
        if unknown:
            raise KeyError(f"trace ids not in the table: {unknown[:5]}{' ...' if len(unknown) > 5 else ''}")
        base = self._selected if add else []
        self._set_selection(list(dict.fromkeys([*base, *ids])))

    def unselect(self, trace_ids: Iterable[Any]) -> None:
        """Take these traces out of the selection."""
        drop = {str(t) for t in trace_ids}
        self._set_selection([t for t in self._selected if t not in drop])

    def _set_selection(self, ids: list[str]) -> None:
        self._selected = ids
        self._selected_set = set(ids)

    def select_matching(self) -> None:
        """Select every row that matches the current filters and search."""
        self._set_selection(self.matching["trace_id"].astype(str).tolist())

    def select_slice(self, i: int) -> None:
        """Select the members of slice ``i`` (a row of the ``slices`` table passed to explore)."""
        if self.slices is None or len(self.slices) == 0:
            raise ValueError("no slices: pass slices=lo.find_slices(...) to explore")
        if not 0 <= i < len(self.slices):
            raise IndexError(f"slice {i} does not exist; there are {len(self.slices)} slices")
        if self._slice_masks is None:
            from llmops_nb.analysis import slice_masks

            needed = {*self.slices.get("column", pd.Series(dtype=object)).dropna(),
                      *self.slices.get("column_2", pd.Series(dtype=object)).dropna()}
            extra = {c: self.engine.column(c) for c in needed if c in self.engine.derived}
            frame = self.traces.assign(**extra) if extra else self.traces
            self._slice_masks = slice_masks(frame, self.slices)
        m = np.asarray(self._slice_masks[:, i], dtype=bool)
        self._set_selection(self.traces.loc[m, "trace_id"].astype(str).tolist())

    def clear(self) -> None:
        """Empty the selection."""
        self._set_selection([])

    @property
    def selected(self) -> pd.DataFrame:
        """The selected traces (rows of the traces table passed in, in selection order)."""
        sub = self.engine.rows_of(self._selected)
        return self.traces.iloc[sub.index]

    def annotate(self, schema: Any = None, store: Any = None, annotator: str | None = None, **kw: Any) -> Any:
        """An annotation queue over the selected traces (see :func:`llmops_nb.annotate`)."""
        from llmops_nb.annotation import annotate

        if len(self._selected) == 0:
            raise ValueError("nothing is selected: tick rows, click a slice or lasso points on a linked map first")
        kw.setdefault("queue_name", "explore")
        kw.setdefault("queue", "sequential")
        if self.spans is not None:
            kw.setdefault("spans", self.spans)
        if self.results is not None:
            kw.setdefault("results", self.results)
        return annotate(self.selected, schema, store, annotator, **kw)

    def to_examples(self, **kw: Any) -> pd.DataFrame:
        """The selected traces as dataset examples (see :func:`llmops_nb.datasets.to_examples`);
        results and labels passed to explore are carried as lineage."""
        from llmops_nb.datasets import to_examples

        if len(self._selected) == 0:
            raise ValueError("nothing is selected: tick rows, click a slice or lasso points on a linked map first")
        kw.setdefault("results", self.results)
        kw.setdefault("labels", self.labels)
        return to_examples(self.selected, **kw)

    # ---- the trace pane
    def trace_html(self, trace_id: str | None) -> str:
        """The trace viewer's HTML for one trace (a summary of the row when no spans were given)."""
        if trace_id is None:
            return "<div class='lo-ex-empty'>Click a row to see its trace.</div>"
        if self.spans is not None and "trace_id" in self.spans.columns:
            from llmops_nb.annotation import show_trace

            sub = self.spans.iloc[self._rows_by_trace("spans", self.spans, str(trace_id))]
            if len(sub):
                res = None
                if self.results is not None and "trace_id" in self.results.columns:
                    res = self.results.iloc[self._rows_by_trace("results", self.results, str(trace_id))]
                return show_trace(sub, str(trace_id), res).html
        row = self.engine.rows_of([trace_id])
        if len(row) == 0:
            return f"<div class='lo-ex-empty'>trace {_esc(trace_id)} is not in the table</div>"
        r = self.engine.row(int(row.index[0]))
        items = "".join(f"<tr><th>{_esc(c)}</th><td>{_esc(v)}</td></tr>" for c, v in r.items()
                        if v is not None and not (isinstance(v, float) and np.isnan(v)) and v is not pd.NA)
        return f"<table class='lo-ex-detail'>{items}</table>"

    def _rows_by_trace(self, name: str, frame: pd.DataFrame, trace_id: str) -> np.ndarray:
        """The positions of ``frame``'s rows of one trace: the frame's trace ids are grouped once
        (on the first click), so opening a trace does not scan millions of spans each time."""
        idx = self._by_trace.get(name)
        if idx is None:
            codes, uniques = pd.factorize(frame["trace_id"].astype("str"))
            order = np.argsort(codes, kind="stable")
            starts = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
            where = {str(t): i for i, t in enumerate(uniques)}
            idx = self._by_trace[name] = (where, order, starts)
        where, order, starts = idx
        i = where.get(trace_id)
        return order[starts[i]:starts[i + 1]] if i is not None else np.array([], dtype=np.int64)

    def __repr__(self) -> str:
        p = self.engine.positions(self.query)
        return (f"Explorer({len(self.traces):,} traces, {len(p):,} matching, {len(self._selected):,} selected, "
                f"{len(self.shown)} columns shown)")


_widget_cls: Any = None


def _widget_class() -> Any:
    global _widget_cls
    if _widget_cls is not None:
        return _widget_cls
    import anywidget
    import traitlets

    class ExploreWidget(anywidget.AnyWidget):
        """The explore view; see :func:`llmops_nb.explore`."""

        _esm = asset_path("explore.js")
        _css = asset_path("explore.css")
        columns: traitlets.List[dict[str, str]] = traitlets.List().tag(sync=True)  # [{name, kind}] every column (for filters)
        shown: traitlets.List[str] = traitlets.List().tag(sync=True)  # the columns of the table
        query = traitlets.Dict().tag(sync=True)  # from the view: filters, search, sort, desc, offset, size
        page = traitlets.Dict().tag(sync=True)  # to the view: rows, matching, total, offset, ms, error
        # the selection stays in Python: the view gets its size and which rows of the page are in it
        selected_count = traitlets.Int(0).tag(sync=True)
        page_selected: traitlets.List[str] = traitlets.List().tag(sync=True)
        focus = traitlets.Unicode("").tag(sync=True)
        trace_html = traitlets.Unicode("").tag(sync=True)
        slices: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)
        trace_css = traitlets.Unicode("").tag(sync=True)

        def __init__(self, ex: Explorer, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.explorer = ex
            self._links: list[Any] = []
            self.trace_css = asset_text("trace_view.css")
            self.columns = ex.engine.catalog()
            self.shown = ex.shown
            self.slices = _slice_rows(ex.slices)
            self.query = dict(ex.query)
            self.page = ex.page()
            self.trace_html = ex.trace_html(None)
            self._warm: threading.Thread | None = None
            self._idle = threading.Event()  # clear while the view answers a request: warming waits
            self._idle.set()
            self.observe(self._on_query, "query")
            self.observe(self._on_focus, "focus")
            self.on_msg(self._on_msg)

        def _on_query(self, change: Any) -> None:
            self._idle.clear()
            try:
                self._answer(dict(change["new"]))
            finally:
                self._idle.set()

        def _answer(self, new: dict[str, Any]) -> None:
            try:
                page = self.explorer.page(new)
            except (KeyError, ValueError, TypeError) as e:
                self.page = {**self.page, "error": str(e).strip("'\""), "seq": new.get("seq")}
                return
            page["seq"] = new.get("seq")  # the view times its request to this page
            with self.hold_sync():  # the page and its ticks in one message
                self.page_selected = self._page_selected(page)
                self.page = page

        def _page_selected(self, page: dict[str, Any]) -> list[str]:
            sel = self.explorer._selected_set
            return [str(r["trace_id"]) for r in page.get("rows", []) if str(r["trace_id"]) in sel]

        def _on_focus(self, change: Any) -> None:
            try:
                self.trace_html = self.explorer.trace_html(change["new"] or None)
            except Exception as e:  # noqa: BLE001  the view must keep answering
                self.trace_html = f"<div class='lo-ex-error'>{_esc(type(e).__name__)}: {_esc(e)}</div>"
                if os.environ.get("LLMOPS_NB_DEBUG"):
                    traceback.print_exc()

        def _on_msg(self, _w: Any, content: dict[str, Any], _buffers: Any) -> None:
            kind = content.get("type")
            if kind == "painted":
                self.warm()
                return
            try:
                if kind == "toggle":
                    tid = str(content.get("id"))
                    if content.get("on"):
                        self.explorer.select([tid], add=True)
                    else:
                        self.explorer.unselect([tid])
                elif kind == "select_matching":
                    self.explorer.select_matching()
                elif kind == "select_slice":
                    self.explorer.select_slice(int(content.get("index", -1)))
                elif kind == "clear":
                    self.explorer.clear()
                self._push_selection()
            except (KeyError, ValueError, IndexError) as e:
                self.page = {**self.page, "error": str(e).strip("'\"")}

        def warm(self) -> None:
            """In a background thread (once), once the view has painted its first page: index
            results by trace (later pages look their values up instead of scanning), then build
            the sort order of each shown column and the search text, one column at a time and
            only while the view is not answering a request, so a first sort, filter or search
            finds them ready."""
            if self._warm is None:
                engine = self.explorer.engine
                self._warm = threading.Thread(target=engine.warm, args=(list(self.explorer.shown),),
                                              kwargs={"idle": self._idle.wait}, name="llmops-nb-explore-index",
                                              daemon=True)
                self._warm.start()

        def _push_selection(self) -> None:
            self.page_selected = self._page_selected(self.page)
            self.selected_count = len(self.explorer._selected)

        # ---- the Python side of the selection
        @property
        def selected(self) -> pd.DataFrame:
            """The selected traces as a DataFrame."""
            return self.explorer.selected

        def select(self, trace_ids: Iterable[Any], *, add: bool = False) -> None:
            """Select these traces (the view shows them ticked)."""
            self.explorer.select(trace_ids, add=add)
            self._push_selection()

        def select_matching(self) -> None:
            """Select every row that matches the current filters and search."""
            self.explorer.select_matching()
            self._push_selection()

        def select_slice(self, i: int) -> None:
            """Select the members of slice ``i`` of the ``slices`` table."""
            self.explorer.select_slice(i)
            self._push_selection()

        def link(self, fig: Any, frame: pd.DataFrame | None = None, **kw: Any) -> Any:
            """Link a plotly ``FigureWidget`` scatter (the cluster or topic map): a lasso or box
            selection on it selects its traces here. ``frame`` is the frame the map was drawn
            from (with ``trace_id``); ``kw`` go to :func:`llmops_nb.queue_from_selection`."""
            from llmops_nb.annotation import queue_from_selection

            if frame is None:
                frame = self.explorer.traces

            def on_select(rows: pd.DataFrame) -> None:
                ids = rows["trace_id"].astype(str).tolist() if "trace_id" in rows.columns else []
                known = [i for i in ids if len(self.explorer.engine.rows_of([i]))]
                self.explorer.select(known)
                self._push_selection()

            sq = queue_from_selection(fig, frame, on_select=on_select, **kw)
            self._links.append(sq)
            return sq

        def annotate(self, schema: Any = None, store: Any = None, annotator: str | None = None, **kw: Any) -> Any:
            """An annotation queue over the selection (see :func:`llmops_nb.annotate`)."""
            return self.explorer.annotate(schema, store, annotator, **kw)

        def to_examples(self, **kw: Any) -> pd.DataFrame:
            """The selection as dataset examples (see :func:`llmops_nb.datasets.to_examples`)."""
            return self.explorer.to_examples(**kw)

        def _repr_mimebundle_(self, **kwargs: Any) -> Any:
            bundle = super()._repr_mimebundle_(**kwargs)
            data = bundle[0] if isinstance(bundle, tuple) else bundle
            if isinstance(data, dict):
                data["text/html"] = snapshot_html(self.explorer, page=self.page)
                data["text/plain"] = repr(self)
            return bundle

        def __repr__(self) -> str:
            return repr(self.explorer).replace("Explorer(", "ExploreWidget(", 1)

    _widget_cls = ExploreWidget
    return _widget_cls


def _slice_rows(slices: pd.DataFrame | None) -> list[dict[str, Any]]:
    if slices is None or len(slices) == 0:
        return []
    out = []
    for i, (_, r) in enumerate(slices.iterrows()):
        d = {"index": i, "slice": str(r.get("slice", i))}
        for c in ("n", "failure_rate", "lift"):
            if c in slices.columns and pd.notna(r.get(c)):
                d[c] = float(r[c])
        out.append(d)
    return out


def snapshot_html(ex: Explorer, rows: int = 20, page: dict[str, Any] | None = None) -> str:
    """The view as static HTML (no script): the first rows of the current page (``page``, the
    one the view shows, or computed) and the counts; exported notebooks and reports show it
    where no kernel runs the widget."""
    p = page if page is not None and "rows" in page else ex.page()
    head = "".join(f"<th>{_esc(c)}</th>" for c in ex.shown)
    body = "".join("<tr>" + "".join(f"<td>{_esc(r.get(c))}</td>" for c in ex.shown) + "</tr>" for r in p["rows"][:rows])
    sel = len(ex._selected)
    return (f"<style>{asset_text('explore.css')}</style><div class='lo-ex lo-ex-snapshot'>"
            f"<div class='lo-ex-bar'><span class='lo-ex-count'>{p['matching']:,} of {p['total']:,} traces"
            f"{f' · {sel:,} selected' if sel else ''}</span></div>"
            f"<div class='lo-ex-tablewrap'><table class='lo-ex-table'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div>"
            "<div class='lo-ex-hint'>A static snapshot of lo.explore: run the notebook to sort, filter and "
            "open traces.</div></div>")


def explore(traces: pd.DataFrame, spans: pd.DataFrame | None = None, results: pd.DataFrame | None = None, *,
            labels: pd.DataFrame | None = None, columns: Iterable[str] | None = None,
            slices: pd.DataFrame | None = None, page_size: int = 50) -> Any:
    """Browse traces: a table (click a header to sort; filter on any column, metadata keys as
    ``metadata.<key>`` and evaluator results as ``result.<evaluator>``; free-text search over
    ids, names, inputs and outputs) beside the trace viewer for the clicked row. Paging, sorting
    and filtering run in Python (sort orders computed once per column), only the visible page is
    sent to the browser, so a million traces stay responsive.

    A selection (ticked rows, "select all matching", a clicked row of ``slices``
    (``lo.find_slices``), or a lasso on a map linked with ``w.link(fig)``) is ``w.selected`` (a
    DataFrame); ``w.annotate(schema, store)`` opens a queue over it and ``w.to_examples()``
    makes dataset examples of it.

    Example:
        >>> import llmops_nb as lo
        >>> spans = lo.read_traces([{"trace_id": "t1", "span_id": "s", "kind": "llm", "input_text": "hi"}],
        ...                        format="records")
        >>> w = lo.explore(lo.to_traces(spans), spans=spans)
        >>> w.select(["t1"]); w.selected["trace_id"].tolist()
        ['t1']
    """
    ex = Explorer(traces, spans=spans, results=results, labels=labels, columns=columns, slices=slices,
                  page_size=page_size)
    return _widget_class()(ex)
