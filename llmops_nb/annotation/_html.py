"""Small HTML helpers: escaping, truncation with an offline expander, number formats."""

from __future__ import annotations

import html
from typing import Any

import orjson

from llmops_nb.schema import is_missing

__all__ = ["esc", "clip", "fmt_num", "fmt_ms", "fmt_cost", "fmt_value", "is_missing", "to_json_text"]


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
    if v < 10:
        return f"{v:.1f} ms"
    return f"{v:,.0f} ms" if v < 1000 else f"{v / 1000:,.2f} s"


def fmt_cost(v: Any) -> str:
    """US dollars with enough digits for small costs (two significant digits below a cent).

    Example:
        >>> fmt_cost(0.0000123), fmt_cost(0.25), fmt_cost(1234.5), fmt_cost(0)
        ('$0.000012', '$0.25', '$1,234.50', '$0')
    """
    if is_missing(v):
        return ""
    v = float(v)
    if v == 0:
        return "$0"
    if abs(v) < 0.01:
        return "$" + _positional(v)
    return f"${v:,.2f}"


def _positional(x: float) -> str:
    import numpy as np

    return str(np.format_float_positional(x, precision=2, unique=False, fractional=False, trim="-"))


def fmt_value(v: Any, name: str = "") -> str:
    """A value for a chip or a label: numbers readable (a latency in ms or s, a cost in dollars,
    a score with 3 digits), lists joined with commas, True/False as pass/fail.

    Example:
        >>> fmt_value(7740.2, "latency_ms"), fmt_value(0.000123, "cost_usd"), fmt_value(["a", "b"])
        ('7.74 s', '$0.00012', 'a, b')
    """
    import numpy as np

    if isinstance(v, np.ndarray):
        v = v.tolist()
    if not isinstance(v, (list, tuple, dict)) and is_missing(v):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "pass" if v else "fail"
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt_value(x) for x in v) if v else "(none)"
    if isinstance(v, dict):
        return ", ".join(f"{k}: {fmt_value(x)}" for k, x in v.items())
    if isinstance(v, (int, float, np.integer, np.floating)):
        x = float(v)
        n = name.lower()
        if n.endswith("_ms") or "latency" in n:
            return fmt_ms(x)
        if "cost" in n or "usd" in n:
            return fmt_cost(x)
        if x.is_integer() and abs(x) < 1e15:
            return f"{int(x):,}"
        ax = abs(x)
        if ax >= 1000:
            return f"{x:,.0f}"
        if ax >= 1:
            return f"{x:,.2f}".rstrip("0").rstrip(".")
        return f"{x:.3g}" if ax >= 1e-3 else _positional(x)
    return str(v)
