"""PII redaction of example frames, with the evaluator area's PII checks."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["redact", "RedactResult", "NEVER_REDACTED"]

NEVER_REDACTED = ("example_id", "source_trace_id", "source_span_id", "source_format", "split")
"""Id and lineage columns that hold no free text and are never redacted."""


def _detector() -> Callable[..., list[Any]]:
    """The PII detector: llmops_nb.evals.find_pii (checksummed emails, phones, cards, IBANs,
    SSNs, national ids, IPs, API keys, private keys). One place to swap it."""
    from llmops_nb.evals import find_pii

    return find_pii


@dataclass
class RedactResult:
    """What :func:`redact` returns; unpacks as ``frame, spans = redact(...)``.

    ``frame``: the redacted copy. ``spans``: one row per redacted span: the row's index and
    ``example_id``, the ``column`` and ``path`` inside it (``[2].content`` for a chat message),
    the PII ``kind``, its ``start``/``end`` in the original text, the original ``text`` (kept
    in memory for review, never written) and its ``replacement``.

    Example:
        >>> frame, spans = redact(pd.DataFrame({"input_text": ["mail ann@corp.io"]}))
        >>> frame["input_text"].tolist()
        ['mail [EMAIL]']
    """

    frame: pd.DataFrame
    spans: pd.DataFrame

    def __iter__(self) -> Iterator[pd.DataFrame]:
        yield self.frame
        yield self.spans

    def summary(self) -> str:
        if not len(self.spans):
            return "PII redaction: no PII found"
        kinds = self.spans["kind"].value_counts()
        rows = self.spans["row"].nunique()
        return (
            f"PII redaction: {len(self.spans):,} spans redacted in {rows:,} rows ("
            + ", ".join(f"{k} {v}" for k, v in kinds.items()) + ")"
        )

    def __repr__(self) -> str:
        return f"<RedactResult {self.summary()}>"

    def _repr_html_(self) -> str:
        head = self.spans.drop(columns=["text"]).head(20).to_html(index=False) if len(self.spans) else ""
        return f"<div><b>{html.escape(self.summary())}</b>{head}</div>"


def redact(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    kinds: Sequence[str] | None = None,
    template: str = "[{kind}]",
) -> RedactResult:
    """Replace PII in text columns (strings, chat messages, nested JSON values) by ``[KIND]``.

    ``columns`` defaults to every column but the ids and lineage ids (:data:`NEVER_REDACTED`),
    so labels, metadata and annotator names are covered too. Detection is
    :func:`llmops_nb.evals.find_pii`; ``kinds`` limits it (e.g. ``["email", "phone"]``).
    Returns the redacted copy and the list of redacted spans (the input is not changed).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"example_id": ["a"], "input_text": ["mail ann@corp.io please"]})
        >>> out, spans = redact(df)
        >>> out.loc[0, "input_text"], spans[["column", "kind", "start", "end"]].values.tolist()
        ('mail [EMAIL] please', [['input_text', 'email', 5, 16]])
    """
    find = _detector()
    cols = list(columns) if columns is not None else [c for c in frame.columns if c not in NEVER_REDACTED]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise KeyError(f"redact(columns=...): {missing} not in the frame; columns are {list(frame.columns)}")
    out = frame.copy()
    spans: list[dict[str, Any]] = []
    ids = frame["example_id"].tolist() if "example_id" in frame.columns else [None] * len(frame)
    index = list(frame.index)

    from llmops_nb.pii import redact_value

    def detect(text: str) -> list[Any]:
        return find(text, kinds) if kinds is not None else find(text)

    def fix(v: Any, row: int, col: str, path: str) -> Any:
        def seen(p: str, m: Any, rep: str) -> None:
            spans.append({"row": index[row], "example_id": ids[row], "column": col, "path": p,
                          "kind": m.kind, "start": m.start, "end": m.end, "text": m.text, "replacement": rep})

        return redact_value(v, detect, template=template, on_match=seen, path=path)

    for c in cols:
        s = frame[c]
        if s.dtype != object and not pd.api.types.is_string_dtype(s.dtype):
            continue
        vals = s.tolist()
        new = [fix(v, i, c, "") for i, v in enumerate(vals)]
        out[c] = pd.Series(new, index=frame.index, dtype=object if s.dtype == object else s.dtype)
    sp = pd.DataFrame(spans, columns=["row", "example_id", "column", "path", "kind", "start", "end", "text", "replacement"])
    return RedactResult(out, sp)
