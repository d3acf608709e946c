"""Arize Phoenix REST API: ``GET /v1/projects/{project}/spans`` (cursor pagination in
insertion order, so spans that arrive late are never skipped), span annotations from
``GET /v1/projects/{project}/span_annotations``; spans mapped by the ``phoenix`` loader.

Documented shapes: ``?cursor=&limit=&sort=id&order=asc&start_time=&end_time=`` returns
``{"data": [span], "next_cursor": ...}``; a span is ``{id, name, context: {trace_id, span_id},
span_kind, parent_id, start_time, end_time, status_code, status_message, attributes, events}``
and ``id`` is its global id (base64 of ``Span:<rowid>``). Optional auth: ``PHOENIX_API_KEY``
as a bearer token.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pandas as pd

from llmops_nb.connectors._base import (
    CursorGuard,
    Page,
    ProgressGuard,
    Source,
    iso,
    ordered,
    parse_time,
    register_source,
)
from llmops_nb.connectors._http import HttpClient, PullError, excerpt
from llmops_nb.loaders.scores import phoenix_annotations

__all__ = ["PhoenixSource"]


def _rowid(global_id: str) -> int | None:
    try:
        kind, _, num = base64.b64decode(global_id).decode().partition(":")
        return int(num) if kind == "Span" else None
    except (ValueError, UnicodeDecodeError):
        return None


def _global_id(rowid: int) -> str:
    return base64.b64encode(f"Span:{rowid}".encode()).decode()


async def _newest(client: HttpClient, path: str, order: str, end: str | None = None) -> dict[str, Any] | None:
    body = await client.request("GET", path, params={"limit": 1, "sort": "start_time", "order": order, "end_time": end},
                                what="time range")
    data = (body or {}).get("data") or []
    return data[0] if data else None




@register_source
class PhoenixSource(Source):
    """Arize Phoenix: a project's spans and their annotations.

    URL: ``url=`` or ``PHOENIX_COLLECTOR_ENDPOINT`` / ``PHOENIX_HOST`` + ``PHOENIX_PORT``
    (default ``http://127.0.0.1:6006``); auth: ``PHOENIX_API_KEY`` when the server has auth on;
    project: ``project=`` or ``PHOENIX_PROJECT_NAME`` (default ``default``). Filters:
    ``span_kind``, ``name``, ``status_code``, ``trace_id``, ``annotations`` (False to skip them).

    Example:
        >>> import llmops_nb as lo
        >>> lo.pull("phoenix", url="http://127.0.0.1:6006", project="default")  # doctest: +SKIP
    """

    name = "phoenix"
    format = "phoenix"
    description = "Arize Phoenix REST API: spans (cursor pagination) and span annotations"
    env_vars = ("PHOENIX_COLLECTOR_ENDPOINT", "PHOENIX_API_KEY", "PHOENIX_PROJECT_NAME")
    filter_keys = ("span_kind", "name", "status_code", "trace_id", "annotations")
    default_page_size = 1000  # the server's maximum
    rate_per_s = None

    def base_url(self) -> str:
        if self.url:
            return self.url.rstrip("/")
        ep = self.setting("PHOENIX_COLLECTOR_ENDPOINT")
        if ep:
            return ep.rstrip("/").removesuffix("/v1/traces")
        host = self.setting("PHOENIX_HOST", default="127.0.0.1")
        port = self.setting("PHOENIX_PORT", default="6006")
        return f"http://{host}:{port}"

    def client(self) -> HttpClient:
        key = self.secret("PHOENIX_API_KEY", required=False)
        headers: dict[str, Any] = {}
        if key:
            from llmops_nb.connectors._http import Secret

            headers["Authorization"] = Secret(f"Bearer {key.value}")
        return HttpClient(self.base_url(), headers=headers, concurrency=self.concurrency, retry=self.retry)

    window_spans: ClassVar[int] = 10_000
    max_windows: ClassVar[int] = 2_000
    """At most this many time windows per backfill (bigger windows past 20M spans)."""

    async def _bulk(self, client: HttpClient, project: str, since: datetime | None, until: datetime,
                    state: dict[str, Any], want_ann: bool) -> AsyncIterator[Page]:
        """Time windows of about ``window_spans`` spans from ``POST /v1/spans`` (the endpoint
        Phoenix's own ``get_spans_dataframe`` uses; Arrow), fetched one at a time, the next while the last is stored."""
        import io

        import pyarrow as pa

        path = f"/v1/projects/{project}/spans"
        newest = await client.request("GET", path, params={"limit": 1, "sort": "id", "order": "desc"}, what="newest span")
        last = (newest or {}).get("data") or []
        if not last:
            return
        top_rowid = _rowid(str(last[0].get("id"))) or 0
        first = await _newest(client, path, "asc")
        final = await _newest(client, path, "desc", iso(until))
        if first is None or final is None:
            return
        t_first, t_final = parse_time(first["start_time"]), parse_time(final["start_time"])
        assert t_first is not None and t_final is not None
        lo: datetime = max(t_first, since) if since else t_first
        hi: datetime = min(t_final + timedelta(microseconds=1), until)
        # the server's newest row id sizes the windows: bounded, and made lazily (a claimed
        # row id of 1e15 must not allocate a list of 1e11 windows)
        n_win = min(max(1, -(-top_rowid // self.window_spans)), self.max_windows)
        step = (hi - lo) / n_win

        def windows() -> Iterator[Callable[[], Awaitable[Any]]]:
            for i in range(n_win):
                yield window(lo + step * i, hi if i == n_win - 1 else lo + step * (i + 1))

        def window(a: datetime, b: datetime) -> Callable[[], Awaitable[Any]]:
            async def get() -> Any:
                raw = await client.request_bytes(
                    "POST", "/v1/spans", params={"project_name": project},
                    json={"queries": [{}], "start_time": iso(a), "end_time": iso(b), "limit": 100_000_000,
                          "root_spans_only": False, "orphan_span_as_root_span": True},
                    what=f"spans {iso(a)} to {iso(b)}", accept="application/x-pandas-arrow")
                if not raw:
                    return None
                return pa.ipc.open_stream(io.BytesIO(raw)).read_all().to_pandas(ignore_metadata=True)
            return get

        # one window at a time on the server (two in flight measured slower), the next one fetched
        # while this one is mapped and stored
        async for df in ordered(windows(), limit=1):
            if df is None or not len(df):
                continue
            results: list[dict[str, Any]] = []
            labels: list[dict[str, Any]] = []
            if want_ann:
                trace_of = dict(zip(df["context.span_id"].astype(str), df["context.trace_id"].astype(str)))
                ids = list(trace_of)
                chunks = await asyncio.gather(*[
                    client.request("GET", f"/v1/projects/{project}/span_annotations",
                                   params={"span_ids": ids[i:i + 250], "limit": 10000}, what="span annotations",
                                   allow_404=True)
                    for i in range(0, len(ids), 250)
                ])
                for ch in chunks:
                    r, lab = phoenix_annotations((ch or {}).get("data") or [], trace_of)
                    results += r
                    labels += lab
            # the next pull resumes by row id after the newest span that existed when this began
            state["next_rowid"] = max(top_rowid + 1, int(state.get("next_rowid") or 0))
            wm = parse_time(pd.to_datetime(df["start_time"], utc=True).max())
            yield Page(records=[df], results=results, labels=labels, watermark=wm, items=len(df), weight=len(df))

    async def pages(self, client: HttpClient, since: datetime | None, until: datetime, state: dict[str, Any]) -> AsyncIterator[Page]:
        project = self.project or self.setting("PHOENIX_PROJECT_NAME", default="default") or "default"
        self.project = project
        resume = getattr(self, "resume", False)
        params: dict[str, Any] = {"limit": min(self.page_size, 1000), "sort": "id", "order": "asc", "end_time": iso(until)}
        cursor: str | None = None
        if resume and state.get("next_rowid"):
            cursor = _global_id(int(state["next_rowid"]))  # insertion order: nothing late is missed
        elif since is not None:
            params["start_time"] = iso(since)
        for k in ("span_kind", "name", "status_code", "trace_id"):
            if k in self.filters:
                params[k] = self.filters[k]
        want_ann = self.filters.get("annotations", True)
        path = f"/v1/projects/{project}/spans"
        if cursor is None and not any(k in self.filters for k in ("span_kind", "name", "status_code", "trace_id")):
            # a backfill (first pull, since= or full=): Phoenix's bulk query endpoint in time
            # windows (Arrow), two at a time; later pulls resume by row id below
            async for page in self._bulk(client, project, since, until, state, want_ann):
                yield page
            return
        seen: set[str] = set()
        n = 0
        cursors = CursorGuard("Phoenix")
        cursors.check(cursor, 1)
        progress = ProgressGuard("Phoenix")

        async def fetch(c: str | None, n: int) -> Any:
            return await client.request("GET", path, params={**params, "cursor": c}, what=f"spans page {n}")

        nxt: asyncio.Future[Any] | None = asyncio.ensure_future(fetch(cursor, 1))
        try:
            while nxt is not None:
                resp = await nxt
                nxt = None
                n += 1
                if not isinstance(resp, dict) or not isinstance(resp.get("data"), list):
                    raise PullError(f"Phoenix returned an unexpected spans page {n}: {excerpt(resp, 200)} (expected {{data, next_cursor}})")
                nc = resp.get("next_cursor")
                if nc:
                    cursors.check(nc, n)
                    nxt = asyncio.ensure_future(fetch(nc, n + 1))
                cursor = nc
                spans = [s for s in resp["data"] if isinstance(s, dict) and s.get("id") not in seen]
                seen.update(str(s.get("id")) for s in spans)
                if nc:
                    progress.page(n, new=len(spans))
                results: list[dict[str, Any]] = []
                labels: list[dict[str, Any]] = []
                if want_ann and spans:
                    trace_of = {s["context"]["span_id"]: s["context"]["trace_id"] for s in spans if s.get("context")}
                    ids = list(trace_of)
                    chunks = await asyncio.gather(*[
                        client.request("GET", f"/v1/projects/{project}/span_annotations",
                                       params={"span_ids": ids[i:i + 100], "limit": 10000}, what="span annotations",
                                       allow_404=True)
                        for i in range(0, len(ids), 100)
                    ])
                    for ch in chunks:
                        r, lab = phoenix_annotations((ch or {}).get("data") or [], trace_of)
                        results += r
                        labels += lab
                rowids = [r for r in (_rowid(str(s.get("id"))) for s in spans) if r is not None]
                if rowids:
                    state["next_rowid"] = max(max(rowids) + 1, int(state.get("next_rowid") or 0))
                times = [t for t in (parse_time(s.get("start_time")) for s in spans) if t is not None]
                yield Page(records=spans, results=results, labels=labels,
                           watermark=max(times) if times else None, items=len(resp["data"]))
        finally:
            if nxt is not None:
                nxt.cancel()
