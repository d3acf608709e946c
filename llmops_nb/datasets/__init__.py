"""Curated test sets in versioned storage.

Curation steps take a frame and return a new one (``select``, ``stratified_sample``,
``assign_splits``, ``dedupe``, ``redact``); ``to_examples`` turns spans or traces with their
results and labels into examples with lineage; ``save`` / ``load`` / ``history`` / ``diff`` /
``tag`` / ``list`` keep immutable versions in Delta Lake tables (local folder or s3://);
``export`` and ``push_to_hub`` share them, with PII redaction on by default.

Note: inside this package ``import datasets`` means Hugging Face ``datasets`` (absolute imports).

Example:
    >>> import tempfile, pandas as pd
    >>> from llmops_nb import datasets as lds
    >>> ex = lds.to_examples(pd.DataFrame({"input": ["2+2?"], "output": ["4"]}))
    >>> v = lds.save(ex, "arith", message="first", store=tempfile.mkdtemp())
    >>> v.version
    0
"""

from __future__ import annotations

from llmops_nb.datasets._cleanup import cleanup
from llmops_nb.datasets._curate import assign_splits, select, stable_hash, stratified_sample
from llmops_nb.datasets._dedupe import DedupeResult, dedupe
from llmops_nb.datasets._diff import DatasetDiff, diff
from llmops_nb.datasets._errors import DatasetConflictError, DatasetError
from llmops_nb.datasets._examples import EXAMPLES, example_id, to_examples
from llmops_nb.datasets._export import FORMATS, ExportReport, HubPushResult, export, push_to_hub
from llmops_nb.datasets._location import DatasetStorage
from llmops_nb.datasets._migrations import MIGRATIONS, SCHEMA_VERSION
from llmops_nb.datasets._tags import tag, tags
from llmops_nb.datasets._versions import DatasetVersion, history, list_datasets, load, save
from llmops_nb.pii import RedactResult
from llmops_nb.pii import redact_frame as redact

list = list_datasets  # noqa: A001 - the documented verb; list_datasets is the same function

__all__ = [
    "EXAMPLES",
    "FORMATS",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "DatasetConflictError",
    "DatasetDiff",
    "DatasetError",
    "DatasetStorage",
    "DatasetVersion",
    "DedupeResult",
    "ExportReport",
    "HubPushResult",
    "RedactResult",
    "assign_splits",
    "cleanup",
    "dedupe",
    "diff",
    "example_id",
    "export",
    "history",
    "list",
    "list_datasets",
    "load",
    "push_to_hub",
    "redact",
    "save",
    "select",
    "stable_hash",
    "stratified_sample",
    "tag",
    "tags",
    "to_examples",
]
