"""``lo.compare_outputs``: two runs' outputs per example, side by side with a word diff, their
scores and deltas; filter to regressions or fixes, step with j/k, select into a queue."""

from __future__ import annotations

import difflib
import html as _html
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from llmops_nb.views._assets import asset_path, asset_text

__all__ = ["compare_outputs", "OutputComparison", "word_diff_html", "STATUSES"]

STATUSES = ("all", "regression", "fix", "mixed", "changed", "same")
_TOKEN = re.compile(r"\s+|[^\s\w]|\w+")


def _esc(v: Any) -> str:
    return _html.escape("" if v is None else str(v), quote=True)


def word_diff_html(a: str | None, b: str | None) -> tuple[str, str]:
    """The two texts as HTML with the words only in ``a`` marked ``<del>`` and the words only in
    ``b`` marked ``<ins>`` (whitespace and punctuation are their own tokens).

    Example:
        >>> word_diff_html("the cat sat", "the dog sat")
        ('the <del>cat</del> sat', 'the <ins>dog</ins> sat')
    """
    ta, tb = _TOKEN.findall(a or ""), _TOKEN.findall(b or "")
    sm = difflib.SequenceMatcher(None, ta, tb, autojunk=False)
    oa, ob = [], []
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        xa, xb = _esc("".join(ta[i1:i2])), _esc("".join(tb[j1:j2]))
        if op == "equal":
            oa.append(xa)
            ob.append(xb)
            continue
        if xa:
            oa.append(f"<del>{xa}</del>")
        if xb:
            ob.append(f"<ins>{xb}</ins>")
    return "".join(oa), "".join(ob)


