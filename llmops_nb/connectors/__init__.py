"""Connectors: pull traces incrementally from running backends (Phoenix, Langfuse, LangSmith,
MLflow, Datadog LLM Observability) into the store, and push results, labels, failure modes and
datasets back to them. OTLP collectors push spans instead, through ``llmops-nb collect``.

Example:
    >>> import llmops_nb as lo
    >>> report = lo.pull("phoenix", url="http://127.0.0.1:6006")  # doctest: +SKIP
    >>> lo.pull("langfuse").spans_fetched  # second pull: only what is new  # doctest: +SKIP
    0
"""

from llmops_nb.connectors._base import Page, Source, get_source, register_source, sources
from llmops_nb.connectors._http import HttpClient, PullError, Retry, Secret, scrub
from llmops_nb.connectors._pull import PullReport, pull
from llmops_nb.connectors._push import (
    PushReport,
    PushRow,
    Target,
    get_target,
    push,
    push_rows,
    targets,
)
from llmops_nb.loaders.scores import (
    datadog_metrics,
    langfuse_scores,
    langsmith_feedback,
    phoenix_annotations,
)

__all__ = [
    "pull",
    "PullReport",
    "push",
    "PushReport",
    "PushRow",
    "push_rows",
    "Target",
    "get_target",
    "targets",
    "PullError",
    "Retry",
    "Source",
    "Page",
    "sources",
    "get_source",
    "register_source",
    "HttpClient",
    "Secret",
    "scrub",
    "datadog_metrics",
    "langfuse_scores",
    "langsmith_feedback",
    "phoenix_annotations",
]
