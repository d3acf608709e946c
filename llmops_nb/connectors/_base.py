"""What every source shares: the ``Source`` base class, the ``Page`` it yields, the source
registry, and small helpers (ordered bounded prefetch, time parsing, result / label rows).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pandas as pd

from llmops_nb.connectors._http import HttpClient, PullError, Retry, Secret
from llmops_nb.loaders.scores import iso, label_row, parse_time, result_row

__all__ = [
    "Page",
    "Source",
    "register_source",
    "get_source",
    "sources",
    "ordered",
    "parse_time",
    "iso",
    "result_row",
    "label_row",
    "claimed_count",
    "CursorGuard",
    "ProgressGuard",
]


@dataclass
class Page:
    """One durable unit of a pull: records in the loader's format (mapped by
    ``read_traces(records, format=source.format)``), plus result and label rows.

    ``watermark``: after this page (and every page before it) is stored, everything the
    backend holds up to this time (in the source's watermark field) has been fetched.

    Example:
        >>> Page(records=[{"id": "r1"}]).records
        [{'id': 'r1'}]
    """

    records: list[Any] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    watermark: datetime | None = None
    items: int = 0
    total: int | None = None
    weight: int = 1
    """Spans per record (about): 1 for span records, more for whole-trace records."""


_SOURCES: dict[str, type[Source]] = {}


def register_source(cls: type[Source]) -> type[Source]:
    """Register a :class:`Source` subclass under ``cls.name`` (usable as a decorator).

    Example:
        >>> from llmops_nb.connectors import Source, register_source, sources
        >>> "langfuse" in set(sources()["name"])
        True
    """
    _SOURCES[cls.name] = cls
    return cls


def _load_builtins() -> None:
    from llmops_nb.connectors import _datadog, _langfuse, _langsmith, _mlflow, _phoenix  # noqa: F401


def get_source(name: str) -> type[Source]:
    """The source class called ``name``.

    Example:
        >>> get_source("langfuse").__name__
        'LangfuseSource'
    """
    _load_builtins()
    if name == "otlp":
        raise ValueError(
            "OTLP collectors push spans; there is nothing to pull. Run the receiver instead: "
            "`llmops-nb collect --store PATH` and point the collector's OTLP/HTTP exporter at it."
        )
    if name not in _SOURCES:
        raise ValueError(
            f"unknown source {name!r}; valid sources: {sorted(_SOURCES)} "
            "(and 'otlp' through `llmops-nb collect`). See llmops_nb.connectors.sources()."
        )
    return _SOURCES[name]


def sources() -> pd.DataFrame:
    """The sources ``pull`` knows, one row per source: name, description, environment variables.

    Example:
        >>> from llmops_nb.connectors import sources
        >>> sorted(sources()["name"])[:2]
        ['datadog', 'langfuse']
    """
    _load_builtins()
    return pd.DataFrame(
        [
            {"name": c.name, "description": c.description, "env": ", ".join(c.env_vars), "filters": ", ".join(c.filter_keys)}
            for c in sorted(_SOURCES.values(), key=lambda c: c.name)
        ]
    )


class Source:
    """A backend to pull from. Subclasses set the class attributes and implement
    :meth:`client` and :meth:`pages`.

    Constructors only store settings (``url``, ``credentials``, ``project``, ``filters``,
    ``page_size``); requests happen in :meth:`pages`.

    Example:
        >>> src = get_source("langfuse")(project="support-bot")  # nothing is requested yet
        >>> src.name, src.format, src.project
        ('langfuse', 'langfuse', 'support-bot')
    """

    name: ClassVar[str] = ""
    format: ClassVar[str] = ""
    description: ClassVar[str] = ""
    env_vars: ClassVar[tuple[str, ...]] = ()
    filter_keys: ClassVar[tuple[str, ...]] = ()
    default_url: ClassVar[str | None] = None
    default_page_size: ClassVar[int] = 100
    rate_per_s: ClassVar[float | None] = None
    """The backend's documented (or a safe) request rate for reads."""
    lag: ClassVar[timedelta] = timedelta(0)
    """How late the backend's read API may show an item (ingestion delay): the watermark is
    held back by this much so late arrivals are still fetched."""

    def __init__(
        self,
        *,
        url: str | None = None,
        credentials: Mapping[str, str] | None = None,
        project: str | None = None,
        filters: Mapping[str, Any] | None = None,
        page_size: int | None = None,
        concurrency: int = 4,
        retry: Retry | None = None,
        rate_per_s: float | None = None,
    ) -> None:
        self.url = url
        self._credentials = {k: Secret(v) if not isinstance(v, Secret) else v for k, v in (credentials or {}).items() if v}
        self.project = project
        self.filters = dict(filters or {})
        bad = sorted(set(self.filters) - set(self.filter_keys))
        if bad:
            raise ValueError(
                f"filters {bad} are not supported by the {self.name} source; valid filters: "
                f"{list(self.filter_keys)}"
            )
        self.page_size = page_size or self.default_page_size
        self.concurrency = concurrency
        self.retry = retry or Retry()
        if rate_per_s is not None:
            self.rate_per_s = rate_per_s  # type: ignore[misc]

    def __repr__(self) -> str:
        from llmops_nb.connectors._http import safe_url

        return f"{type(self).__name__}(url={safe_url(self.base_url())!r}, project={self.project!r})"

    # credentials: argument, then environment; kept as Secret
    def secret(self, *names: str, required: bool = True) -> Secret | None:
        for n in names:
            if n in self._credentials:
                return self._credentials[n]
        for n in names:
            v = os.environ.get(n)
            if v:
                return Secret(v)
        if required:
            raise PullError(
                f"the {self.name} source needs {names[0]}: set the environment variable "
                f"{' or '.join(names)}, or pass credentials={{{names[0]!r}: ...}}"
            )
        return None

    def setting(self, *names: str, default: str | None = None) -> str | None:
        for n in names:
            if n in self._credentials:
                return self._credentials[n].value
        for n in names:
            if os.environ.get(n):
                return os.environ[n]
        return default

    def base_url(self) -> str:
        return (self.url or self.default_url or "").rstrip("/")

    def state_key(self) -> str:
        """The store-state key of this source's watermark: one per (source, project, filters)."""
        key = f"connectors/{self.name}/{self.project or 'default'}"
        if self.filters:
            h = hashlib.sha1(repr(sorted(self.filters.items())).encode()).hexdigest()[:10]
            key += f"/filters-{h}"
        return key

    def client(self) -> HttpClient:  # pragma: no cover - abstract
        raise NotImplementedError

    def pages(
        self, client: HttpClient, since: datetime | None, until: datetime, state: dict[str, Any]
    ) -> AsyncIterator[Page]:  # pragma: no cover - abstract
        """Yield pages in watermark order (``since`` inclusive, ``until`` exclusive)."""
        raise NotImplementedError


def claimed_count(v: Any, default: int = 1) -> int:
    """A count a server claims (``totalPages``, ``totalItems``) as a non-negative int, or
    ``default`` when it is missing or not a number. Only ever used as an upper bound of a lazy
    loop (never to allocate), so ``totalPages=1e9`` costs nothing until pages come.

    Example:
        >>> claimed_count("1e9"), claimed_count(None), claimed_count("many"), claimed_count(-3)
        (1000000000, 1, 1, 0)
    """
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        return default
    if x != x:  # NaN
        return default
    return int(min(max(x, 0.0), 2.0**62))


class CursorGuard:
    """Stops a pull whose server hands back a cursor (or page token) it gave before: a cycle
    A -> B -> A would otherwise never end.

    Example:
        >>> g = CursorGuard("LangSmith")
        >>> g.check("A", 1); g.check("B", 2)
        >>> g.check("A", 3)
        Traceback (most recent call last):
        ...
        llmops_nb.connectors._http.PullError: LangSmith returned cursor 'A' again on page 3 (first seen on page 1): the server's cursors cycle; stopping to avoid a loop. The pages before were stored; report this to the server's maintainers.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._seen: dict[str, int] = {}

    def check(self, cursor: Any, page: int) -> None:
        if cursor is None or cursor == "":
            return
        key = cursor if isinstance(cursor, str) else repr(cursor)
        if key in self._seen:
            from llmops_nb.connectors._http import excerpt

            raise PullError(
                f"{self.source} returned cursor {excerpt(key, 60)!r} again on page {page} (first seen on page "
                f"{self._seen[key]}): the server's cursors cycle; stopping to avoid a loop. The pages before "
                "were stored; report this to the server's maintainers."
            )
        self._seen[key] = page


class ProgressGuard:
    """Stops a paged listing that keeps answering pages with nothing new (a server that repeats
    one page while claiming millions): after ``patience`` such pages in a row, a ``PullError``.

    Example:
        >>> g = ProgressGuard("Langfuse", patience=2)
        >>> g.page(1, new=3); g.page(2, new=0)
        >>> g.page(3, new=0)
        Traceback (most recent call last):
        ...
        llmops_nb.connectors._http.PullError: Langfuse answered 2 pages in a row (pages 2-3) with no item not already seen; stopping to avoid a loop. The pages before were stored; run the same pull again to resume.
    """

    def __init__(self, source: str, patience: int = 5) -> None:
        self.source = source
        self.patience = patience
        self._stale = 0

    def page(self, n: int, new: int) -> None:
        self._stale = 0 if new else self._stale + 1
        if self._stale >= self.patience:
            raise PullError(
                f"{self.source} answered {self._stale} pages in a row (pages {n - self._stale + 1}-{n}) with no "
                "item not already seen; stopping to avoid a loop. The pages before were stored; run the same "
                "pull again to resume."
            )


async def ordered(
    factories: Iterable[Callable[[], Awaitable[Any]]], limit: int
) -> AsyncIterator[Any]:
    """Run the awaitables made by ``factories`` with at most ``limit`` in flight and yield
    their results in order (prefetch ahead, deliver in sequence)."""
    it = iter(factories)
    window: list[asyncio.Task[Any]] = []
    try:
        for f in it:
            window.append(asyncio.ensure_future(f()))
            if len(window) >= max(1, limit):
                break
        while window:
            first = window.pop(0)
            res = await first
            nxt = next(it, None)
            if nxt is not None:
                window.append(asyncio.ensure_future(nxt()))
            yield res
    finally:
        for t in window:
            t.cancel()