def _run_parts(run: Any, which: str, scores: Sequence[str] | None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(outputs: one row per example, scores: one column per evaluator, name) of one run: an
    Experiment (``.outputs`` and ``.results``) or a frame with ``example_id`` and ``output_text``
    (scores: the ``scores`` columns, or the ``score.<name>`` columns)."""
    if isinstance(run, pd.DataFrame):
        out, name = run, which
        cols = list(scores) if scores is not None else [c for c in run.columns if str(c).startswith("score.")]
        missing = [c for c in cols if c not in run.columns]
        if missing:
            raise KeyError(f"{which}: no score columns {missing}; columns: {list(run.columns)}")
        sc = run.groupby("example_id")[cols].mean(numeric_only=False) if "example_id" in run.columns and cols else None
        if sc is not None:
            sc.columns = [c[6:] if str(c).startswith("score.") else str(c) for c in cols]
    elif hasattr(run, "outputs") and hasattr(run, "results"):
        from llmops_nb.experiments import per_example_scores

        out, name = run.outputs, str(getattr(run, "name", which) or which)
        pe = per_example_scores(run)
        sc = pe.pivot_table(index="example_id", columns="evaluator", values="value", aggfunc="mean") if len(pe) else None
        if sc is not None and scores is not None:
            sc = sc[[c for c in sc.columns if c in set(scores)]]
    else:
        raise TypeError(f"{which} must be an Experiment (lo.run_experiment / lo.load_experiment) or a DataFrame with "
                        f"example_id and output_text, not {type(run).__name__}")
    for col in ("example_id", "output_text"):
        if col not in out.columns:
            raise ValueError(f"{which} has no {col!r} column; columns: {list(out.columns)}")
    if "repeat" in out.columns:
        out = out.sort_values("repeat", kind="stable")
    out = out.drop_duplicates("example_id", keep="first").set_index("example_id")
    if sc is None:
        sc = pd.DataFrame(index=out.index)
    return out, sc.astype(float), name


class OutputComparison:
    """Per example, the outputs of two runs with their scores, deltas and a status
    (``regression``: some score went down; ``fix``: some went up and none down; ``mixed``:
    both; ``changed``: same scores, different text; ``same``). Works without a browser; the
    widget (:func:`compare_outputs`) is a view of it.

    Example:
        >>> import pandas as pd
        >>> a = pd.DataFrame({"example_id": ["e1", "e2"], "output_text": ["4", "Paris"], "score.exact": [1.0, 1.0]})
        >>> b = pd.DataFrame({"example_id": ["e1", "e2"], "output_text": ["5", "Paris"], "score.exact": [0.0, 1.0]})
        >>> c = OutputComparison(a, b)
        >>> c.table[["example_id", "status", "exact_delta"]].values.tolist()
        [['e1', 'regression', -1.0], ['e2', 'same', 0.0]]
    """

    def __init__(self, baseline: Any, candidate: Any, *, scores: Sequence[str] | None = None,
                 lower_is_better: Iterable[str] = ()) -> None:
        oa, sa, self.name_a = _run_parts(baseline, "baseline", scores)
        ob, sb, self.name_b = _run_parts(candidate, "candidate", scores)
        if self.name_a == self.name_b:
            self.name_a, self.name_b = f"{self.name_a} (baseline)", f"{self.name_b} (candidate)"
        ids = [i for i in oa.index if i in ob.index]
        if not ids:
            raise ValueError(f"baseline and candidate share no example_id (baseline e.g. {list(oa.index[:3])}, "
                             f"candidate e.g. {list(ob.index[:3])}): compare runs over the same dataset")
        self.evaluators = [c for c in sa.columns if c in sb.columns]
        low = set(lower_is_better)
        t = pd.DataFrame({"example_id": ids})
        for col in ("input_text", "expected_output"):
            src = oa if col in oa.columns else ob if col in ob.columns else None
            if src is not None:
                t[col] = src.loc[ids, col].to_numpy()
        t["baseline_output"] = oa.loc[ids, "output_text"].to_numpy()
        t["candidate_output"] = ob.loc[ids, "output_text"].to_numpy()
        if "trace_id" in ob.columns:
            t["trace_id"] = ob.loc[ids, "trace_id"].to_numpy()
        worse = np.zeros(len(ids), dtype=bool)
        better = np.zeros(len(ids), dtype=bool)
        for ev in self.evaluators:
            va = sa[ev].reindex(ids).to_numpy(dtype=float)
            vb = sb[ev].reindex(ids).to_numpy(dtype=float)
            d = vb - va
            t[f"{ev}_baseline"], t[f"{ev}_candidate"], t[f"{ev}_delta"] = va, vb, d
            sign = -1.0 if ev in low else 1.0
            with np.errstate(invalid="ignore"):
                worse |= np.nan_to_num(sign * d) < -1e-12
                better |= np.nan_to_num(sign * d) > 1e-12
        changed = np.array([(x or "") != (y or "") for x, y in zip(t["baseline_output"], t["candidate_output"])])
        t["status"] = np.select([worse & better, worse, better, changed], ["mixed", "regression", "fix", "changed"], "same")
        self.table = t
        self.lower_is_better = low

    def rows(self, status: str = "all") -> pd.DataFrame:
        """The examples with this status (``all``, ``regression``, ``fix``, ``mixed``, ``changed``, ``same``)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; valid: {list(STATUSES)}")
        return self.table if status == "all" else self.table[self.table["status"] == status]

    def counts(self) -> dict[str, int]:
        """How many examples have each status."""
        vc = self.table["status"].value_counts()
        return {s: int(vc.get(s, 0)) if s != "all" else len(self.table) for s in STATUSES}

    def item(self, example_id: str) -> dict[str, Any]:
        """One example for the view: the two outputs as word-diff HTML, scores and deltas."""
        m = self.table["example_id"].astype(str) == str(example_id)
        if not m.any():
            raise KeyError(f"example {example_id!r} is not in the comparison")
        r = self.table[m].iloc[0]
        da, db = word_diff_html(r["baseline_output"], r["candidate_output"])

        def num(v: Any) -> float | None:
            return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)

        return {"example_id": str(r["example_id"]), "status": r["status"],
                "input": _esc(r.get("input_text")), "expected": _esc(r.get("expected_output")),
                "baseline_html": da, "candidate_html": db,
                "scores": [{"evaluator": ev, "baseline": num(r[f"{ev}_baseline"]), "candidate": num(r[f"{ev}_candidate"]),
                            "delta": num(r[f"{ev}_delta"]), "lower_is_better": ev in self.lower_is_better}
                           for ev in self.evaluators]}

    def __repr__(self) -> str:
        c = self.counts()
        return (f"OutputComparison({self.name_a!r} -> {self.name_b!r}: {c['all']} examples, {c['regression']} regressions, "
                f"{c['fix']} fixes, {c['mixed']} mixed, {c['changed']} changed text, {c['same']} same)")


