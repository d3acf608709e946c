"""``read_evaluations``: evaluation payloads that sit beside spans in files, as results and labels.

Read from files (or records) the same way the connectors read them from running backends:

- Datadog LLM Observability evaluation metrics (``evaluation_metric`` intake payloads, also
  inside VCR cassettes; metric lists; export-API spans with ``evaluation_metrics``);
- Langfuse scores (``trace.scores`` of ``{trace, observations}`` exports, score lists, API pages);
- Phoenix span annotations (``{span_id, name, annotator_kind, result}``, lists, API pages);
- LangSmith feedback (``{run_id, key, score/value, feedback_source}``, lists, ``{feedback: [...]}``).

Human decisions (Langfuse ``ANNOTATION`` scores, Phoenix ``HUMAN`` annotations, LangSmith app /
queue feedback, Datadog metrics with an annotator) go to the labels table; the rest (model and
code evaluations) to the results table. :func:`read_traces` reads the spans of the same files.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from llmops_nb.loaders._common import LoadError
from llmops_nb.results import ResultView

__all__ = ["read_evaluations", "Evaluations"]


@dataclass(frozen=True)
class Evaluations(ResultView):
    """Evaluation payloads read from files: ``results`` (the results table) and ``labels`` (the
    labels table). Store them with ``store.add_results(ev.results)`` and ``store.add_labels(ev.labels)``.

    Example:
        >>> import llmops_nb as lo
        >>> ev = lo.read_evaluations([{"data": {"type": "evaluation_metric", "attributes": {"metrics": [
        ...     {"join_on": {"span": {"trace_id": "1", "span_id": "2"}}, "metric_type": "score",
        ...      "label": "faithfulness", "score_value": 0.9, "timestamp_ms": 1732568728793}]}}}])
        >>> isinstance(ev, Evaluations), len(ev.results), len(ev.labels)
        (True, 1, 0)
    """

    results: pd.DataFrame
    labels: pd.DataFrame

    @property
    def frame(self) -> pd.DataFrame:
        """The main table (the result-object protocol: ``.frame``, ``_repr_html_``, ``to_markdown``)."""
        return self.results

    def __repr__(self) -> str:
        def count(df: pd.DataFrame, col: str) -> str:
            return ", ".join(f"{k} {v}" for k, v in df[col].value_counts().items()) if len(df) else "none"

        return (f"Evaluations: {len(self.results)} result rows ({count(self.results, 'evaluator')}), "
                f"{len(self.labels)} label rows ({count(self.labels, 'question')})")

    def _repr_html_(self) -> str:
        cols_r = ["trace_id", "span_id", "evaluator", "score", "label", "explanation", "evaluator_version"]
        cols_l = ["trace_id", "span_id", "question", "value", "annotator", "reason", "queue"]
        return (f"<div><b>{html.escape(repr(self))}</b>"
                f"<p>results</p>{self.results[cols_r].head(20).to_html(index=False)}"
                f"<p>labels</p>{self.labels[cols_l].head(20).to_html(index=False)}</div>")


# ------------------------------------------------------------------------------ shapes

def _is_dd_metric(x: Any) -> bool:
    return isinstance(x, Mapping) and "metric_type" in x and "label" in x and ("join_on" in x or "span_id" in x)


def _is_lf_score(x: Any) -> bool:
    return isinstance(x, Mapping) and "traceId" in x and "name" in x and ("dataType" in x or "source" in x) and (
        "value" in x or "stringValue" in x)


def _is_px_annotation(x: Any) -> bool:
    return isinstance(x, Mapping) and "span_id" in x and "annotator_kind" in x and "name" in x


def _is_ls_feedback(x: Any) -> bool:
    return isinstance(x, Mapping) and "key" in x and "run_id" in x and ("score" in x or "value" in x or "feedback_source" in x)


def _payloads(rec: Any) -> Iterator[tuple[str, Any]]:
    """(kind, items) for every evaluation payload found in a parsed record."""
    if isinstance(rec, list):
        if rec and all(_is_dd_metric(x) for x in rec[:5]):
            yield "datadog", rec
        elif rec and all(_is_lf_score(x) for x in rec[:5]):
            yield "langfuse", rec
        elif rec and all(_is_px_annotation(x) for x in rec[:5]):
            yield "phoenix", rec
        elif rec and all(_is_ls_feedback(x) for x in rec[:5]):
            yield "langsmith", rec
        else:
            for x in rec:
                if isinstance(x, (Mapping, list)):
                    yield from _payloads(x)
        return
    if not isinstance(rec, Mapping):
        return
    if isinstance(rec.get("interactions"), list):  # VCR cassette: the recorded request bodies
        from llmops_nb.loaders._messages import maybe_json

        for it in rec["interactions"]:
            req = it.get("request") if isinstance(it, Mapping) else None
            body = req.get("body") if isinstance(req, Mapping) else None
            if isinstance(body, Mapping) and "string" in body:
                body = body["string"]
            body = maybe_json(body)
            if isinstance(body, (Mapping, list)):
                yield from _payloads(body)
        return
    data = rec.get("data")
    if isinstance(data, Mapping) and data.get("type") == "evaluation_metric":
        yield "datadog", list((data.get("attributes") or {}).get("metrics") or [])
        return
    if isinstance(data, list):
        yield from _payloads(data)
        return
    if isinstance(rec.get("evaluation_metrics"), (list, Mapping)):  # Datadog export API span
        ev = rec["evaluation_metrics"]
        if isinstance(ev, Mapping):
            ev = [{"label": k, **(v if isinstance(v, Mapping) else {"score_value": v})} for k, v in ev.items()]
        yield "datadog_span", (ev, rec.get("trace_id"), rec.get("span_id"))
    trace: Mapping[str, Any] = rec["trace"] if isinstance(rec.get("trace"), Mapping) else rec
    if isinstance(trace.get("scores"), list) and trace["scores"] and isinstance(trace["scores"][0], Mapping):
        yield "langfuse", trace["scores"]
    for key, kind in (("scores", "langfuse"), ("feedback", "langsmith"), ("annotations", "phoenix")):
        v = rec.get(key)
        if key == "scores" and trace is rec:
            continue  # already read above
        if isinstance(v, list) and v and isinstance(v[0], Mapping):
            yield kind, v
    for check, kind in ((_is_dd_metric, "datadog"), (_is_lf_score, "langfuse"), (_is_px_annotation, "phoenix"),
                        (_is_ls_feedback, "langsmith")):
        if check(rec):
            yield kind, [rec]


def _rows(kind: str, items: Any, trace_of: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from llmops_nb.loaders import scores as c

    if kind == "datadog":
        return c.datadog_metrics(list(items))
    if kind == "datadog_span":
        ev, tid, sid = items
        return c.datadog_metrics(list(ev), tid, sid)
    if kind == "langfuse":
        return c.langfuse_scores(list(items))
    if kind == "phoenix":
        return c.phoenix_annotations(list(items), dict(trace_of))
    return c.langsmith_feedback(list(items))


def read_evaluations(source: Any, *, spans: pd.DataFrame | None = None,
                     errors: str = "raise") -> Evaluations:
    """Evaluation payloads found in files or records, as results and labels tables.

    ``source``: a path, a directory, a glob, a list of paths, or parsed records (dicts, lists).
    ``spans``: a spans table used to fill the trace id of annotations that name only their span
    (Phoenix). A file named directly that holds no evaluation payload is a :class:`LoadError`
    (``errors="skip"`` leaves it out instead). Spans in the same files: :func:`read_traces`.

    Example:
        >>> import llmops_nb as lo
        >>> ev = lo.read_evaluations([{"data": {"type": "evaluation_metric", "attributes": {"metrics": [
        ...     {"join_on": {"span": {"trace_id": "1", "span_id": "2"}}, "metric_type": "score",
        ...      "label": "faithfulness", "score_value": 0.9, "timestamp_ms": 1732568728793}]}}}])
        >>> ev.results[["evaluator", "score", "span_id"]].values.tolist()
        [['faithfulness', 0.9, '0000000000000002']]
    """
    from llmops_nb.loaders._read import _expand, _InDir, _records_of_file
    from llmops_nb.schema import LABELS, RESULTS, conform, empty_frame

    if errors not in ("raise", "skip"):
        raise ValueError(f"errors={errors!r}; valid: 'raise', 'skip'")
    trace_of: dict[str, str] = {}
    if spans is not None and len(spans):
        trace_of = dict(zip(spans["span_id"].astype(str), spans["trace_id"].astype(str)))
    results: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    if isinstance(source, Mapping) or (isinstance(source, list) and source and not all(
            isinstance(x, (str, os.PathLike)) for x in source)):
        items: list[Any] = [("<records>", source)]
    else:
        items = [(str(p), p) for p in _expand(source)]
    for file, item in items:
        n0 = len(results) + len(labels)
        found = False
        try:
            recs = [rec for _, rec in _records_of_file(file, None)] if isinstance(item, (str, os.PathLike)) else [item]
            for rec in recs:
                if isinstance(rec, Exception):
                    raise rec
                for kind, payload in _payloads(rec):
                    found = True
                    got_results, got_labels = _rows(kind, payload, trace_of)
                    results.extend(got_results)
                    labels.extend(got_labels)
        except LoadError:
            if errors == "raise" and not isinstance(item, _InDir):
                raise
            continue
        if not found and len(results) + len(labels) == n0 and errors == "raise" and not isinstance(item, _InDir):
            raise LoadError("no evaluation payload found", file=file,
                            expected="Datadog evaluation metrics, Langfuse scores, Phoenix annotations or LangSmith feedback")
    for r in results:
        if r.get("trace_id") is None and r.get("span_id") in trace_of:
            r["trace_id"] = trace_of[r["span_id"]]
    for lab in labels:
        if lab.get("trace_id") is None and lab.get("span_id") in trace_of:
            lab["trace_id"] = trace_of[lab["span_id"]]
            lab["item_id"] = f"{lab['trace_id']}/{lab['span_id']}"
    res = conform(pd.DataFrame(results), RESULTS).drop_duplicates("result_id", keep="last").reset_index(drop=True) \
        if results else empty_frame(RESULTS)
    lab_df = conform(pd.DataFrame(labels), LABELS).drop_duplicates("label_id", keep="last").reset_index(drop=True) \
        if labels else empty_frame(LABELS)
    return Evaluations(results=res, labels=lab_df)
