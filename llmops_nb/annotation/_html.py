"""Small HTML helpers: escaping, truncation with an offline expander, number formats."""

from __future__ import annotations

import html
from typing import Any

import orjson

from llmops_nb.schema import is_missing

__all__ = ["esc", "clip", "fmt_num", "fmt_ms", "fmt_cost", "is_missing", "to_json_text"]


def esc(v: Any) -> str:
    """HTML-escape any value (quotes included), None as an empty string."""
    if is_missing(v):
        return ""
    return html.escape(str(v), quote=True)


def to_json_text(v: Any) -> str:
    """A value as readable JSON text (strings kept as they are)."""
    if isinstance(v, str):
        return v
    try:
        return orjson.dumps(v, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS,
                            default=str).decode()
    except TypeError:
        return str(v)


def clip(text: Any, limit: int = 2000, hard_limit: int = 200_000, cls: str = "lo-text") -> str:
    """Escaped text in a ``<div>``; beyond ``limit`` characters the rest sits in a
    ``<details>`` expander (works offline, no script); beyond ``hard_limit`` it is cut with a note."""
    if is_missing(text):
        return ""
    s = str(text)
    if len(s) <= limit:
        return f'<div class="{cls}">{esc(s)}</div>'
    shown, rest = s[:limit], s[limit:hard_limit]
    cut = len(s) - hard_limit if len(s) > hard_limit else 0
    note = f'<div class="lo-cut">... {cut:,} more characters not shown</div>' if cut else ""
    return (
        f'<div class="{cls}">{esc(shown)}<details class="lo-more"><summary>show all '
        f'({len(s):,} characters)</summary>{esc(rest)}{note}</details></div>'
    )


def fmt_num(v: Any) -> str:
    """An integer with thousands separators, or '' when missing."""
    if is_missing(v):
        return ""
    try:
        return f"{int(v):,}"
    except (TypeError, ValueError):
        return esc(v)


def fmt_ms(v: Any) -> str:
    """Milliseconds as '850 ms' or '2.40 s'."""
    if is_missing(v):
        return ""
    v = float(v)
    return f"{v:,.0f} ms" if v < 1000 else f"{v / 1000:,.2f} s"


def fmt_cost(v: Any) -> str:
    """US dollars with enough digits for small costs."""
    if is_missing(v):
        return ""
    v = float(v)
    return f"${v:.4f}" if v < 1 else f"${v:,.2f}"
