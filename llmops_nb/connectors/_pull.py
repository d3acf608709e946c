"""``pull``: fetch what is new in a backend since the last pull and store it, page by page."""

from __future__ import annotations

import asyncio
import copy
import html
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd

from llmops_nb.connectors._base import Page, Source, get_source, iso, parse_time
from llmops_nb.connectors._http import PullError, Retry, safe_url, scrub

__all__ = ["pull", "PullReport"]

log = logging.getLogger("llmops_nb.connectors")


@dataclass
class PullReport:
    """What one pull did: how much it fetched and stored, the watermark before and after, the
    requests, retries and rate-limit responses. Never holds a credential.

    Example:
        >>> r = PullReport(source="langfuse", project="p", url="http://127.0.0.1:1")
        >>> r.spans_stored
        0
    """

    source: str
    project: str | None
    url: str
    since: str | None = None
    until: str | None = None
    watermark_before: str | None = None
    watermark_after: str | None = None
    pages: int = 0
    items: int = 0
    spans_fetched: int = 0
    spans_stored: int = 0
    traces: int = 0
    results_stored: int = 0
    labels_stored: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    seconds: float = 0.0
    complete: bool = False
    error: str | None = None
    trace_ids: list[str] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("trace_ids")
        return d

    def __str__(self) -> str:
        status = "complete" if self.complete else f"stopped: {self.error}"
        return (
            f"pulled {self.spans_fetched:,} spans in {self.traces:,} traces from {self.source} "
            f"({self.url}, project {self.project or 'default'}) in {self.seconds:.1f}s: "
            f"{self.spans_stored:,} span rows stored, {self.results_stored:,} results, "
            f"{self.labels_stored:,} labels; {self.pages} pages, {self.requests} requests, "
            f"{self.retries} retries ({self.rate_limited} rate-limited); watermark "
            f"{self.watermark_before or 'none'} -> {self.watermark_after or 'none'}; {status}"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>" for k, v in self.to_dict().items()
        )
        return f"<div><b>PullReport</b><table>{rows}</table></div>"


