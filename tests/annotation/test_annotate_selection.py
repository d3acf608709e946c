"""Selections on a plotly FigureWidget reach a queue (the browser test drives a real drag)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.callbacks import BoxSelector, Points

import llmops_nb as lo
from llmops_nb.annotation import queue_from_selection


def _select(fig, per_trace):
    for i, inds in per_trace.items():
        tr = fig.data[i]
        pts = Points(point_inds=inds, xs=[tr.x[j] for j in inds], ys=[tr.y[j] for j in inds], trace_name=tr.name,
                     trace_index=i)
        tr._dispatch_on_selection(pts, BoxSelector(xrange=[0, 1], yrange=[0, 1]))


def test_customdata_maps_points_to_rows(store):
    df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(6)], "x": range(6), "y": range(6)})
    fig = go.FigureWidget([go.Scatter(x=df.x[:3], y=df.y[:3], customdata=df[["trace_id"]][:3], mode="markers"),
                           go.Scatter(x=df.x[3:], y=df.y[3:], customdata=df[["trace_id"]][3:], mode="markers")])
    seen = []
    sel = queue_from_selection(fig, df, on_select=lambda rows: seen.append(rows["trace_id"].tolist()))
    _select(fig, {0: [0, 2], 1: [1]})
    assert sel.selected["trace_id"].tolist() == ["t0", "t2", "t4"] and seen[-1] == ["t0", "t2", "t4"]
    w = sel.annotate("correct", store, "alice", queue="sequential")
    assert w.session.order == ["t0", "t2", "t4"] and w.session.queue_name == "selection"


def test_xy_matching_for_the_cluster_map():
    df = pd.DataFrame({"trace_id": list("abcd"), "x": [0.1, 0.2, 0.3, 0.4], "y": [1.0, 2.0, 3.0, 4.0],
                       "cluster": [0, 1, 0, 1]})
    fig = go.FigureWidget([go.Scatter(x=g.x, y=g.y, mode="markers") for _, g in df.groupby("cluster")])
    sel = lo.queue_from_selection(fig, df, x="x", y="y")
    _select(fig, {0: [1], 1: [0, 1]})  # c (cluster 0), b and d (cluster 1)
    assert sorted(sel.selected["trace_id"]) == ["b", "c", "d"]
    with pytest.raises(ValueError, match="nothing is selected"):
        lo.queue_from_selection(fig, df, x="x", y="y").annotate()


def test_needs_a_figure_widget():
    with pytest.raises(TypeError, match="FigureWidget"):
        queue_from_selection(object(), pd.DataFrame())
