"""The errors of dataset operations."""

from __future__ import annotations

__all__ = ["DatasetError", "DatasetConflictError"]


class DatasetError(Exception):
    """A dataset operation failed: unknown dataset, version or tag, bad input.

    Example:
        >>> import tempfile
        >>> from llmops_nb.datasets import load
        >>> try:
        ...     load("missing", store=tempfile.mkdtemp())
        ... except DatasetError as e:
        ...     print(type(e).__name__)
        DatasetError
    """


class DatasetConflictError(DatasetError):
    """Another writer committed a version at the same time and retries ran out.

    Example:
        >>> issubclass(DatasetConflictError, DatasetError)
        True
    """
