"""LangSmith runs API: ``POST /runs/query`` (cursor pagination, ascending start time) for a
project's runs, ``GET /feedback`` for their feedback; runs mapped by the ``langsmith`` loader.

Documented shapes: ``GET /sessions?name=`` resolves a project name to its id;
``POST /runs/query`` takes ``{"session": [id], "start_time", "filter", "cursor", "limit",
"order"}`` and returns ``{"runs": [...], "cursors": {"next": ...}}``. Auth header ``x-api-key``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from llmops_nb.connectors._base import (
    CursorGuard,
    Page,
    ProgressGuard,
    Source,
    iso,
    parse_time,
    register_source,
)
from llmops_nb.connectors._http import HttpClient, PullError, excerpt
from llmops_nb.loaders.scores import langsmith_feedback

__all__ = ["LangSmithSource"]




@register_source
class LangSmithSource(Source):
    """LangSmith: a project's runs (every span of every trace) and their feedback.

    Credentials: ``LANGSMITH_API_KEY`` (or ``LANGCHAIN_API_KEY``); endpoint:
    ``LANGSMITH_ENDPOINT`` (default ``https://api.smith.langchain.com``); project:
    ``project=`` or ``LANGSMITH_PROJECT`` (default ``default``). Filters: ``run_type``,
    ``name``, ``is_root``, ``error``, ``trace_id``, ``filter`` (a LangSmith filter string).

    Example:
        >>> import llmops_nb as lo
        >>> lo.pull("langsmith", project="my-app", filters={"run_type": "llm"})  # doctest: +SKIP
    """

    name = "langsmith"
    format = "langsmith"
    description = "LangSmith runs API: runs (POST /runs/query) and feedback"
    env_vars = ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY", "LANGSMITH_ENDPOINT", "LANGSMITH_PROJECT")
    filter_keys = ("run_type", "name", "is_root", "error", "trace_id", "filter")
    default_url = "https://api.smith.langchain.com"
    default_page_size = 100
    rate_per_s = 10.0

    def base_url(self) -> str:
        return (self.url or self.setting("LANGSMITH_ENDPOINT", "LANGCHAIN_ENDPOINT") or self.default_url or "").rstrip("/")

    def client(self) -> HttpClient:
        key = self.secret("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY")
        assert key is not None
        return HttpClient(self.base_url(), headers={"x-api-key": key}, concurrency=self.concurrency,
                          retry=self.retry, rate_per_s=self.rate_per_s)

    async def _project_id(self, client: HttpClient) -> str:
        name = self.project or self.setting("LANGSMITH_PROJECT", "LANGCHAIN_PROJECT") or "default"
        self.project = name
        body = await client.request("GET", "/sessions", params={"name": name, "limit": 1}, what="project lookup")
        items = body if isinstance(body, list) else (body or {}).get("items") or []
        for s in items:
            if s.get("name") == name:
                return str(s["id"])
        raise PullError(f"LangSmith has no project named {name!r}; pass project= with an existing project name")

    async def pages(self, client: HttpClient, since: datetime | None, until: datetime, state: dict[str, Any]) -> AsyncIterator[Page]:
        pid = await self._project_id(client)
        clauses = [f'lt(start_time, "{iso(until)}")']
        if self.filters.get("name"):
            clauses.append(f'eq(name, "{self.filters["name"]}")')
        if self.filters.get("filter"):
            clauses.append(str(self.filters["filter"]))
        body: dict[str, Any] = {
            "session": [pid], "limit": self.page_size, "order": "asc",
            "filter": clauses[0] if len(clauses) == 1 else f"and({', '.join(clauses)})",
        }
        if since is not None:
            body["start_time"] = iso(since)
        for k in ("run_type", "is_root", "error"):
            if k in self.filters:
                body[k] = self.filters[k]
        if "trace_id" in self.filters:
            body["trace"] = self.filters["trace_id"]
        cursor: str | None = None
        seen: set[str] = set()
        cursors = CursorGuard("LangSmith")
        progress = ProgressGuard("LangSmith")
        n = 0
        nxt: asyncio.Future[Any] | None = asyncio.ensure_future(
            client.request("POST", "/runs/query", json=body, what="runs page 1"))
        try:
            while nxt is not None:
                resp = await nxt
                nxt = None
                n += 1
                if not isinstance(resp, dict) or not isinstance(resp.get("runs"), list):
                    raise PullError(f"LangSmith returned an unexpected runs page {n}: {excerpt(resp, 200)} (expected {{runs, cursors}})")
                cursor = (resp.get("cursors") or {}).get("next")
                if cursor:
                    cursors.check(cursor, n)
                    nxt = asyncio.ensure_future(client.request(
                        "POST", "/runs/query", json={**body, "cursor": cursor}, what=f"runs page {n + 1}"))
                runs = [r for r in resp["runs"] if isinstance(r, dict) and str(r.get("id")) not in seen]
                seen.update(str(r.get("id")) for r in runs)
                if cursor:
                    progress.page(n, new=len(runs))
                results, labels = [], []
                ids = [str(r["id"]) for r in runs if r.get("feedback_stats")]
                for i in range(0, len(ids), 100):
                    fb = await client.request("GET", "/feedback", params={"run": ids[i:i + 100], "limit": 100},
                                              what="feedback")
                    r_, l_ = langsmith_feedback(fb if isinstance(fb, list) else (fb or {}).get("items") or [])
                    results += r_
                    labels += l_
                for r in runs:
                    if r.get("end_time") is None:
                        st = parse_time(r.get("start_time"))
                        cur = parse_time(state.get("pending_since"))
                        if st is not None and (cur is None or st < cur):
                            state["pending_since"] = iso(st)
                times = [t for t in (parse_time(r.get("start_time")) for r in resp["runs"]) if t is not None]
                yield Page(records=runs, results=results, labels=labels,
                           watermark=max(times) if times else None, items=len(resp["runs"]))
        finally:
            if nxt is not None:
                nxt.cancel()
