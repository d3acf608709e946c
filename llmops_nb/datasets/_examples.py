"""The examples table and :func:`to_examples`: spans or traces (+ results, labels) -> examples.

Row grain of every frame here: one row per example.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

from llmops_nb.results import latest
from llmops_nb.schema import Column, Table, grain_of, none_if_missing

__all__ = ["EXAMPLES", "to_examples", "example_id"]

C = Column

EXAMPLES = Table(
    "examples",
    "one row per example",
    (
        C("example_id", "str", "Stable id: a hash of the source (format, trace id, span id), or of the chosen id columns.", True),
        C("input_messages", "messages", "Chat messages sent to the model, when the source has them."),
        C("input_text", "str", "Readable input (the last user message, the query, or the raw input)."),
        C("output_text", "str", "The output the application gave at the source (what was evaluated)."),
        C("expected_output", "str", "Reference output, when known (from a label or a column)."),
        C("rubric", "str", "What a good answer must do, for judge-graded tests."),
        C("labels", "json", "Human labels as {question: value}: the latest decision per question."),
        C("results", "json", "Evaluator results as {evaluator: {label, score, passed, explanation}}."),
        C("failure_modes", "strings", "Failure modes the example shows (from labels or from analysis)."),
        C("tags", "strings", "Free tags."),
        C("split", "str", "train, dev, test or another split name; null when unsplit."),
        C("metadata", "json", "The source's application metadata (tenant, category, prompt version, ...)."),
        C("source_trace_id", "str", "Lineage: the trace the example came from."),
        C("source_span_id", "str", "Lineage: the span the example came from; null for a trace-level example."),
        C("source_format", "str", "Lineage: the loader that read the source (otlp, langfuse, ...)."),
        C("label_ids", "strings", "Lineage: ids of the label decisions folded into `labels`."),
        C("annotators", "strings", "Lineage: who made those decisions."),
        C("judges", "strings", "Lineage: evaluators whose results are attached, as name@version."),
        C("judge_models", "strings", "Lineage: models used by those evaluators when they are LLM judges."),
    ),
)
"""The examples table: one row per example (input, expected output or rubric, labels, tags, lineage)."""

_EXPECTED_QUESTIONS = ("expected_output", "expected", "reference", "correction", "ideal_output")
_RUBRIC_QUESTIONS = ("rubric",)
_FAILURE_QUESTIONS = ("failure_mode", "failure_modes", "failure_category")


def example_id(*parts: Any) -> str:
    """A stable example id: ``ex_`` + 16 hex chars of the SHA-1 of the parts.

    Example:
        >>> example_id("otlp", "t1", "s1") == example_id("otlp", "t1", "s1")
        True
        >>> example_id("otlp", "t1", "s1")[:3]
        'ex_'
    """
    text = "\x1f".join("" if none_if_missing(p) is None else str(p) for p in parts)
    return "ex_" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _is_listlike(v: Any) -> bool:
    return isinstance(v, (list, tuple)) or (hasattr(v, "tolist") and not isinstance(v, (str, bytes)))


def _as_list(v: Any) -> list[Any]:
    v = none_if_missing(v) if not _is_listlike(v) else v
    if v is None:
        return []
    if hasattr(v, "tolist") and not isinstance(v, (str, bytes)):
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]


def _grain(data: pd.DataFrame) -> str:
    g = grain_of(data)
    return "rows" if g == "sessions" else g


def _effective_labels(labels: pd.DataFrame) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Fold append-only label decisions into {item: {"labels", "label_ids", "annotators", "failure_modes"}}.

    The latest ``set``/``edit``/``undo`` decision per (item, question) wins, whoever made it;
    ``undo`` (value null) clears the label; ``skip`` sets nothing; ``flag`` adds the tag
    ``flagged`` and undoing the flag removes it (as :mod:`llmops_nb.annotation` records them).
    """
    out: dict[tuple[str, str | None], dict[str, Any]] = {}
    if labels is None or len(labels) == 0:
        return out
    df = labels.copy()
    if "created_at" in df.columns:
        df = df.sort_values("created_at", kind="stable")
    for rec in df.to_dict("records"):
        key = (rec.get("trace_id"), none_if_missing(rec.get("span_id")))
        item = out.setdefault(key, {"labels": {}, "label_ids": [], "annotators": [], "flagged": False})
        action = none_if_missing(rec.get("action")) or "set"
        item["label_ids"].append(rec.get("label_id"))
        ann = rec.get("annotator")
        if ann is not None and ann not in item["annotators"]:
            item["annotators"].append(ann)
        if action == "skip":
            continue
        q = rec.get("question")
        if action == "flag":
            item["flagged"] = True
            continue
        if q == "flag" and action == "undo":
            item["flagged"] = False
            continue
        if q == "skip":
            continue
        v = rec.get("value")
        if none_if_missing(v) is None and not _is_listlike(v):
            item["labels"].pop(q, None)
        else:
            item["labels"][q] = v
    return out


