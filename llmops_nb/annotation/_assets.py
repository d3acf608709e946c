"""Find the widget assets (JS and CSS) shipped as the package ``llmops_nb.widgets``."""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["asset_path", "asset_text"]

_NAMES = ("annotate.js", "annotate.css", "trace_view.js", "trace_view.css")


@functools.cache
def _asset_dir() -> Path:
    """The folder holding the widget files: the installed ``llmops_nb.widgets`` package, or the
    source tree's ``widgets/`` folder when running from a checkout that is not installed."""
    try:
        from importlib.resources import files

        p = Path(str(files("llmops_nb.widgets")))
        if (p / "trace_view.css").exists():
            return p
    except (ModuleNotFoundError, TypeError):
        pass
    p = Path(__file__).resolve().parents[2] / "widgets"
    if (p / "trace_view.css").exists():
        return p
    raise FileNotFoundError(
        "the llmops_nb widget assets (annotate.js, annotate.css, trace_view.css) were not found; "
        "reinstall the package: pip install --force-reinstall llmops-nb"
    )


def asset_path(name: str) -> Path:
    """The path of one widget asset, e.g. ``asset_path("annotate.js")``.

    Example:
        >>> asset_path("annotate.css").name
        'annotate.css'
    """
    if name not in _NAMES:
        raise ValueError(f"unknown widget asset {name!r}; valid: {list(_NAMES)}")
    return _asset_dir() / name


@functools.cache
def asset_text(name: str) -> str:
    """The text of one widget asset (cached)."""
    return asset_path(name).read_text(encoding="utf-8")
