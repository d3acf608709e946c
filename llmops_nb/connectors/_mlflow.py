"""MLflow tracking server traces API: ``POST /api/3.0/mlflow/traces/search`` (page tokens,
ascending time) for an experiment's trace infos (with assessments), each trace's spans from the
trace-data endpoint; records ``{"info", "data"}`` (MLflow's own trace JSON) mapped by the
``mlflow`` loader.

Documented shapes: the search body ``{"locations": [{"type": "MLFLOW_EXPERIMENT",
"mlflow_experiment": {"experiment_id"}}], "filter", "max_results", "order_by", "page_token"}``;
the response ``{"traces": [TraceInfoV3], "next_page_token"}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from llmops_nb.connectors._base import (
    CursorGuard,
    Page,
    ProgressGuard,
    Source,
    iso,
    label_row,
    ordered,
    parse_time,
    register_source,
    result_row,
)
from llmops_nb.connectors._http import HttpClient, PullError, excerpt

__all__ = ["MLflowSource"]


def mlflow_assessments(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """MLflow assessments as (results rows, labels rows): ``HUMAN`` sources are labels,
    ``LLM_JUDGE`` and ``CODE`` sources are results; expectations are labels (ground truth)."""
    results, labels = [], []
    for a in items:
        if not isinstance(a, dict) or a.get("valid") is False:
            continue
        src = a.get("source") or {}
        fb = a.get("feedback")
        ex = a.get("expectation")
        value = (fb or {}).get("value") if fb is not None else (ex or {}).get("value")
        when = a.get("last_update_time") or a.get("create_time")
        name = str(a.get("assessment_name") or a.get("name"))
        if src.get("source_type") == "HUMAN" or ex is not None:
            labels.append(label_row(source="mlflow", id=str(a.get("assessment_id")), trace_id=a.get("trace_id"),
                                    span_id=a.get("span_id") or None, question=name, value=value,
                                    annotator=src.get("source_id"), reason=a.get("rationale"), created_at=when))
        else:
            results.append(result_row(source="mlflow", id=str(a.get("assessment_id")), trace_id=a.get("trace_id"),
                                      span_id=a.get("span_id") or None, name=name, value=value,
                                      explanation=a.get("rationale"), created_at=when,
                                      judge_model=src.get("source_id") if src.get("source_type") == "LLM_JUDGE" else None,
                                      params={"source_type": src.get("source_type")}))
    return results, labels


@register_source
class MLflowSource(Source):
    """An MLflow tracking server: an experiment's traces, their spans and assessments.

    URL: ``url=`` or ``MLFLOW_TRACKING_URI`` (an ``http(s)://`` server); auth:
    ``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME`` /
    ``MLFLOW_TRACKING_PASSWORD``; project: the experiment name or id (default ``0``).
    Filters: ``filter`` (an MLflow trace filter string such as ``tags.env = 'prod'``),
    ``status``.

    Example:
        >>> import llmops_nb as lo
        >>> lo.pull("mlflow", url="http://127.0.0.1:5000", project="my-agent")  # doctest: +SKIP
    """

    name = "mlflow"
    format = "mlflow"
    description = "MLflow tracking server traces API: traces, spans, assessments"
    env_vars = ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    filter_keys = ("filter", "status")
    default_url = "http://127.0.0.1:5000"
    default_page_size = 100

    def base_url(self) -> str:
        u = self.url or self.setting("MLFLOW_TRACKING_URI") or self.default_url or ""
        if not u.startswith(("http://", "https://")):
            raise PullError(
                f"MLflow tracking URI {u.split('://')[0]}://... is not a server; pull needs an http(s):// tracking "
                "server (start one with `mlflow server`), or read local traces with mlflow.search_traces() and "
                "read_traces(..., format='mlflow')"
            )
        return u.rstrip("/")

    def client(self) -> HttpClient:
        tok = self.secret("MLFLOW_TRACKING_TOKEN", required=False)
        headers: dict[str, Any] = {}
        auth = None
        if tok:
            from llmops_nb.connectors._http import Secret

            headers["Authorization"] = Secret(f"Bearer {tok.value}")
        else:
            user = self.setting("MLFLOW_TRACKING_USERNAME")
            pw = self.secret("MLFLOW_TRACKING_PASSWORD", required=False)
            if user and pw:
                auth = (user, pw)
        return HttpClient(self.base_url(), headers=headers, auth=auth, concurrency=self.concurrency, retry=self.retry)

    async def _experiment_id(self, client: HttpClient) -> str:
        p = self.project or "0"
        if p.isdigit():
            return p
        body = await client.request("GET", "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": p},
                                    what="experiment lookup", allow_404=True)
        if not body or "experiment" not in body:
            raise PullError(f"MLflow has no experiment named {p!r}; pass project= with an experiment name or id")
        return str(body["experiment"]["experiment_id"])

    def _data(self, client: HttpClient, trace_id: str) -> Callable[[], Awaitable[Any]]:
        return lambda: client.request("GET", "/ajax-api/3.0/mlflow/get-trace-artifact", params={"request_id": trace_id},
                                      what=f"trace {trace_id}", allow_404=True)

    async def pages(self, client: HttpClient, since: datetime | None, until: datetime, state: dict[str, Any]) -> AsyncIterator[Page]:
        exp = await self._experiment_id(client)
        clauses = [f"trace.timestamp_ms < {int(until.timestamp() * 1000)}"]
        if since is not None:
            clauses.append(f"trace.timestamp_ms >= {int(since.timestamp() * 1000)}")
        if self.filters.get("status"):
            clauses.append(f"trace.status = '{self.filters['status']}'")
        if self.filters.get("filter"):
            clauses.append(str(self.filters["filter"]))
        body: dict[str, Any] = {
            "locations": [{"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": exp}}],
            "filter": " AND ".join(clauses), "max_results": self.page_size, "order_by": ["timestamp_ms ASC"],
        }
        token: str | None = None
        seen: set[str] = set()
        n = 0
        tokens = CursorGuard("MLflow")
        progress = ProgressGuard("MLflow")
        while True:
            n += 1
            resp = await client.request("POST", "/api/3.0/mlflow/traces/search",
                                        json={**body, **({"page_token": token} if token else {})}, what=f"traces page {n}")
            if not isinstance(resp, dict):
                raise PullError(f"MLflow returned an unexpected traces page {n}: {excerpt(resp, 200)}")
            infos = [t for t in resp.get("traces") or [] if isinstance(t, dict) and t.get("trace_id") not in seen]
            seen.update(str(t.get("trace_id")) for t in infos)
            datas = [d async for d in ordered([self._data(client, t["trace_id"]) for t in infos], limit=self.concurrency)]
            records, results, labels = [], [], []
            for info, data in zip(infos, datas):
                if data is None:
                    continue
                records.append({"info": info, "data": data})
                r, lab = mlflow_assessments(info.get("assessments") or [])
                results += r
                labels += lab
                if info.get("state") == "IN_PROGRESS":
                    st = parse_time(info.get("request_time"))
                    cur = parse_time(state.get("pending_since"))
                    if st is not None and (cur is None or st < cur):
                        state["pending_since"] = iso(st)
            times = [t for t in (parse_time(i.get("request_time")) for i in infos) if t is not None]
            n_spans = sum(len((r["data"] or {}).get("spans") or []) for r in records)
            yield Page(records=records, results=results, labels=labels, watermark=max(times) if times else None,
                       weight=max(1, n_spans // max(1, len(records))),
                       items=len(resp.get("traces") or []))
            nt = resp.get("next_page_token")
            if not nt:
                return
            tokens.check(nt, n)
            progress.page(n, new=len(infos))
            token = nt