_widget_cls: Any = None


def _widget_class() -> Any:
    global _widget_cls
    if _widget_cls is not None:
        return _widget_cls
    import anywidget
    import traitlets

    class CompareWidget(anywidget.AnyWidget):
        """The output diff view; see :func:`llmops_nb.compare_outputs`."""

        _esm = asset_path("compare.js")
        _css = asset_path("compare.css")
        names: traitlets.List[str] = traitlets.List().tag(sync=True)
        counts = traitlets.Dict().tag(sync=True)
        status = traitlets.Unicode("all").tag(sync=True)  # the filter, from the view
        ids: traitlets.List[dict[str, Any]] = traitlets.List().tag(sync=True)  # example ids under the filter: [{id, status}]
        cursor = traitlets.Int(0).tag(sync=True)  # position in ids, from the view
        item = traitlets.Dict().tag(sync=True)  # the example at the cursor
        selected_ids: traitlets.List[str] = traitlets.List().tag(sync=True)

        def __init__(self, comp: OutputComparison, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.comparison = comp
            self.names = [comp.name_a, comp.name_b]
            self.counts = comp.counts()
            self._refilter()
            self.observe(lambda _c: self._refilter(), "status")
            self.observe(lambda _c: self._show(), "cursor")

        def _refilter(self) -> None:
            try:
                rows = self.comparison.rows(self.status)
            except ValueError:
                rows = self.comparison.rows("all")
            self.ids = [{"id": str(i), "status": s} for i, s in zip(rows["example_id"], rows["status"])]
            if self.cursor != 0:
                self.cursor = 0  # observed: shows the item
            else:
                self._show()

        def _show(self) -> None:
            if not self.ids:
                self.item = {}
                return
            c = min(max(0, self.cursor), len(self.ids) - 1)
            self.item = {**self.comparison.item(self.ids[c]["id"]), "position": c}

        @property
        def selected(self) -> pd.DataFrame:
            """The selected examples (rows of ``comparison.table``)."""
            t = self.comparison.table
            pos = {str(e): i for i, e in enumerate(t["example_id"])}
            return t.iloc[[pos[i] for i in self.selected_ids if i in pos]]

        def select(self, example_ids: Iterable[Any]) -> None:
            """Select these examples (the view shows them ticked)."""
            known = set(self.comparison.table["example_id"].astype(str))
            ids = [str(e) for e in example_ids]
            bad = [e for e in ids if e not in known]
            if bad:
                raise KeyError(f"examples not in the comparison: {bad[:5]}")
            self.selected_ids = list(dict.fromkeys(ids))

        def annotate(self, schema: Any = None, store: Any = None, annotator: str | None = None, **kw: Any) -> Any:
            """An annotation queue over the selected examples (candidate output as the output,
            the baseline's beside it; see :func:`llmops_nb.annotate`)."""
            from llmops_nb.annotation import annotate

            sel = self.selected
            if len(sel) == 0:
                raise ValueError("nothing is selected: press x on examples (or w.select([...])) first")
            frame = sel.rename(columns={"candidate_output": "output_text"}).assign(item_id=sel["example_id"].astype(str))
            if "trace_id" not in frame.columns:
                frame["trace_id"] = frame["item_id"]
            kw.setdefault("queue_name", "compare")
            kw.setdefault("queue", "sequential")
            return annotate(frame, schema, store, annotator, **kw)

        def _repr_mimebundle_(self, **kwargs: Any) -> Any:
            bundle = super()._repr_mimebundle_(**kwargs)
            data = bundle[0] if isinstance(bundle, tuple) else bundle
            if isinstance(data, dict):
                data["text/html"] = snapshot_html(self.comparison)
                data["text/plain"] = repr(self)
            return bundle

        def __repr__(self) -> str:
            return repr(self.comparison).replace("OutputComparison(", "CompareWidget(", 1)

    _widget_cls = CompareWidget
    return _widget_cls


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:+.3g}" if isinstance(v, float) and v != 0 else f"{v:.3g}" if isinstance(v, float) else str(v)


