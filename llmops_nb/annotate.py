"""Deprecated alias of :mod:`llmops_nb.annotation` (the subpackage was renamed so that it no
longer collides with the function :func:`llmops_nb.annotate`); it goes away in the next release.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     from llmops_nb.annotate import Question
    >>> Question.__module__
    'llmops_nb.annotation._schema'
"""

from __future__ import annotations

import warnings

from llmops_nb.annotation import *  # noqa: F403
from llmops_nb.annotation import __all__  # noqa: F401

warnings.warn(
    "the module llmops_nb.annotate is renamed llmops_nb.annotation "
    "(`from llmops_nb.annotation import ...`); lo.annotate is the function",
    DeprecationWarning,
    stacklevel=2,
)
