"""Human review inside the notebook: the trace viewer, the keyboard-driven annotation queue,
append-only labels, agreement between annotators and the alignment of judges to humans.

Example:
    >>> import llmops_nb as lo
    >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm"}], format="records")
    >>> lo.show_trace(spans, "t")
    TraceView(trace_id='t', 1 spans)
"""

from llmops_nb.annotation._agreement import (
    Agreement,
    agreement,
    cohen_kappa,
    confusion,
    disagreements,
    fleiss_kappa,
    krippendorff_alpha,
)
from llmops_nb.annotation._align import (
    Alignment,
    CorrectedRate,
    align,
    corrected_pass_rate,
    pairwise_bias,
    rogan_gladen,
    split_items,
    wilson,
)
from llmops_nb.annotation._labels import labels, resolve_labels
from llmops_nb.annotation._leases import leases
from llmops_nb.annotation._queue import QUEUES
from llmops_nb.annotation._schema import Question, Schema, as_schema
from llmops_nb.annotation._selection import SelectionQueue, queue_from_selection
from llmops_nb.annotation._session import Session
from llmops_nb.annotation._session_view import SessionView, show_session
from llmops_nb.annotation._trace_view import TraceView, show_trace
from llmops_nb.annotation._widget import annotate

__all__ = [
    "Agreement",
    "Alignment",
    "CorrectedRate",
    "QUEUES",
    "SelectionQueue",
    "agreement",
    "align",
    "cohen_kappa",
    "confusion",
    "corrected_pass_rate",
    "disagreements",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairwise_bias",
    "queue_from_selection",
    "rogan_gladen",
    "split_items",
    "wilson",
    "Question",
    "Schema",
    "Session",
    "SessionView",
    "show_session",
    "TraceView",
    "annotate",
    "as_schema",
    "labels",
    "leases",
    "resolve_labels",
    "show_trace",
]

