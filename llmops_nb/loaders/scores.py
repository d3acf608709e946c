"""Scores, feedback and annotations that platforms hold, mapped onto the results and labels
tables: one mapper per platform payload (Datadog evaluation metrics, Langfuse scores, LangSmith
feedback, Phoenix span annotations), shared by :func:`llmops_nb.read_evaluations` (files) and
the connectors (live pulls), which sit on the loaders' right in the flow.

Example:
    >>> results, labels = langfuse_scores([{"id": "s1", "traceId": "t1", "name": "helpful", "value": 1,
    ...                                     "dataType": "NUMERIC", "source": "API"}])
    >>> results[0]["evaluator"], results[0]["score"], labels
    ('helpful', 1.0, [])
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pandas as pd

from llmops_nb.loaders._common import otel_id

__all__ = ["parse_time", "iso", "result_row", "label_row", "datadog_metrics", "langfuse_scores",
           "langsmith_feedback", "phoenix_annotations"]


def parse_time(v: Any) -> datetime | None:
    """A timezone-aware UTC datetime from ISO text, epoch seconds/ms/ns, or a datetime.

    Example:
        >>> parse_time("2025-06-06T11:31:33.965Z").isoformat()
        '2025-06-06T11:31:33.965000+00:00'
    """
    if v is None or v == "":
        return None
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=timezone.utc)
    if isinstance(v, (int, float)):
        x = float(v)
        if x > 1e17:
            x /= 1e9
        elif x > 1e14:
            x /= 1e6
        elif x > 1e11:
            x /= 1e3
        return datetime.fromtimestamp(x, tz=timezone.utc)
    ts = pd.Timestamp(str(v))
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").to_pydatetime()


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 UTC text with a ``Z`` suffix (microseconds kept).

    Example:
        >>> iso(parse_time(0))
        '1970-01-01T00:00:00.000000Z'
    """
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    return None


def result_row(
    *, source: str, id: str, trace_id: str | None, span_id: str | None, name: str, value: Any,
    label: str | None = None, explanation: str | None = None, created_at: Any = None,
    judge_model: str | None = None, params: Any = None,
) -> dict[str, Any]:
    """A RESULTS row for a score the backend holds (an automatic or model evaluation)."""
    score = _num(value)
    if label is None and isinstance(value, str):
        label = value
    if isinstance(value, bool):
        label = "pass" if value else "fail"
    return {
        "result_id": f"{source}:{id}",
        "run_id": f"{source}-import",
        "trace_id": trace_id,
        "span_id": span_id,
        "evaluator": name,
        "evaluator_version": source,
        "params": params,
        "value": value,
        "score": score,
        "label": label,
        "passed": value if isinstance(value, bool) else None,
        "explanation": explanation,
        "judge_model": judge_model,
        "simulated": False,
        "created_at": parse_time(created_at) or datetime.now(timezone.utc),
    }


def label_row(
    *, source: str, id: str, trace_id: str | None, span_id: str | None, question: str, value: Any,
    annotator: str | None, reason: str | None = None, created_at: Any = None, queue: str | None = None,
) -> dict[str, Any]:
    """A LABELS row for a human annotation the backend holds (append-only: an edit made in the
    backend arrives as a new row, keyed by the annotation id and its update time)."""
    when = parse_time(created_at) or datetime.now(timezone.utc)
    return {
        "label_id": f"{source}:{id}:{iso(when)}",
        "trace_id": trace_id,
        "span_id": span_id,
        "item_id": trace_id if not span_id else f"{trace_id}/{span_id}",
        "question": question,
        "value": value,
        "action": "set",
        "annotator": annotator or f"{source}-user",
        "reason": reason,
        "schema_version": None,
        "queue": queue or source,
        "created_at": when,
    }


def _otel(v: Any, n: int) -> Any:
    try:
        return otel_id(v, n)
    except (TypeError, ValueError):
        return v