def _latest_results(results: pd.DataFrame) -> dict[tuple[str, str | None], dict[str, dict[str, Any]]]:
    out: dict[tuple[str, str | None], dict[str, dict[str, Any]]] = {}
    if results is None or len(results) == 0:
        return out
    for rec in latest(results, errors=False).to_dict("records"):
        key = (rec.get("trace_id"), none_if_missing(rec.get("span_id")))
        d = out.setdefault(key, {})
        d[rec["evaluator"]] = {
            "label": none_if_missing(rec.get("label")),
            "score": none_if_missing(rec.get("score")),
            "passed": none_if_missing(rec.get("passed")),
            "explanation": none_if_missing(rec.get("explanation")),
            "version": none_if_missing(rec.get("evaluator_version")),
            "judge_model": none_if_missing(rec.get("judge_model")),
            "result_id": rec.get("result_id"),
        }
    return out


def _pick(spec: Any, row: dict[str, Any], columns: Iterable[str], labels: dict[str, Any],
          questions: Sequence[str], literal_ok: bool) -> Any:
    if callable(spec):
        return spec(row)
    if isinstance(spec, str):
        if spec in columns:
            return none_if_missing(row.get(spec))
        if spec in labels:
            return labels[spec]
        if literal_ok:
            return spec
        return None
    for q in questions:
        if q in labels and labels[q] is not None:
            v = labels[q]
            return v if isinstance(v, str) else str(v)
    return None


