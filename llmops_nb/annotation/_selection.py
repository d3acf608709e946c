"""From a lasso or box selection on a plotly scatter (the cluster map) to an annotation queue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["queue_from_selection", "SelectionQueue"]


class SelectionQueue:
    """The rows of ``frame`` selected on a plotly ``FigureWidget`` (updated on every lasso or box
    selection); ``.annotate(...)`` opens an annotation queue over them.

    Rows are matched to points through the trace's ``customdata`` (its first value compared with
    ``frame[key]``), else through the point's x/y against ``frame[x]``/``frame[y]``, else (one
    trace) by position.

    Example:
        >>> import plotly.graph_objects as go, pandas as pd
        >>> df = pd.DataFrame({"trace_id": ["a", "b"], "x": [0.0, 1.0], "y": [0.0, 1.0]})
        >>> fig = go.FigureWidget(go.Scatter(x=df.x, y=df.y, mode="markers", customdata=df[["trace_id"]]))
        >>> SelectionQueue(fig, df).selected.shape[0]
        0
    """

    def __init__(self, fig: Any, frame: pd.DataFrame, *, key: str | None = None, x: str | None = None,
                 y: str | None = None, on_select: Callable[[pd.DataFrame], Any] | None = None) -> None:
        if not hasattr(fig, "data") or not hasattr(fig.data[0] if fig.data else None, "on_selection"):
            raise TypeError("fig must be a plotly FigureWidget with at least one trace: "
                            "go.FigureWidget(fig) turns a Figure into one")
        self.fig, self.frame = fig, frame
        self.key = key or ("trace_id" if "trace_id" in frame.columns else None)
        self.x, self.y = x, y
        self.on_select = on_select
        self._by_trace: dict[int, list[int]] = {}
        self.selected: pd.DataFrame = frame.iloc[0:0]
        self.events = 0
        self.selector: Any = None  # the last BoxSelector or LassoSelector (data coordinates)
        self._key_pos: dict[Any, int] | None = None
        self._trace_rows: dict[int, list[int]] = {}
        for i, tr in enumerate(fig.data):
            tr.on_selection(self._make_cb(i), append=True)

    def _make_cb(self, i: int) -> Callable[..., None]:
        def cb(trace: Any, points: Any, selector: Any) -> None:
            self.selector = selector
            self._by_trace[i] = self._rows(i, trace, list(points.point_inds), list(points.xs), list(points.ys))
            self._update()

        return cb

    def _rows(self, i: int, trace: Any, inds: list[int], xs: list[Any], ys: list[Any]) -> list[int]:
        if not inds:
            return []
        cd = getattr(trace, "customdata", None)
        if cd is not None and self.key is not None:
            if self._key_pos is None:
                self._key_pos = {k: p for p, k in enumerate(self.frame[self.key].tolist())}
            out = []
            for j in inds:
                v = cd[j]
                v = v[0] if isinstance(v, (list, tuple, np.ndarray)) else v
                if v in self._key_pos:
                    out.append(self._key_pos[v])
            return out
        if self.x and self.y:
            if i not in self._trace_rows:
                # the rows this trace draws, in order, matched on (x, y) at float32 precision;
                # points that coincide each get their own row
                pool: dict[tuple[float, float], list[int]] = {}
                fx = self.frame[self.x].to_numpy(np.float32)
                fy = self.frame[self.y].to_numpy(np.float32)
                for p, key in enumerate(zip(fx.tolist(), fy.tolist())):
                    pool.setdefault(key, []).append(p)
                tx = np.asarray(trace.x if trace.x is not None else xs, dtype=np.float32).tolist()
                ty = np.asarray(trace.y if trace.y is not None else ys, dtype=np.float32).tolist()
                rows = []
                for key in zip(tx, ty):
                    cands = pool.get(key)
                    rows.append(cands.pop(0) if cands else -1)
                self._trace_rows[i] = rows
            rows = self._trace_rows[i]
            return [rows[j] for j in inds if j < len(rows) and rows[j] >= 0]
        if len(self.fig.data) == 1:
            return [i for i in inds if i < len(self.frame)]
        raise ValueError("several traces and no customdata: pass key= (a column carried in customdata) "
                         "or x= and y= (the plotted columns)")

    def _update(self) -> None:
        pos = sorted({p for rows in self._by_trace.values() for p in rows})
        self.selected = self.frame.iloc[pos]
        self.events += 1
        if self.on_select is not None:
            self.on_select(self.selected)

    def annotate(self, schema: Any = None, store: Any = None, annotator: str | None = None, **kw: Any) -> Any:
        """An annotation queue over the selected rows (see :func:`llmops_nb.annotate`)."""
        from llmops_nb.annotation._widget import annotate

        if len(self.selected) == 0:
            raise ValueError("nothing is selected yet: draw a lasso or a box on the figure first")
        kw.setdefault("queue_name", "selection")
        return annotate(self.selected, schema, store, annotator, **kw)

    def __repr__(self) -> str:
        return f"SelectionQueue({len(self.selected)} rows selected of {len(self.frame)}, {self.events} selection events)"


def queue_from_selection(fig: Any, frame: pd.DataFrame, *, key: str | None = None, x: str | None = None,
                         y: str | None = None, on_select: Callable[[pd.DataFrame], Any] | None = None) -> SelectionQueue:
    """Send lasso/box selections on a plotly ``FigureWidget`` scatter (e.g. the cluster map) to
    a queue: returns a :class:`SelectionQueue` whose ``.selected`` holds the selected rows of
    ``frame`` and whose ``.annotate(schema, store, annotator)`` labels them; ``on_select`` is
    called with the rows after each selection.

    Example:
        >>> import plotly.graph_objects as go, pandas as pd
        >>> df = pd.DataFrame({"trace_id": ["a", "b"], "x": [0.0, 1.0], "y": [0.0, 1.0]})
        >>> fig = go.FigureWidget(go.Scatter(x=df.x, y=df.y, mode="markers", customdata=df[["trace_id"]]))
        >>> sel = queue_from_selection(fig, df)
        >>> sel
        SelectionQueue(0 rows selected of 2, 0 selection events)
    """
    return SelectionQueue(fig, frame, key=key, x=x, y=y, on_select=on_select)