def datadog_metrics(metrics: list[dict[str, Any]], trace_id: Any = None, span_id: Any = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Datadog evaluation metrics (``metric_type`` score / categorical / boolean, joined on a
    span) as (results rows, labels rows); metrics whose ``source`` is ``human`` or that carry
    an annotator are labels.

    Example:
        >>> datadog_metrics([])  # (results rows, labels rows)
        ([], [])
    """
    results, labels = [], []
    for m in metrics:
        if not isinstance(m, dict):
            continue
        span = ((m.get("join_on") or {}).get("span") or {})
        tid = _otel(span.get("trace_id", trace_id), 16)
        sid = _otel(span.get("span_id", span_id), 8)
        kind = m.get("metric_type")
        value = m.get(f"{kind}_value") if kind else None
        if value is None:
            value = m.get("score_value", m.get("categorical_value", m.get("boolean_value")))
        mid = m.get("id") or f"{tid}:{sid}:{m.get('label')}:{m.get('timestamp_ms')}"
        when = m.get("timestamp_ms")
        if m.get("source") == "human" or m.get("annotator"):
            labels.append(label_row(source="datadog", id=str(mid), trace_id=tid, span_id=sid,
                                    question=str(m.get("label")), value=value, annotator=m.get("annotator"),
                                    reason=m.get("reasoning"), created_at=when))
        else:
            results.append(result_row(source="datadog", id=str(mid), trace_id=tid, span_id=sid,
                                      name=str(m.get("label")), value=value, explanation=m.get("reasoning"),
                                      created_at=when, params={"ml_app": m.get("ml_app"), "metric_type": kind}))
    return results, labels


def langfuse_scores(scores: list[dict[str, Any]], source: str = "langfuse") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Langfuse scores as (results rows, labels rows): ``source == "ANNOTATION"`` scores are
    human labels, ``API`` / ``EVAL`` scores are results.

    Example:
        >>> langfuse_scores([])  # (results rows, labels rows)
        ([], [])
    """
    results, labels = [], []
    for s in scores:
        if not isinstance(s, dict):
            continue
        value = s.get("stringValue") if s.get("dataType") in ("CATEGORICAL",) and s.get("stringValue") is not None else s.get("value")
        if s.get("dataType") == "BOOLEAN" and isinstance(value, (int, float)):
            value = bool(value)
        tid = _otel(s.get("traceId"), 16)
        sid = _otel(s.get("observationId"), 8) if s.get("observationId") else None
        if (s.get("source") or "").upper() == "ANNOTATION":
            labels.append(label_row(
                source=source, id=str(s.get("id")), trace_id=tid, span_id=sid, question=str(s.get("name")),
                value=value, annotator=s.get("authorUserId"), reason=s.get("comment"),
                created_at=s.get("updatedAt") or s.get("timestamp"), queue=s.get("queueId"),
            ))
        else:
            results.append(result_row(
                source=source, id=str(s.get("id")), trace_id=tid, span_id=sid, name=str(s.get("name")),
                value=value, label=s.get("stringValue"), explanation=s.get("comment"),
                created_at=s.get("timestamp"), params={"source": s.get("source"), "configId": s.get("configId")},
            ))
    return results, labels


def langsmith_feedback(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """LangSmith feedback as (results rows, labels rows): feedback given in the app or an
    annotation queue by a person is a label; API and model feedback are results.

    Example:
        >>> langsmith_feedback([])  # (results rows, labels rows)
        ([], [])
    """
    results, labels = [], []
    for f in items:
        if not isinstance(f, dict):
            continue
        src = f.get("feedback_source") or {}
        value = f.get("value") if f.get("value") is not None else f.get("score")
        if isinstance(value, dict):
            value = value.get("value", value)
        human = (src.get("type") in ("app", "annotation_queue")) or bool(src.get("user_id"))
        if human:
            labels.append(label_row(
                source="langsmith", id=str(f.get("id")), trace_id=f.get("trace_id"), span_id=f.get("run_id"),
                question=str(f.get("key")), value=value, annotator=src.get("user_name") or src.get("user_id"),
                reason=f.get("comment"), created_at=f.get("modified_at") or f.get("created_at"),
            ))
        else:
            results.append(result_row(
                source="langsmith", id=str(f.get("id")), trace_id=f.get("trace_id"), span_id=f.get("run_id"),
                name=str(f.get("key")), value=f.get("score") if f.get("score") is not None else value,
                label=f.get("value") if isinstance(f.get("value"), str) else None, explanation=f.get("comment"),
                created_at=f.get("created_at"), params={"feedback_source": src.get("type")},
            ))
    return results, labels


def phoenix_annotations(items: list[dict[str, Any]], trace_of: dict[str, str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Phoenix span annotations as (results rows, labels rows): ``HUMAN`` annotations are
    labels, ``LLM`` and ``CODE`` annotations are results.

    Example:
        >>> phoenix_annotations([], {})  # (results rows, labels rows)
        ([], [])
    """
    results, labels = [], []
    for a in items:
        if not isinstance(a, dict):
            continue
        res = a.get("result") or {}
        value = res.get("label") if res.get("label") is not None else res.get("score")
        sid = str(a.get("span_id"))
        if a.get("annotator_kind") == "HUMAN":
            labels.append(label_row(source="phoenix", id=str(a.get("id")), trace_id=trace_of.get(sid), span_id=sid,
                                    question=str(a.get("name")), value=value, annotator=a.get("user_id"),
                                    reason=res.get("explanation"), created_at=a.get("updated_at") or a.get("created_at")))
        else:
            results.append(result_row(source="phoenix", id=str(a.get("id")), trace_id=trace_of.get(sid), span_id=sid,
                                      name=str(a.get("name")), value=res.get("score") if res.get("score") is not None else value,
                                      label=res.get("label"), explanation=res.get("explanation"),
                                      created_at=a.get("updated_at") or a.get("created_at"),
                                      params={"annotator_kind": a.get("annotator_kind"), "identifier": a.get("identifier")}))
    return results, labels
