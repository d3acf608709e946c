"""Langfuse public API: traces (listed by page, ascending time), each trace's observations and
scores (``GET /api/public/traces/{id}``), mapped by the ``langfuse`` loader.

Documented shapes: ``GET /api/public/traces?page=&limit=&fromTimestamp=&toTimestamp=&orderBy=``
returns ``{"data": [trace], "meta": {"page", "limit", "totalItems", "totalPages"}}``; a trace
with full details carries ``observations`` and ``scores``. Basic auth with the public key as
user and the secret key as password.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from llmops_nb.connectors._base import (
    Page,
    ProgressGuard,
    Source,
    claimed_count,
    iso,
    ordered,
    parse_time,
    register_source,
)
from llmops_nb.connectors._http import HttpClient, PullError, excerpt
from llmops_nb.loaders.scores import langfuse_scores

__all__ = ["LangfuseSource"]






@register_source
class LangfuseSource(Source):
    """Langfuse (cloud or self-hosted): traces with their observations and scores.

    Credentials: ``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY``; host: ``LANGFUSE_HOST``
    (or ``LANGFUSE_BASE_URL``; default ``https://cloud.langfuse.com``). Filters: ``name``,
    ``user_id``, ``session_id``, ``tags``, ``environment``, ``release``, ``version``.

    Example:
        >>> import llmops_nb as lo
        >>> lo.pull("langfuse", filters={"session_id": "s-1"})  # doctest: +SKIP
    """

    name = "langfuse"
    format = "langfuse"
    description = "Langfuse public API: traces, observations, scores (sessions through the session_id filter)"
    env_vars = ("LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY", "LANGFUSE_HOST")
    filter_keys = ("name", "user_id", "session_id", "tags", "environment", "release", "version")
    default_url = "https://cloud.langfuse.com"
    default_page_size = 50
    rate_per_s = 15.0  # well under Langfuse Cloud's documented read limits
    lag = timedelta(minutes=10)  # the public read API can show data about 10 minutes late

    _PARAMS = {"name": "name", "user_id": "userId", "session_id": "sessionId", "tags": "tags",
               "environment": "environment", "release": "release", "version": "version"}

    def base_url(self) -> str:
        return (self.url or self.setting("LANGFUSE_HOST", "LANGFUSE_BASE_URL") or self.default_url or "").rstrip("/")

    def client(self) -> HttpClient:
        pk = self.secret("LANGFUSE_PUBLIC_KEY")
        sk = self.secret("LANGFUSE_SECRET_KEY")
        assert pk is not None and sk is not None
        return HttpClient(self.base_url(), concurrency=self.concurrency, retry=self.retry,
                          rate_per_s=self.rate_per_s, auth=(pk.value, sk))

    async def pages(self, client: HttpClient, since: datetime | None, until: datetime, state: dict[str, Any]) -> AsyncIterator[Page]:
        params: dict[str, Any] = {"limit": self.page_size, "orderBy": "timestamp.asc", "toTimestamp": iso(until)}
        if since is not None:
            params["fromTimestamp"] = iso(since)
        for k, v in self.filters.items():
            params[self._PARAMS[k]] = v
        # trace ids already stored at their current updatedAt (from the last pull): skip them
        known: dict[str, list[Any]] = dict(state.get("seen_updated", {}))

        async def list_page(n: int) -> dict[str, Any]:
            body = await client.request("GET", "/api/public/traces", params={**params, "page": n}, what=f"traces page {n}")
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise PullError(f"Langfuse returned an unexpected traces page {n}: {excerpt(body, 200)} (expected {{data, meta}})")
            return body

        first = await list_page(1)
        meta = first.get("meta") or {}
        # what the server claims bounds a lazy loop, never an allocation (totalPages=1e9)
        total_pages = claimed_count(meta.get("totalPages"), 1)
        total_items = meta.get("totalItems")
        ended = False  # a page with no data: the listing is over whatever the server claimed
        progress = ProgressGuard("Langfuse")
        seen_ids: set[str] = set()
        new_known: dict[str, list[Any]] = {}

        def get_trace(tid: str) -> Callable[[], Awaitable[Any]]:
            return lambda: client.request("GET", f"/api/public/traces/{tid}", what=f"trace {tid}", allow_404=True)

        def page_factory(n: int) -> Callable[[], Awaitable[tuple[int, dict[str, Any], list[dict[str, Any]], int]]]:
            return lambda: page_n(n)

        def page_factories() -> Iterator[Callable[[], Awaitable[tuple[int, dict[str, Any], list[dict[str, Any]], int]]]]:
            n = 1
            while n <= total_pages and not ended:
                yield page_factory(n)
                n += 1

        async def details(listing: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
            rows = []
            for t in listing["data"]:
                tid = str(t.get("id"))
                if tid in seen_ids:  # a page that repeats items: fetch each trace once
                    continue
                seen_ids.add(tid)
                rows.append(t)
            fetch = [t for t in rows if (known.get(str(t["id"])) or [None])[0] != (t.get("updatedAt") or t.get("timestamp"))]
            full = []
            async for d in ordered([get_trace(str(t["id"])) for t in fetch], limit=self.concurrency):
                if d is not None:
                    full.append(d)
            return listing, full, len(rows)

        async def page_n(n: int) -> tuple[int, dict[str, Any], list[dict[str, Any]], int]:
            listing = first if n == 1 else await list_page(n)
            return (n, *await details(listing))

        # pages are listed ahead (bounded) and yielded in order
        async for n_page, listing, full, n_new in ordered(page_factories(), limit=max(1, self.concurrency // 2)):
            if ended:
                continue  # a page prefetched past the end
            if not listing["data"]:
                ended = True
                continue
            progress.page(n_page, new=n_new)
            records, results, labels = [], [], []
            for d in full:
                obs = d.get("observations") or []
                obs = [o for o in obs if isinstance(o, dict)]
                trace = {k: v for k, v in d.items() if k != "observations"}
                records.append({"trace": trace, "observations": obs})
                r, lab = langfuse_scores(d.get("scores") or [])
                results += r
                labels += lab
                new_known[str(d["id"])] = [d.get("updatedAt") or d.get("timestamp"), d.get("timestamp")]
                # a trace whose observations have not all ended is still in progress
                if any(o.get("endTime") is None and o.get("type") != "EVENT" for o in obs):
                    start = parse_time(d.get("timestamp"))
                    cur = parse_time(state.get("pending_since"))
                    if start is not None and (cur is None or start < cur):
                        state["pending_since"] = iso(start)
            times = [x for x in (parse_time(t.get("timestamp")) for t in listing["data"]) if x is not None]
            # remember the updatedAt of traces the next pull will list again (at or after the
            # watermark or still in progress) so it skips the unchanged ones
            wm = max(times) if times else None
            cands = [x for x in (wm, parse_time(state.get("pending_since")), until - self.lag) if x is not None]
            floor = min(cands)
            merged = {**known, **new_known}
            state["seen_updated"] = {k: v for k, v in merged.items() if floor is None or (parse_time(v[1]) or floor) >= floor}
            n_obs = sum(len(r["observations"]) for r in records)
            yield Page(records=records, results=results, labels=labels, weight=max(1, n_obs // max(1, len(records))),
                       watermark=max(times) if times else None, items=len(listing["data"]),
                       total=claimed_count(total_items) if total_items is not None else None)

        # scores created since the last pull, also on older traces
        async for page in self._scores(client, parse_time(state.get("scores_since")) or since, until, state):
            yield page

    async def _scores(self, client: HttpClient, since: datetime | None, until: datetime, state: dict[str, Any]) -> AsyncIterator[Page]:
        path = "/api/public/v2/scores"
        n, total = 1, 1
        seen: set[str] = set()
        progress = ProgressGuard("Langfuse scores")
        while n <= total:
            params = {"page": n, "limit": 100, "toTimestamp": iso(until), "fromTimestamp": iso(since)}
            body = await client.request("GET", path, params=params, what=f"scores page {n}", allow_404=True)
            if body is None and path.endswith("v2/scores"):
                path = "/api/public/scores"  # older servers
                continue
            if not isinstance(body, dict):
                return
            total = claimed_count((body.get("meta") or {}).get("totalPages"), 1)
            raw = body.get("data") or []
            data = [s for s in raw if isinstance(s, dict) and str(s.get("id")) not in seen]
            seen.update(str(s.get("id")) for s in data)
            if raw:
                progress.page(n, new=len(data))
            results, labels = langfuse_scores(data)
            if n >= total or not raw:  # the end, whatever totalPages claimed
                state["scores_since"] = iso(until)
            yield Page(results=results, labels=labels, items=0)
            if not raw:
                return
            n += 1
