"""Deprecated alias of :mod:`llmops_nb.tracing` (the subpackage was renamed so that it no
longer collides with the function :func:`llmops_nb.capture`); it goes away in the next release.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     from llmops_nb.capture import Collector
    >>> Collector.__module__
    'llmops_nb.tracing._collector'
"""

from __future__ import annotations

import warnings

from llmops_nb.tracing import (  # noqa: F401
    Capture,
    Collector,
    Span,
    SpanHandle,
    StoreSpanExporter,
    __all__,
    attributes,
    capture,
    span,
)

warnings.warn(
    "the module llmops_nb.capture is renamed llmops_nb.tracing "
    "(`from llmops_nb.tracing import ...`); lo.capture is the function",
    DeprecationWarning,
    stacklevel=2,
)