def snapshot_html(comp: OutputComparison, limit: int = 10) -> str:
    """The view as static HTML (no script): counts, then the regressions first (up to ``limit``
    examples) with their word diffs and score deltas."""
    c = comp.counts()
    order = {"regression": 0, "mixed": 1, "fix": 2, "changed": 3, "same": 4}
    t = comp.table.assign(_o=comp.table["status"].map(order)).sort_values("_o", kind="stable").head(limit)
    cards = []
    for eid in t["example_id"]:
        it = comp.item(eid)
        sc = " ".join(f"<span class='lo-cmp-score'>{_esc(s['evaluator'])} {_fmt(s['baseline'])} → {_fmt(s['candidate'])} "
                      f"(<b>{_fmt(s['delta'])}</b>)</span>" for s in it["scores"])
        cards.append(f"<div class='lo-cmp-card lo-cmp-{it['status']}'><div class='lo-cmp-head'><b>{_esc(eid)}</b> "
                     f"<span class='lo-cmp-badge'>{it['status']}</span> {sc}</div>"
                     f"<div class='lo-cmp-input'>{it['input']}</div><div class='lo-cmp-sides'>"
                     f"<div class='lo-cmp-side'>{it['baseline_html']}</div><div class='lo-cmp-side'>{it['candidate_html']}</div>"
                     "</div></div>")
    counts = " · ".join(f"{c[s]} {s}" for s in STATUSES if s != "all")
    return (f"<style>{asset_text('compare.css')}</style><div class='lo-cmp lo-cmp-snapshot'>"
            f"<div class='lo-cmp-bar'><b>{_esc(comp.name_a)}</b> → <b>{_esc(comp.name_b)}</b>: {c['all']} examples · {counts}</div>"
            f"{''.join(cards)}<div class='lo-cmp-hint'>A static snapshot of lo.compare_outputs (regressions first, "
            f"{min(limit, c['all'])} of {c['all']}): run the notebook to step through them with j/k.</div></div>")


def compare_outputs(baseline: Any, candidate: Any, *, scores: Sequence[str] | None = None,
                    lower_is_better: Iterable[str] = ()) -> Any:
    """The experiment diff view: per example the baseline's and the candidate's outputs side
    by side with a word diff, each evaluator's scores and delta; filter to regressions, fixes,
    mixed, changed or same; ``j``/``k`` step through the examples, ``x`` selects one, and
    ``w.annotate(schema, store)`` opens a queue over the selection (``w.selected``).

    ``baseline``/``candidate``: Experiments (``lo.run_experiment``/``lo.load_experiment``; scores
    averaged over repeats) or frames with ``example_id``, ``output_text`` and score columns
    (``scores=`` names them, else every ``score.<name>`` column). ``lower_is_better``: evaluators
    whose decrease is a fix (latency, cost).

    Example:
        >>> import llmops_nb as lo, pandas as pd
        >>> a = pd.DataFrame({"example_id": ["e1"], "output_text": ["4"], "score.exact": [1.0]})
        >>> b = pd.DataFrame({"example_id": ["e1"], "output_text": ["5"], "score.exact": [0.0]})
        >>> w = lo.compare_outputs(a, b)
        >>> w.item["status"], w.item["scores"][0]["delta"]
        ('regression', -1.0)
    """
    return _widget_class()(OutputComparison(baseline, candidate, scores=scores, lower_is_better=lower_is_better))
