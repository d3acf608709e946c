"""The views' JavaScript and CSS, read from the ``llmops_nb.widgets`` folder."""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["asset_path", "asset_text"]

_NAMES = ("explore.js", "explore.css", "compare.js", "compare.css", "trace_view.css")


def asset_path(name: str) -> Path:
    """The path of one view asset (``explore.js``, ``compare.css``, ...)."""
    if name not in _NAMES:
        raise ValueError(f"unknown view asset {name!r}; valid: {list(_NAMES)}")
    import llmops_nb.widgets as w

    p = Path(w.__file__).resolve().parent / name
    if not p.exists():
        raise FileNotFoundError(f"the widget asset {p} is missing; reinstall: pip install --force-reinstall llmops-nb")
    return p


@functools.cache
def asset_text(name: str) -> str:
    """The text of one view asset (cached)."""
    return asset_path(name).read_text(encoding="utf-8")
