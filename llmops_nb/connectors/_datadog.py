"""Datadog LLM Observability export API: ``POST /api/v2/llm-obs/v1/spans/events/search``
(cursor pagination), span events mapped by the ``datadog`` loader, evaluation metrics attached
to spans as results.

Documented shapes: the body ``{"data": {"type": "spans", "attributes": {"filter": {"from", "to",
"ml_app", "span_kind", "trace_id", "tags", "query"}, "page": {"limit", "cursor"}, "sort":
"timestamp"}}}``; the response ``{"data": [{"id", "type", "attributes": span}], "meta":
{"page": {"after": cursor}}}``. Headers ``DD-API-KEY`` and ``DD-APPLICATION-KEY``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
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
from llmops_nb.loaders.scores import datadog_metrics

__all__ = ["DatadogSource"]






@register_source
class DatadogSource(Source):
    """Datadog LLM Observability: the spans of an ML app and their evaluation metrics.

    Credentials: ``DD_API_KEY`` and ``DD_APP_KEY`` (or ``DD_APPLICATION_KEY``); site:
    ``DD_SITE`` (default ``datadoghq.com``, the API host is ``api.<site>``); project: the
    ``ml_app``. Filters: ``span_kind``, ``trace_id``, ``tags`` (a dict), ``query``.

    Example:
        >>> import llmops_nb as lo
        >>> lo.pull("datadog", project="support-bot", since="2025-10-27")  # doctest: +SKIP
    """

    name = "datadog"
    format = "datadog"
    description = "Datadog LLM Observability export API: spans and evaluation metrics"
    env_vars = ("DD_API_KEY", "DD_APP_KEY", "DD_SITE")
    filter_keys = ("span_kind", "trace_id", "tags", "query")
    default_page_size = 500
    lag = timedelta(minutes=2)
    rate_per_s = 2.0  # the export API is rate limited; 429s are retried with X-RateLimit-Reset

    def base_url(self) -> str:
        if self.url:
            return self.url.rstrip("/")
        site = self.setting("DD_SITE", default="datadoghq.com") or "datadoghq.com"
        return f"https://api.{site}"

    def client(self) -> HttpClient:
        api = self.secret("DD_API_KEY")
        app = self.secret("DD_APP_KEY", "DD_APPLICATION_KEY")
        assert api is not None and app is not None
        return HttpClient(self.base_url(), headers={"DD-API-KEY": api, "DD-APPLICATION-KEY": app},
                          concurrency=self.concurrency, retry=self.retry, rate_per_s=self.rate_per_s)

    async def pages(self, client: HttpClient, since: datetime | None, until: datetime, state: dict[str, Any]) -> AsyncIterator[Page]:
        flt: dict[str, Any] = {"from": iso(since) if since else "1970-01-01T00:00:00Z", "to": iso(until)}
        if self.project:
            flt["ml_app"] = self.project
        flt.update(self.filters)
        cursor: str | None = None
        seen: set[str] = set()
        cursors = CursorGuard("Datadog")
        progress = ProgressGuard("Datadog")
        n = 0
        while True:
            n += 1
            page: dict[str, Any] = {"limit": self.page_size}
            if cursor:
                page["cursor"] = cursor
            body = {"data": {"type": "spans", "attributes": {"filter": flt, "page": page, "sort": "timestamp"}}}
            resp = await client.request("POST", "/api/v2/llm-obs/v1/spans/events/search", json=body, what=f"spans page {n}")
            if not isinstance(resp, dict) or not isinstance(resp.get("data"), list):
                raise PullError(f"Datadog returned an unexpected spans page {n}: {excerpt(resp, 200)} (expected {{data, meta}})")
            spans, results, labels = [], [], []
            for item in resp["data"]:
                attrs = item.get("attributes") if isinstance(item, dict) else None
                if not isinstance(attrs, dict):
                    continue
                key = f"{attrs.get('trace_id')}:{attrs.get('span_id')}"
                if key in seen:
                    continue
                seen.add(key)
                evals = attrs.get("evaluation_metrics") or []
                if isinstance(evals, dict):
                    evals = [{"label": k, **(v if isinstance(v, dict) else {"score_value": v})} for k, v in evals.items()]
                r, lab = datadog_metrics(evals, attrs.get("trace_id"), attrs.get("span_id"))
                results += r
                labels += lab
                spans.append({k: v for k, v in attrs.items() if k != "evaluation_metrics"})
            times = [x for x in (parse_time(s.get("start_ns")) for s in spans) if x is not None]
            yield Page(records=[{"event_type": "span", "spans": spans}] if spans else [], results=results,
                       weight=max(1, len(spans)),
                       labels=labels, watermark=max(times) if times else None, items=len(resp["data"]))
            cursor = ((resp.get("meta") or {}).get("page") or {}).get("after")
            if not cursor:
                return
            cursors.check(cursor, n)
            progress.page(n, new=len(spans))