def to_examples(
    data: pd.DataFrame,
    results: pd.DataFrame | None = None,
    labels: pd.DataFrame | None = None,
    *,
    expected: str | Callable[[dict[str, Any]], Any] | None = None,
    rubric: str | Callable[[dict[str, Any]], Any] | None = None,
    tags: Sequence[str] = (),
    id_columns: Sequence[str] | None = None,
    input_column: str | None = None,
    output_column: str | None = None,
) -> pd.DataFrame:
    """Build the examples table (one row per example) from spans, traces or any frame.

    ``data`` is a spans table (one example per span), a traces table (one example per trace) or
    any frame with input/output columns (one example per row). ``results`` and ``labels`` are the
    declared RESULTS and LABELS tables; they are matched on (trace_id, span_id) (trace-level rows,
    span_id null, for traces). Each example keeps its lineage: source trace and span ids, source
    format, label ids and annotators, and the evaluators (name@version) and judge models.

    ``expected`` and ``rubric`` may name a column of ``data``, name a label question, or be a
    callable of the row; ``rubric`` may also be literal text. Without ``expected``, a label
    question named expected_output, expected, reference, correction or ideal_output is used.
    ``example_id`` is a hash of (source_format, trace_id, span_id), or of ``id_columns``, so it is
    stable across rebuilds. Extra columns of ``data`` that are not in the spans or traces table
    (for example ``cluster`` from analysis) are carried over.

    Example:
        >>> import pandas as pd
        >>> ex = to_examples(pd.DataFrame({"input": ["hi"], "output": ["hello"]}))
        >>> ex.loc[0, "input_text"], ex.loc[0, "output_text"], ex.loc[0, "example_id"][:3]
        ('hi', 'hello', 'ex_')
    """
    from llmops_nb.schema import SPANS, TRACES, conform

    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"to_examples needs a pandas DataFrame of spans, traces or rows, got {type(data).__name__}")
    grain = _grain(data)
    cols = list(data.columns)
    in_col = input_column or next((c for c in ("input_text", "input", "question", "prompt", "query") if c in cols), None)
    out_col = output_column or next((c for c in ("output_text", "output", "answer", "response", "completion") if c in cols), None)
    if id_columns is not None:
        missing = [c for c in id_columns if c not in cols]
        if missing:
            raise ValueError(f"id_columns {missing} are not columns of the frame; columns are {cols}")
    item_labels = _effective_labels(labels) if labels is not None else {}
    item_results = _latest_results(results) if results is not None else {}
    known = set(EXAMPLES.names) | set(SPANS.names) | set(TRACES.names) | {in_col, out_col}
    extras = [c for c in cols if c not in known]

    rows: list[dict[str, Any]] = []
    for rec in data.to_dict("records"):
        trace_id = none_if_missing(rec.get("trace_id"))
        span_id = none_if_missing(rec.get("span_id")) if grain == "spans" else None
        root = none_if_missing(rec.get("root_span_id")) if grain == "traces" else None
        keys = [(trace_id, span_id)]
        if grain == "traces" and root is not None:
            keys.append((trace_id, root))
        lab: dict[str, Any] = {"labels": {}, "label_ids": [], "annotators": [], "flagged": False}
        for k in keys:
            got = item_labels.get(k)
            if got:
                lab["labels"].update(got["labels"])
                lab["label_ids"] += got["label_ids"]
                lab["annotators"] += [a for a in got["annotators"] if a not in lab["annotators"]]
                lab["flagged"] = lab["flagged"] or got["flagged"]
        res: dict[str, dict[str, Any]] = {}
        for k in keys:
            res.update(item_results.get(k, {}))
        fmt = none_if_missing(rec.get("source_format"))
        if id_columns is not None:
            eid = example_id(*[rec.get(c) for c in id_columns])
        elif trace_id is not None:
            eid = example_id(fmt, trace_id, span_id)
        else:
            eid = example_id(rec.get(in_col) if in_col else None, rec.get(out_col) if out_col else None)
        msgs = rec.get("input_messages") if grain == "spans" else None
        msgs = _as_list(msgs) or None
        failure = [str(x) for x in _as_list(rec.get("failure_modes"))]
        if none_if_missing(rec.get("failure_mode")) is not None and not _is_listlike(rec.get("failure_mode")):
            failure.append(str(rec["failure_mode"]))
        for q in _FAILURE_QUESTIONS:
            for v in _as_list(lab["labels"].get(q)):
                if v is not None and str(v) not in failure:
                    failure.append(str(v))
        row_tags = [str(t) for t in _as_list(rec.get("tags"))] + [t for t in tags]
        if lab["flagged"]:
            row_tags.append("flagged")
        row = {
            "example_id": eid,
            "input_messages": msgs,
            "input_text": none_if_missing(rec.get(in_col)) if in_col else None,
            "output_text": none_if_missing(rec.get(out_col)) if out_col else None,
            "expected_output": _pick(expected, rec, cols, lab["labels"], _EXPECTED_QUESTIONS, False),
            "rubric": _pick(rubric, rec, cols, lab["labels"], _RUBRIC_QUESTIONS, True),
            "labels": lab["labels"] or None,
            "results": {k: {kk: vv for kk, vv in v.items() if kk not in ("version", "judge_model", "result_id")}
                        for k, v in res.items()} or None,
            "failure_modes": list(dict.fromkeys(failure)),
            "tags": list(dict.fromkeys(row_tags)),
            "split": none_if_missing(rec.get("split")),
            "metadata": none_if_missing(rec.get("metadata")) if not isinstance(rec.get("metadata"), dict) else rec.get("metadata"),
            "source_trace_id": trace_id,
            "source_span_id": span_id if grain == "spans" else root,
            "source_format": fmt,
            "label_ids": lab["label_ids"],
            "annotators": lab["annotators"],
            "judges": [f"{k}@{v['version']}" if v.get("version") else k for k, v in res.items()],
            "judge_models": list(dict.fromkeys(v["judge_model"] for v in res.values() if v.get("judge_model"))),
        }
        for c in extras:
            row[c] = rec.get(c)
        rows.append(row)
    base = conform(pd.DataFrame(rows, columns=EXAMPLES.names) if rows else pd.DataFrame(columns=EXAMPLES.names), EXAMPLES)
    if extras:
        ext = pd.DataFrame(rows, columns=extras) if rows else pd.DataFrame(columns=extras)
        base = pd.concat([base, ext.reset_index(drop=True)], axis=1)
    dup = base["example_id"].duplicated()
    if dup.any():
        raise ValueError(
            f"{int(dup.sum())} rows share an example_id (first: {base.loc[dup, 'example_id'].iloc[0]!r}); "
            "pass id_columns=[...] naming columns that identify a row, or drop the duplicates first"
        )
    return base
