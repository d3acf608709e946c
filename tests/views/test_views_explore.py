"""lo.explore on the Python side: paging, filters (columns, metadata keys, result values),
search, sort orders, selection into a DataFrame, a queue and a dataset, the static snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.views import Explorer


def _traces(n: int = 250) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "trace_id": [f"t{i:04d}" for i in range(n)],
        "name": ["agent"] * n,
        "input_text": [("refund my order" if i % 5 == 0 else "where is my parcel") + f" #{i}" for i in range(n)],
        "output_text": [f"answer {i}" for i in range(n)],
        "latency_ms": rng.uniform(10, 1000, n).round(1),
        "has_error": [i % 7 == 0 for i in range(n)],
        "cost_usd": [None if i % 11 == 0 else 0.001 * i for i in range(n)],
        "metadata": [{"customer_tier": ["free", "pro", "enterprise"][i % 3], "region": "eu" if i % 2 else "us",
                      "turns": i % 4} for i in range(n)],
    })


def _results(traces: pd.DataFrame) -> pd.DataFrame:
    ids = traces["trace_id"].tolist()
    return pd.DataFrame({
        "trace_id": ids + ids,
        "span_id": [None] * (2 * len(ids)),
        "evaluator": ["correct"] * len(ids) + ["tone"] * len(ids),
        "passed": [i % 3 != 0 for i in range(len(ids))] + [None] * len(ids),
        "score": [float(i % 3 != 0) for i in range(len(ids))] + [(i % 10) / 10 for i in range(len(ids))],
        "label": [None] * (2 * len(ids)),
        "error": [None] * (2 * len(ids)),
    })


@pytest.fixture
def ex() -> Explorer:
    t = _traces()
    return Explorer(t, results=_results(t), page_size=20)


def test_pages_cover_every_row_once_in_sort_order(ex):
    seen = []
    for off in range(0, 250, 20):
        p = ex.page({"sort": "latency_ms", "desc": True, "offset": off})
        assert p["total"] == 250 and p["matching"] == 250 and p["offset"] == off
        seen += [(r["trace_id"], r["latency_ms"]) for r in p["rows"]]
    assert len(seen) == 250 and len({t for t, _ in seen}) == 250
    lat = [x for _, x in seen]
    assert lat == sorted(lat, reverse=True)
    # the page is built from the visible rows only and stays small
    assert all(len(ex.page({"offset": o})["rows"]) <= 20 for o in (0, 240))


def test_sort_keeps_nulls_last_both_ways(ex):
    for desc in (False, True):
        pos = ex.engine.positions({"sort": "cost_usd", "desc": desc})
        vals = ex.frame["cost_usd"].to_numpy()[pos]
        k = int(np.isnan(vals.astype(float)).sum())
        assert k == 23 and np.isnan(vals[-k:].astype(float)).all()
        body = vals[:-k].astype(float)
        assert (np.diff(body) <= 0).all() if desc else (np.diff(body) >= 0).all()


def test_filters_on_metadata_keys_results_and_columns_combine(ex):
    t = ex.traces
    p = ex.page({"filters": [{"column": "metadata.customer_tier", "op": "=", "value": "free"},
                             {"column": "result.correct", "op": "=", "value": 0},
                             {"column": "latency_ms", "op": ">", "value": "200"}], "offset": 0, "size": 500})
    tier = t["metadata"].map(lambda m: m["customer_tier"])
    want = t[(tier == "free") & (np.arange(250) % 3 == 0) & (t["latency_ms"] > 200)]["trace_id"]
    assert p["matching"] == len(want) > 0
    assert sorted(r["trace_id"] for r in p["rows"]) == sorted(want)
    # numeric metadata, result scores that are not pass/fail, nulls, text contains
    assert ex.page({"filters": [{"column": "metadata.turns", "op": ">=", "value": 3}]})["matching"] == int((np.arange(250) % 4 == 3).sum())
    assert ex.page({"filters": [{"column": "result.tone", "op": ">", "value": 0.75}]})["matching"] == int((np.arange(250) % 10 >= 8).sum())
    assert ex.page({"filters": [{"column": "cost_usd", "op": "is null"}]})["matching"] == 23
    assert ex.page({"filters": [{"column": "has_error", "op": "=", "value": "true"}]})["matching"] == 36


def test_search_is_case_insensitive_over_text_columns_and_words_and(ex):
    p = ex.page({"filters": [], "search": "REFUND order", "offset": 0})
    assert p["matching"] == 50
    assert ex.page({"search": "refund #15"})["matching"] == 3  # every word must match: #15, #150, #155
    assert ex.page({"search": "t0007"})["matching"] == 1  # ids are searched


def test_bad_filters_name_the_column_and_the_choices(ex):
    with pytest.raises(KeyError, match="no column 'nope'"):
        ex.page({"filters": [{"column": "nope", "op": "=", "value": 1}], "search": ""})
    with pytest.raises(ValueError, match="unknown filter op"):
        ex.page({"filters": [{"column": "latency_ms", "op": "~", "value": 1}]})
    with pytest.raises(ValueError, match="needs a number"):
        ex.page({"filters": [{"column": "latency_ms", "op": ">", "value": "fast"}]})


def test_selection_becomes_a_frame_a_queue_and_examples(ex, tmp_path):
    ex.query = {**ex.query, "filters": [{"column": "metadata.region", "op": "=", "value": "eu"}], "search": "refund"}
    ex.select_matching()
    sel = ex.selected
    assert len(sel) == 25 and set(sel.columns) == set(ex.traces.columns)  # the traces rows, unchanged
    assert sel["metadata"].map(lambda m: m["region"]).eq("eu").all()
    ex.select(["t0001", "t0002"], add=True)
    assert len(ex.selected) == 27
    with pytest.raises(KeyError, match="not in the table"):
        ex.select(["zzz"])
    w = ex.annotate({"ok": "pass_fail"}, lo.Store(tmp_path / "s"), "alice")
    assert w.session.progress()["total"] == 27
    examples = ex.to_examples()
    assert len(examples) == 27 and set(examples["source_trace_id"]) == set(ex.selected["trace_id"])


def test_widget_round_trip_query_and_selection_and_snapshot(tmp_path):
    t = _traces(60)
    w = lo.explore(t, results=_results(t), page_size=10)
    assert len(w.page["rows"]) == 10 and w.page["matching"] == 60
    w.query = {**w.query, "sort": "latency_ms", "offset": 10}  # what the view sends
    lat = [r["latency_ms"] for r in w.page["rows"]]
    assert w.page["offset"] == 10 and lat == sorted(lat) and lat[0] >= sorted(t["latency_ms"])[10]
    w.query = {**w.query, "filters": [{"column": "nope", "op": "="}]}
    assert "no column 'nope'" in w.page["error"]
    w.query = {**w.query, "filters": [], "sort": None, "offset": 0}
    for tid in ("t0003", "t0005", "t0007"):  # ticked in the view
        w._on_msg(w, {"type": "toggle", "id": tid, "on": True}, [])
    w._on_msg(w, {"type": "toggle", "id": "t0007", "on": False}, [])
    assert w.selected["trace_id"].tolist() == ["t0003", "t0005"]
    assert w.selected_count == 2 and w.page_selected == ["t0003", "t0005"]
    w._on_msg(w, {"type": "select_matching"}, [])
    assert w.selected_count == 60 and len(w.page_selected) == 10  # the view gets a count and one page's ticks
    w.select(["t0001"])
    assert w.selected_count == 1 and w.page_selected == ["t0001"]
    w.focus = "t0001"
    assert "t0001" in w.trace_html
    data, _meta = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "lo-ex-snapshot" in data["text/html"] and "<script" not in data["text/html"]
    assert data["text/plain"].startswith("ExploreWidget(60 traces")


def test_trace_pane_uses_the_trace_viewer_with_spans():
    spans = lo.read_traces([{"trace_id": "t1", "span_id": "s1", "kind": "llm", "input_text": "<b>hi</b>"},
                            {"trace_id": "t2", "span_id": "s2", "kind": "tool", "input_text": "x"}], format="records")
    w = lo.explore(lo.to_traces(spans), spans=spans)
    w.focus = "t1"
    assert "&lt;b&gt;hi&lt;/b&gt;" in w.trace_html and "lo-span" in w.trace_html


def test_slice_row_selects_its_members():
    df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(80)], "metadata": [{"c": "a" if i % 2 else "b"} for i in range(80)],
                       "failed": [i % 2 == 1 and i % 3 != 0 for i in range(80)]})
    s = lo.find_slices(df, "failed", min_size=5)
    w = lo.explore(df, slices=s)
    i = int(np.flatnonzero(s["slice"].str.contains("= a"))[0])
    w.select_slice(i)
    assert set(w.selected["trace_id"]) == {f"t{j}" for j in range(80) if j % 2}


def test_lasso_on_a_linked_map_selects_here():
    import plotly.graph_objects as go

    t = _traces(30).assign(x=np.arange(30.0), y=np.arange(30.0))
    w = lo.explore(t)
    fig = go.FigureWidget(go.Scatter(x=t.x, y=t.y, mode="markers", customdata=t[["trace_id"]]))
    sq = w.link(fig, t)
    # what plotly calls on a lasso: the selected points of the trace
    from plotly.callbacks import Points

    fig.data[0]._dispatch_on_selection(Points(point_inds=[2, 4], xs=[2.0, 4.0], ys=[2.0, 4.0], trace_name="",
                                              trace_index=0), None)
    assert w.selected["trace_id"].tolist() == ["t0002", "t0004"] and w.selected_count == 2
    assert len(sq.selected) == 2


def _messy_results(traces: pd.DataFrame) -> pd.DataFrame:
    """Two rows per trace for 'correct' (mean), errors (left out), span-level rows (ignored where
    the evaluator has trace-level ones), a span-only evaluator, a label-only one, unknown ids."""
    ids = traces["trace_id"].tolist()
    rows = []
    for i, t in enumerate(ids):
        rows.append({"trace_id": t, "span_id": None, "evaluator": "correct", "passed": i % 3 != 0, "score": None})
        rows.append({"trace_id": t, "span_id": None, "evaluator": "correct", "passed": i % 2 == 0, "score": None})
        rows.append({"trace_id": t, "span_id": None, "evaluator": "correct", "passed": False, "score": None,
                     "error": "Timeout"})
        rows.append({"trace_id": t, "span_id": "s1", "evaluator": "correct", "passed": False, "score": 0.0})
        rows.append({"trace_id": t, "span_id": "s1", "evaluator": "span_only", "score": (i % 5) / 4})
        if i % 4:
            rows.append({"trace_id": t, "span_id": None, "evaluator": "topic", "label": ["billing", "shipping"][i % 2]})
    rows.append({"trace_id": "elsewhere", "span_id": None, "evaluator": "correct", "passed": True})
    r = pd.DataFrame(rows, columns=["trace_id", "span_id", "evaluator", "passed", "score", "label", "error"])
    return r.sample(frac=1.0, random_state=0).reset_index(drop=True)  # results come in any order


def _expected(traces: pd.DataFrame, r: pd.DataFrame) -> pd.DataFrame:
    """The result columns computed the plain pandas way (what the lazy engine must agree with)."""
    r = r[r["error"].isna()]
    lvl = r["span_id"].isna()
    r = r[lvl | ~lvl.groupby(r["evaluator"]).transform("any")]
    num = r["passed"].astype("Float64").astype(float).where(r["passed"].notna(), pd.to_numeric(r["score"]))
    out = {}
    for ev, g in r.assign(_v=num).groupby("evaluator"):
        if g["_v"].notna().any():
            out[f"result.{ev}"] = traces["trace_id"].map(g.groupby("trace_id")["_v"].mean())
        else:
            out[f"result.{ev}"] = traces["trace_id"].map(g.dropna(subset=["label"]).groupby("trace_id")["label"].first())
    out["metadata.customer_tier"] = traces["metadata"].map(lambda m: m["customer_tier"])
    out["metadata.turns"] = traces["metadata"].map(lambda m: m["turns"]).astype(float)
    return pd.DataFrame(out)


def _same(a, b) -> bool:
    missing = a is None or (isinstance(a, float) and np.isnan(a))
    return (b is None or pd.isna(b)) if missing else a == pytest.approx(b)


def test_the_table_is_built_lazily_and_every_path_gives_the_same_values():
    t = _traces(120)
    r = _messy_results(t)
    want = _expected(t, r)
    cols = list(want.columns)
    ex = Explorer(t, results=r, columns=["trace_id", *cols], page_size=30)
    assert ex.traces is t  # the traces frame is used as it is, not copied
    assert ex.engine.kinds["result.correct"] == "num" and ex.engine.kinds["result.topic"] == "str"
    assert ex.engine.kinds["metadata.turns"] == "num" and ex.engine.kinds["metadata.customer_tier"] == "str"
    pages = [ex.page({"offset": o}) for o in (0, 30, 60, 90)]
    assert ex.engine.built() == []  # pages computed their own rows; no whole column was built
    scanned = [row for p in pages for row in p["rows"]]
    ex.engine.warm()  # the index explore builds in a thread after the first page
    ex.page({"offset": 30})  # (drops the kept look-up of the last page)
    indexed = [row for o in (0, 30, 60, 90) for row in ex.page({"offset": o})["rows"]]
    assert ex.engine.built() == []
    whole = ex.frame  # every derived column built whole
    assert set(cols) <= set(ex.engine.built())
    for i, tid in enumerate(t["trace_id"]):
        for c in cols:
            assert _same(scanned[i][c], want.at[i, c]), (tid, c, scanned[i][c], want.at[i, c])
            assert _same(indexed[i][c], want.at[i, c]), (tid, c)
            assert _same(whole.at[i, c], want.at[i, c]), (tid, c)
    # filters and sorts on derived columns use the whole columns
    p = ex.page({"filters": [{"column": "result.correct", "op": "=", "value": 0.5}], "offset": 0, "size": 500})
    assert p["matching"] == int((want["result.correct"] == 0.5).sum()) > 0
    srt = ex.engine.positions({"sort": "result.span_only", "desc": True})
    vals = want["result.span_only"].to_numpy()[srt]
    assert (np.diff(vals) <= 0).all()


def test_metadata_as_json_text_and_a_non_range_index():
    t = _traces(40)
    t = t.assign(metadata=t["metadata"].map(lambda m: None if m["turns"] == 3 else __import__("json").dumps(m)))
    t.index = np.arange(100, 140)
    ex = Explorer(t, page_size=40)
    p = ex.page({"filters": [{"column": "metadata.turns", "op": ">=", "value": 1}]})
    assert p["matching"] == sum(1 for i in range(40) if i % 4 in (1, 2))
    assert ex.selected.empty and ex.traces.index.equals(pd.RangeIndex(40))


def test_text_equality_both_ways_and_fast_sort_orders_match_pandas():
    t = _traces(90).assign(
        when=pd.to_datetime([None if i % 9 == 0 else f"2026-01-{1 + i % 28:02d}" for i in range(90)], utc=True),
        label=pd.array([None if i % 6 == 0 else ["b", "a", "c"][i % 3] for i in range(90)], dtype="str"),
        n=pd.array([None if i % 5 == 0 else i % 7 for i in range(90)], dtype="Int64"))
    ex = Explorer(t, page_size=90)
    for col in ("label", "input_text"):
        v = t[col].iloc[1]
        eq = ex.page({"filters": [{"column": col, "op": "=", "value": v}]})["matching"]
        ne = ex.page({"filters": [{"column": col, "op": "!=", "value": v}]})["matching"]
        assert eq == int((t[col] == v).sum()) > 0 and eq + ne == 90
    for col in ("when", "label", "n", "latency_ms", "input_text"):
        for desc in (False, True):
            got = ex.engine.positions({"sort": col, "desc": desc})
            vals = t[col].iloc[got].reset_index(drop=True)
            k = int(t[col].isna().sum())
            assert vals.iloc[len(vals) - k:].isna().all()  # nulls last both ways
            body = vals.iloc[: len(vals) - k]
            want = t[col].dropna().sort_values(ascending=not desc, kind="stable").reset_index(drop=True)
            assert body.tolist() == want.tolist(), col


def test_the_view_asks_for_the_result_index_once_painted():
    t = _traces(50)
    w = lo.explore(t, results=_results(t), page_size=10)
    rc = w.explorer.engine.derived["result.correct"].parent
    assert w._warm is None and rc._csr is None  # nothing heavy before the first paint
    w._on_msg(w, {"type": "painted"}, [])
    w._on_msg(w, {"type": "painted"}, [])
    w._warm.join(30)
    assert rc._csr is not None
    before = w.page["rows"]
    w.query = {**w.query, "offset": 10}
    w.query = {**w.query, "offset": 0}
    assert [r["result.correct"] for r in w.page["rows"]] == [r["result.correct"] for r in before]



def test_once_painted_the_shown_columns_and_the_search_text_are_built_ahead_and_agree():
    t = _traces(60)
    w = lo.explore(t, results=_results(t), page_size=10)
    eng = w.explorer.engine
    assert not eng._orders and not eng._texts  # nothing before the first paint
    w._on_msg(w, {"type": "painted"}, [])
    w._warm.join(30)
    sortable = [c for c in w.explorer.shown if c in eng._orders]
    assert "latency_ms" in sortable and any(c.startswith("result.") for c in sortable)
    assert "\x00list\x00\x00blob" in eng._texts  # the search text
    cold = lo.explore(t, results=_results(t), page_size=10).explorer.engine  # built on first use
    for col in sortable:
        for desc in (False, True):
            q = {"sort": col, "desc": desc, "search": "refund"}
            assert eng.positions(q).tolist() == cold.positions(q).tolist(), col


def test_building_ahead_waits_while_the_view_answers():
    t = _traces(30)
    w = lo.explore(t, page_size=10)
    w._idle.clear()  # as while a request is being answered
    w._on_msg(w, {"type": "painted"}, [])
    w._warm.join(0.5)
    assert w._warm.is_alive() and not w.explorer.engine._orders
    w._idle.set()
    w._warm.join(30)
    assert not w._warm.is_alive() and w.explorer.engine._orders

def test_the_trace_pane_shows_exactly_the_clicked_traces_spans_and_results():
    rows = [{"trace_id": f"t{i % 7}", "span_id": f"s{i}", "kind": "llm", "input_text": f"span {i} of t{i % 7}"}
            for i in range(40)]
    spans = lo.read_traces(rows, format="records").sample(frac=1.0, random_state=1)  # any order
    traces = lo.to_traces(spans)
    res = pd.DataFrame({"trace_id": ["t3", "t4"], "span_id": [None, None], "evaluator": ["ok", "ok"],
                        "passed": [True, False], "score": [1.0, 0.0], "label": [None, None], "error": [None, None]})
    w = lo.explore(traces, spans=spans, results=res)
    for t in ("t3", "t0", "t3"):
        w.focus = ""
        w.focus = t
        shown = {f"span {i} of {t}" for i in range(40) if f"t{i % 7}" == t}
        assert all(x in w.trace_html for x in shown)
        assert not [i for i in range(40) if f"t{i % 7}" != t and f"span {i} of t{i % 7}<" in w.trace_html]
    assert len(w.explorer._rows_by_trace("spans", spans, "nope")) == 0
