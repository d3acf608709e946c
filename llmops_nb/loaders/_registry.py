"""The registry of trace formats: built-ins, ``register_format`` and the entry-point group."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Format", "register_format", "formats", "get_format", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "llmops_nb.formats"


@dataclass(frozen=True)
class Format:
    """A trace format: how to recognise one record of it and map it onto span rows.

    - ``parse(record, ctx)`` yields span rows (dicts keyed by :data:`llmops_nb.schema.SPANS`
      columns) for one record: a parsed JSON document, one JSONL line, or one row dict.
    - ``detect(record)`` says whether a record is of this format (content-based detection).
    - ``read_file(path)`` (optional) yields records from a file the generic readers cannot
      open (protobuf, YAML cassettes, Parquet with a special shape).
    - ``sniff(path)`` (optional) says from a file's first bytes whether ``read_file`` should
      read it; without it, ``read_file`` claims every file with one of ``extensions``.
    - ``priority``: higher is tried first during detection.

    Example:
        >>> import llmops_nb as lo
        >>> fmt = lo.Format("mine", "my app's log", parse=lambda r, ctx: [{"trace_id": r["t"],
        ...     "span_id": r["s"], "kind": "llm", "output_text": r["out"]}],
        ...     detect=lambda r: isinstance(r, dict) and "out" in r and "t" in r)
        >>> lo.register_format(fmt, replace=True)
        >>> lo.read_traces([{"t": "1", "s": "a", "out": "hi"}])["output_text"].tolist()
        ['hi']
    """

    name: str
    description: str
    parse: Callable[[Any, dict[str, Any]], Iterable[dict[str, Any]]]
    detect: Callable[[Any], bool] | None = None
    read_file: Callable[[str], Iterator[Any]] | None = None
    extensions: tuple[str, ...] = ()
    priority: int = 0
    whole_file: bool = False
    """When True the whole parsed file (e.g. a top-level list) is one record."""
    options: dict[str, Any] = field(default_factory=dict)
    sniff: Callable[[str], bool] | None = None
    """When set, ``read_file`` claims a file only if ``sniff(path)`` is True."""


_FORMATS: dict[str, Format] = {}
_LOADED_ENTRY_POINTS = False


def register_format(fmt: Format, *, replace: bool = False) -> None:
    """Add a format to the registry (third parties can also use the ``llmops_nb.formats``
    entry-point group, whose objects are :class:`Format` instances).

    Example:
        >>> fmt = get_format("records")
        >>> register_format(fmt, replace=True)  # a new Format object registers the same way
        >>> get_format("records") is fmt
        True
    """
    if fmt.name in _FORMATS and not replace:
        raise ValueError(f"a format named {fmt.name!r} is already registered; pass replace=True to override it")
    _FORMATS[fmt.name] = fmt


def _load_builtins() -> None:
    from llmops_nb.loaders import _builtin  # noqa: F401  (registers on import)


def _load_entry_points() -> None:
    global _LOADED_ENTRY_POINTS
    if _LOADED_ENTRY_POINTS:
        return
    _LOADED_ENTRY_POINTS = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        fmt = obj() if callable(obj) and not isinstance(obj, Format) else obj
        if isinstance(fmt, Format) and fmt.name not in _FORMATS:
            _FORMATS[fmt.name] = fmt


def _all() -> dict[str, Format]:
    _load_builtins()
    _load_entry_points()
    return _FORMATS


def get_format(name: str) -> Format:
    """The registered format called ``name``.

    Example:
        >>> get_format("records").name
        'records'
    """
    fmts = _all()
    if name not in fmts:
        raise ValueError(f"unknown format {name!r}; valid formats: {sorted(fmts)}. See llmops_nb.formats().")
    return fmts[name]


def detection_order() -> list[Format]:
    return sorted(_all().values(), key=lambda f: -f.priority)


def formats() -> pd.DataFrame:
    """The registered formats, one row per format: name, description, file extensions.

    Example:
        >>> import llmops_nb as lo
        >>> "otlp_json" in set(lo.formats()["name"])
        True
    """
    rows = [
        {"name": f.name, "description": f.description, "extensions": ", ".join(f.extensions)}
        for f in sorted(_all().values(), key=lambda f: f.name)
    ]
    return pd.DataFrame(rows)