def _run(coro: Any) -> Any:
    """Run a coroutine from sync code, also inside Jupyter's running loop (in a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["v"] = asyncio.run(coro)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["e"] = e

    t = threading.Thread(target=target, name="llmops-nb-pull")
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["v"]


def _as_time(v: Any, what: str) -> datetime | None:
    if v is None:
        return None
    if isinstance(v, timedelta):
        return datetime.now(timezone.utc) - v
    try:
        return parse_time(v)
    except (ValueError, TypeError):
        raise ValueError(
            f"{what}={v!r} is not a time; pass a datetime, ISO 8601 text ('2025-01-31T00:00:00Z'), "
            "epoch seconds or a timedelta (meaning 'that long ago')"
        ) from None


def pull(
    source: str | Source,
    *,
    since: datetime | str | timedelta | None = None,
    until: datetime | str | timedelta | None = None,
    filters: Mapping[str, Any] | None = None,
    store: Any = None,
    project: str | None = None,
    url: str | None = None,
    credentials: Mapping[str, str] | None = None,
    concurrency: int = 4,
    page_size: int | None = None,
    retry: Retry | None = None,
    full: bool = False,
    progress: bool = True,
    flush_rows: int = 10_000,
) -> PullReport:
    """Pull traces (and the scores and annotations the backend holds) from a running backend
    into the store, incrementally; returns a :class:`PullReport`.

    ``source``: ``"phoenix"``, ``"langfuse"``, ``"langsmith"``, ``"mlflow"``, ``"datadog"``
    (see :func:`sources`) or a :class:`Source` instance. OTLP collectors push instead: use
    ``llmops-nb collect``.

    Incremental: a watermark per (source, project, filters) is kept in the store; without
    ``since`` the pull starts at the watermark and fetches only what is new or updated.
    ``full=True`` ignores the watermark. Pages are stored in batches of about ``flush_rows``
    spans and the watermark moves past a page only once it is stored, so an interrupted pull resumes where it stopped; re-pulling is idempotent (updated
    spans replace the stored rows). ``until`` defaults to now (a consistent snapshot).

    Credentials come from ``credentials=`` or the backend's usual environment variables; they
    are never written to the store, the report, logs or error messages.

    Scores and annotations become rows of the results table (automatic / model evaluations)
    or the labels table (human annotations).

    Example:
        >>> import llmops_nb as lo
        >>> report = lo.pull("langfuse", project="support-bot", since="2025-01-01")  # doctest: +SKIP
        >>> print(report)  # doctest: +SKIP
        pulled 1,204 spans in 96 traces from langfuse ...
    """
    from llmops_nb.store import as_store

    if isinstance(source, Source):
        src = source
        if filters:
            raise ValueError("pass filters= to the Source constructor when source is a Source instance")
    else:
        cls = get_source(source)
        src = cls(
            url=url, credentials=credentials, project=project, filters=filters, page_size=page_size,
            concurrency=concurrency, retry=retry,
        )
    st = as_store(store)
    since_t = _as_time(since, "since")
    until_t = _as_time(until, "until") or datetime.now(timezone.utc)
    if since_t is not None and since_t >= until_t:
        raise ValueError(f"since={iso(since_t)} is not before until={iso(until_t)}; pass a since earlier than until")
    return _run(_pull(src, st, since_t, until_t, full, progress, flush_rows))


async def _pull(
    src: Source, store: Any, since: datetime | None, until: datetime, full: bool, progress: bool, flush_rows: int
) -> PullReport:
    from llmops_nb.loaders import read_traces

    key = src.state_key()
    state: dict[str, Any] = dict(store.get_state(key) or {})
    state.pop("pending_since", None)  # sources set it again for traces still in progress
    wm_before = state.get("watermark")
    start = since if since is not None else (None if full else parse_time(wm_before))
    report = PullReport(
        source=src.name, project=src.project, url=safe_url(src.base_url()), since=iso(start), until=iso(until),
        watermark_before=wm_before, watermark_after=wm_before,
    )
    t0 = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"pull {src.name}", unit=" items", leave=False)
    seen_traces: set[str] = set()
    src.resume = since is None and not full  # type: ignore[attr-defined]
    client = src.client()
    buffer: list[Page] = []
    snap: dict[str, Any] = {}

    async def flush() -> None:
        """Store the buffered (whole) pages, then move the watermark past them."""
        if not buffer:
            return
        pages = list(buffer)
        buffer.clear()
        await asyncio.get_running_loop().run_in_executor(
            None, _store_pages, pages, src, store, report, seen_traces, read_traces
        )
        # the pages are durable: only now may the watermark move past them
        for pg in pages:
            if pg.watermark is not None:
                wm = src_final_watermark(src, min(pg.watermark, until - src.lag), snap)
                if report.watermark_after is None or wm > parse_time(report.watermark_after):  # type: ignore[operator]
                    report.watermark_after = iso(wm)
        snap.update(watermark=report.watermark_after, url=report.url, last_pull=iso(datetime.now(timezone.utc)))
        store.set_state(key, snap)

    try:
        try:
            async with client:
                async for page in src.pages(client, start, until, state):
                    buffer.append(page)
                    snap.clear()
                    snap.update(copy.deepcopy(state))  # the source's state as of this page
                    if sum(len(p.records) * p.weight for p in buffer) >= flush_rows:
                        await flush()
                    if bar is not None:
                        if page.total is not None and bar.total != page.total:
                            bar.total = page.total
                        bar.update(page.items)
                        bar.set_postfix(spans=report.spans_fetched, refresh=False)
        except (PullError, KeyboardInterrupt, asyncio.CancelledError):
            await flush()  # the pages fetched whole before the failure are kept
            raise
        await flush()
        # the whole window [start, until) was read: the next pull starts at the newest item seen
        # (inclusive, so equal timestamps are not lost), held back by the backend's ingestion lag
        # and by traces still in progress
        seen_wm = parse_time(report.watermark_after) or start
        if seen_wm is not None:
            report.watermark_after = iso(src_final_watermark(src, min(seen_wm, until - src.lag), state))
        state.update(watermark=report.watermark_after, url=report.url, last_pull=iso(datetime.now(timezone.utc)))
        store.set_state(key, state)
        report.complete = True
    except (PullError, KeyboardInterrupt, asyncio.CancelledError) as e:
        report.error = scrub(str(e) or type(e).__name__)
        report.seconds = time.perf_counter() - t0
        _count(report, client)
        log.warning("pull from %s stopped: %s", src.name, report.error)
        if isinstance(e, PullError):
            err = PullError(
                f"pull from {src.name} stopped after {report.pages} stored pages "
                f"({report.spans_fetched} spans; watermark {report.watermark_after or 'none'}): {e}"
            )
            err.report = report  # type: ignore[attr-defined]
            raise err from None
        raise
    finally:
        if bar is not None:
            bar.close()
    report.seconds = time.perf_counter() - t0
    _count(report, client)
    report.traces = len(seen_traces)
    log.info("%s", report)
    return report


def src_final_watermark(src: Source, until: datetime, state: dict[str, Any]) -> datetime:
    """After a complete pull the watermark is ``until``, pulled back to the earliest trace the
    source saw still in progress (so its later spans are fetched next time)."""
    pending = parse_time(state.get("pending_since"))
    return min(until, pending) if pending is not None else until


def _count(report: PullReport, client: Any) -> None:
    report.requests = client.stats.requests
    report.retries = client.stats.retries
    report.rate_limited = client.stats.rate_limited


def _store_pages(pages: list[Page], src: Source, store: Any, report: PullReport, seen: set[str], read_traces: Any) -> None:
    """Map whole pages' records with the source's loader and write spans, results and labels
    (one write per batch of pages: fewer, larger segments)."""
    page = Page(
        records=[r for p in pages for r in p.records],
        results=[r for p in pages for r in p.results],
        labels=[r for p in pages for r in p.labels],
        items=sum(p.items for p in pages),
    )
    if page.records:
        try:
            spans = read_traces(page.records, format=src.format)
        except Exception as e:  # a record the loader rejects stops the pull with its reason
            raise PullError(
                f"the {src.format} loader rejected a record of pages {report.pages + 1}-{report.pages + len(pages)}: {e}"
            ) from e
        if isinstance(spans, tuple):
            spans = spans[0]
        spans = spans.drop_duplicates(subset=["trace_id", "span_id"], keep="last")
        report.spans_fetched += len(spans)
        report.spans_stored += store.add_spans(spans, on_conflict="replace")
        seen.update(spans["trace_id"].unique().tolist())
    if page.results:
        from llmops_nb.schema import RESULTS, conform

        df = conform(pd.DataFrame(page.results), RESULTS).drop_duplicates("result_id", keep="last")
        report.results_stored += store.add("results", df, on_conflict="replace")
    if page.labels:
        from llmops_nb.schema import LABELS, conform

        df = conform(pd.DataFrame(page.labels), LABELS).drop_duplicates("label_id", keep="last")
        report.labels_stored += store.add("labels", df, on_conflict="ignore")
    report.pages += len(pages)
    report.items += page.items
