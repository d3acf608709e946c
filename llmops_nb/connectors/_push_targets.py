"""The five push targets: request bodies per backend's published write API, id mapping back to
the backend's own ids, and how each handles an edit.

- Langfuse ``POST /api/public/scores`` (upsert on the score ``id``: an edit updates it),
  ``POST /api/public/datasets``, ``POST /api/public/dataset-items`` (upsert on the item ``id``;
  ``sourceTraceId`` / ``sourceObservationId`` link items to their trace).
- Phoenix ``POST /v1/span_annotations`` / ``/v1/trace_annotations`` (upsert on name, span or
  trace, and ``identifier``), ``POST /v1/datasets/upload`` (JSON; a dataset version per upload).
- LangSmith ``POST /feedback`` (our own feedback ``id``), ``PATCH /feedback/{id}`` for edits,
  ``POST /datasets``, ``POST /examples``, ``PATCH /examples/{id}``.
- MLflow ``POST /api/3.0/mlflow/traces/{trace_id}/assessments``, ``PATCH .../{assessment_id}``
  for edits, ``POST /api/3.0/mlflow/datasets/create`` and ``.../datasets/{id}/records``.
- Datadog ``POST /api/intake/llm-obs/v2/eval-metric`` (no update: an edit is a new metric).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import orjson

from llmops_nb.connectors._http import HttpClient, PullError
from llmops_nb.connectors._push import (
    PushReport,
    PushRow,
    SpanIndex,
    Target,
    Unmapped,
    register_target,
)

__all__: list[str] = []

_NS = uuid.UUID("5d1a3c4e-7f0b-4c55-9a51-6c6c6d6f7073")  # llmops-nb's namespace for remote ids


def _rid(*parts: Any) -> str:
    """A deterministic UUID for a row key: the same row always gets the same remote id."""
    return str(uuid.uuid5(_NS, "|".join(str(p) for p in parts)))


def _meta(row: PushRow) -> dict[str, Any]:
    return {"source": "llmops-nb", "origin": row.origin, "annotator": row.annotator, "annotator_kind": row.annotator_kind}


def _trace_uuid(v: str) -> str:
    """A 32-hex id in UUID form (how Langfuse and LangSmith write OTel ids), else unchanged."""
    if len(v) == 32 and all(c in "0123456789abcdef" for c in v):
        return str(uuid.UUID(v))
    return v


# ------------------------------------------------------------------------------------ Langfuse

@register_target
class LangfuseTarget(Target):
    name = "langfuse"
    can_update = True

    def map_ids(self, row: PushRow, ix: SpanIndex) -> dict[str, Any]:
        if row.trace_id is None and row.session_id is not None:  # Langfuse scores sessions too
            if row.session_id not in ix.sessions:
                raise Unmapped(f"session {row.session_id} was not loaded from langfuse")
            return {"sessionId": row.session_id, "remote_id": _rid("langfuse", row.key)}
        ix.check(row)
        ids = {"traceId": row.trace_id, "remote_id": _rid("langfuse", row.key)}
        if row.span_id is not None:
            ids["observationId"] = row.span_id
        return ids

    def requests(self, rows: list[PushRow], sent: Mapping[str, Any]) -> list[tuple[list[PushRow], str, str, Any]]:
        out = []
        for r in rows:
            body: dict[str, Any] = {"id": r.ids["remote_id"], "name": r.name, "dataType": r.data_type,
                                    "metadata": _meta(r)}
            for k in ("traceId", "observationId", "sessionId"):
                if r.ids.get(k):
                    body[k] = r.ids[k]
            body["value"] = r.score if r.data_type != "CATEGORICAL" else r.text
            if r.comment:
                body["comment"] = r.comment
            out.append(([r], "POST", "/api/public/scores", body))
        return out

    async def send_dataset(self, client: HttpClient, name: str, items: list[dict[str, Any]], state: dict[str, Any],
                           report: PushReport, dry_run: bool) -> None:
        info = _ds_info(report, name)
        if not state.get("created"):
            body: dict[str, Any] = {"name": name, "description": "pushed by llmops-nb", "metadata": {"source": "llmops-nb"}}
            await _send(client, report, dry_run, "POST", "/api/public/datasets", body)
            state["created"] = True
        done = dict(state.get("items") or {})
        for it in items:
            if done.get(it["example_id"]) == it["hash"]:
                info["unchanged"] += 1
                continue
            body = {"datasetName": name, "id": _rid("langfuse-item", name, it["example_id"]), "input": it["inputs"],
                    "expectedOutput": it["outputs"] or None, "metadata": it["metadata"]}
            link = it["link"]
            if link:
                body["sourceTraceId"] = link["traceId"]
                if link.get("observationId"):
                    body["sourceObservationId"] = link["observationId"]
            else:
                info["unlinked"] += 1
            await _send(client, report, dry_run, "POST", "/api/public/dataset-items", body)
            info["updated" if it["example_id"] in done else "created"] += 1
            done[it["example_id"]] = it["hash"]
            state["items"] = done


def _ds_info(report: PushReport, name: str) -> dict[str, Any]:
    if report.dataset is None:
        report.dataset = {"name": name, "created": 0, "updated": 0, "unchanged": 0, "unlinked": 0, "notes": []}
    return report.dataset


async def _send(client: HttpClient, report: PushReport, dry_run: bool, method: str, path: str, body: Any,
                params: Mapping[str, Any] | None = None) -> Any:
    if dry_run:
        report.planned.append({"method": method, "path": path, "body": body})
        return None
    from llmops_nb.connectors._push import _WRITE_HINTS

    return await client.request(method, path, json=body, params=params, what="dataset", hints=_WRITE_HINTS)


# ------------------------------------------------------------------------------------ Phoenix

@register_target
class PhoenixTarget(Target):
    name = "phoenix"
    can_update = True
    batch = 100

    def map_ids(self, row: PushRow, ix: SpanIndex) -> dict[str, Any]:
        ix.check(row)
        ident = "llmops-nb" if row.annotator_kind != "HUMAN" else f"llmops-nb:{row.annotator or 'human'}"
        return {"trace_id": row.trace_id, "span_id": row.span_id, "identifier": ident}

    def requests(self, rows: list[PushRow], sent: Mapping[str, Any]) -> list[tuple[list[PushRow], str, str, Any]]:
        out = []
        for level in ("span", "trace"):
            rs = [r for r in rows if (r.ids.get("span_id") is not None) == (level == "span")]
            for i in range(0, len(rs), self.batch):
                chunk = rs[i:i + self.batch]
                data = []
                for r in chunk:
                    result: dict[str, Any] = {}
                    if r.score is not None:
                        result["score"] = r.score
                    if r.text is not None:
                        result["label"] = r.text
                    if r.comment:
                        result["explanation"] = r.comment
                    a = {f"{level}_id": r.ids[f"{level}_id"], "name": r.name, "annotator_kind": r.annotator_kind,
                         "result": result, "metadata": _meta(r), "identifier": r.ids["identifier"]}
                    data.append(a)
                out.append((chunk, "POST", f"/v1/{level}_annotations?sync=true", {"data": data}))
        return out

    def remote_ids(self, rows: list[PushRow], answer: Any) -> list[Any]:
        data = (answer or {}).get("data") if isinstance(answer, Mapping) else None
        if isinstance(data, list) and len(data) == len(rows):
            return [d.get("id") if isinstance(d, Mapping) else None for d in data]
        return [None] * len(rows)

    async def send_dataset(self, client: HttpClient, name: str, items: list[dict[str, Any]], state: dict[str, Any],
                           report: PushReport, dry_run: bool) -> None:
        info = _ds_info(report, name)
        done = dict(state.get("items") or {})
        new = [it for it in items if done.get(it["example_id"]) != it["hash"]]
        info["unchanged"] += len(items) - len(new)
        if not new:
            return
        changed = [it for it in new if it["example_id"] in done]
        if changed:
            info["notes"].append(f"{len(changed)} changed examples appended as a new dataset version "
                                 "(Phoenix's upload cannot edit an example in place)")
        for it in new:
            if not it["link"]:
                info["unlinked"] += 1
            else:
                it["metadata"] = {**it["metadata"], "source_trace_id": it["link"]["trace_id"],
                                  "source_span_id": it["link"].get("span_id")}
        body = {"action": "append" if state.get("created") else "create", "name": name,
                "description": "pushed by llmops-nb", "inputs": [it["inputs"] for it in new],
                "outputs": [it["outputs"] for it in new], "metadata": [it["metadata"] for it in new]}
        ans = await _send(client, report, dry_run, "POST", "/v1/datasets/upload?sync=true", body)
        if isinstance(ans, Mapping) and isinstance(ans.get("data"), Mapping):
            state["dataset_id"] = ans["data"].get("dataset_id")
        state["created"] = True
        info["created"] += len(new) - len(changed)
        info["updated"] += len(changed)
        for it in new:
            done[it["example_id"]] = it["hash"]
        state["items"] = done


# ------------------------------------------------------------------------------------ LangSmith

@register_target
class LangSmithTarget(Target):
    name = "langsmith"
    can_update = True

    def map_ids(self, row: PushRow, ix: SpanIndex) -> dict[str, Any]:
        ix.check(row)
        run = row.span_id if row.span_id is not None else ix.roots.get(row.trace_id or "")
        if run is None:
            raise Unmapped(f"trace {row.trace_id} has no root run")
        return {"run_id": run, "trace_id": row.trace_id, "remote_id": _rid("langsmith", row.key)}

    def requests(self, rows: list[PushRow], sent: Mapping[str, Any]) -> list[tuple[list[PushRow], str, str, Any]]:
        out = []
        for r in rows:
            fields: dict[str, Any] = {}
            if r.score is not None:
                fields["score"] = r.score
            if r.text is not None:
                fields["value"] = r.text
            if r.comment:
                fields["comment"] = r.comment
            if r.expectation:
                fields["correction"] = {"outputs": r.value}
            if "previous_remote_id" in r.ids:  # an edit: the feedback exists, update it in place
                out.append(([r], "PATCH", f"/feedback/{r.ids['remote_id']}", fields))
                continue
            out.append(([r], "POST", "/feedback", self._create(r, fields)))
        return out

    def fallback(self, req: tuple[list[PushRow], str, str, Any], error: str) -> tuple[list[PushRow], str, str, Any] | None:
        rows, method, path, body = req
        if method == "POST" and path == "/feedback" and "HTTP 409" in error:  # sent before, not recorded
            fields = {k: body[k] for k in ("score", "value", "comment", "correction") if k in body}
            return rows, "PATCH", f"/feedback/{body['id']}", fields
        if method == "PATCH" and path.startswith("/feedback/") and "HTTP 404" in error:  # deleted in LangSmith
            return rows, "POST", "/feedback", self._create(rows[0], body)
        return None

    @staticmethod
    def _create(r: PushRow, fields: dict[str, Any]) -> dict[str, Any]:
        src = {"type": "model" if r.annotator_kind == "LLM" else "api", "metadata": _meta(r)}
        return {"id": r.ids["remote_id"], "run_id": r.ids["run_id"], "trace_id": r.ids["trace_id"], "key": r.name,
                **fields, "feedback_source": src}

    async def send_dataset(self, client: HttpClient, name: str, items: list[dict[str, Any]], state: dict[str, Any],
                           report: PushReport, dry_run: bool) -> None:
        info = _ds_info(report, name)
        if not state.get("dataset_id"):
            ans = await _send(client, report, dry_run, "POST", "/datasets",
                              {"name": name, "description": "pushed by llmops-nb", "data_type": "kv"})
            did = (ans or {}).get("id") if isinstance(ans, Mapping) else None
            if did is None and not dry_run:
                raise PullError(f"LangSmith did not return the id of the new dataset {name!r}")
            state["dataset_id"] = did
            if dry_run:
                state["dataset_id"] = "<new dataset id>"
        done = dict(state.get("items") or {})
        for it in items:
            if done.get(it["example_id"]) == it["hash"]:
                info["unchanged"] += 1
                continue
            eid = _rid("langsmith-example", name, it["example_id"])
            fields = {"inputs": it["inputs"], "outputs": it["outputs"], "metadata": it["metadata"]}
            if not it["link"]:
                info["unlinked"] += 1
            if it["example_id"] in done:
                await _send(client, report, dry_run, "PATCH", f"/examples/{eid}", fields)
                info["updated"] += 1
            else:
                body = {"dataset_id": state["dataset_id"], "id": eid, **fields}
                if it["link"]:
                    body["source_run_id"] = it["link"]["run_id"]
                if it["split"]:
                    body["split"] = it["split"]
                await _send(client, report, dry_run, "POST", "/examples", body)
                info["created"] += 1
            done[it["example_id"]] = it["hash"]
            state["items"] = done
        if dry_run:
            state.pop("dataset_id", None)


# ------------------------------------------------------------------------------------ MLflow

@register_target
class MLflowTarget(Target):
    name = "mlflow"
    can_update = True

    def map_ids(self, row: PushRow, ix: SpanIndex) -> dict[str, Any]:
        ix.check(row)
        tr = ix.attr(row, "mlflow_trace_id") or (row.trace_id if str(row.trace_id).startswith("tr-") else None)
        if tr is None:
            raise Unmapped(f"trace {row.trace_id} has no MLflow trace id (tr-...) kept by the loader (metadata.mlflow_trace_id)")
        return {"trace_id": str(tr), "span_id": row.span_id}

    def _assessment(self, r: PushRow) -> dict[str, Any]:
        src_type = {"HUMAN": "HUMAN", "LLM": "LLM_JUDGE", "CODE": "CODE"}[r.annotator_kind]
        a: dict[str, Any] = {"assessment_name": r.name, "trace_id": r.ids["trace_id"],
                             "source": {"source_type": src_type, "source_id": r.annotator or "llmops-nb"},
                             "metadata": {k: str(v) for k, v in _meta(r).items() if v is not None}}
        if r.ids.get("span_id"):
            a["span_id"] = r.ids["span_id"]
        if r.expectation:
            a["expectation"] = {"value": r.value}
        else:
            a["feedback"] = {"value": r.value}
        if r.comment:
            a["rationale"] = r.comment
        return a

    def requests(self, rows: list[PushRow], sent: Mapping[str, Any]) -> list[tuple[list[PushRow], str, str, Any]]:
        out = []
        for r in rows:
            path = f"/api/3.0/mlflow/traces/{r.ids['trace_id']}/assessments"
            prev = r.ids.get("previous_remote_id")
            a = self._assessment(r)
            if prev:
                mask = ",".join(k for k in ("expectation" if r.expectation else "feedback", "rationale", "metadata") if k in a)
                out.append(([r], "PATCH", f"{path}/{prev}", {"assessment": a, "update_mask": mask}))
            else:
                out.append(([r], "POST", path, {"assessment": a}))
        return out

    def remote_ids(self, rows: list[PushRow], answer: Any) -> list[Any]:
        a = (answer or {}).get("assessment") if isinstance(answer, Mapping) else None
        rid = a.get("assessment_id") if isinstance(a, Mapping) else None
        return [rid or r.ids.get("previous_remote_id") for r in rows]

    async def send_dataset(self, client: HttpClient, name: str, items: list[dict[str, Any]], state: dict[str, Any],
                           report: PushReport, dry_run: bool) -> None:
        info = _ds_info(report, name)
        if not state.get("dataset_id"):
            exp = await self.source._experiment_id(client) if not dry_run else (self.project or "0")  # type: ignore[attr-defined]
            ans = await _send(client, report, dry_run, "POST", "/api/3.0/mlflow/datasets/create",
                              {"name": name, "experiment_ids": [exp]})
            did = ((ans or {}).get("dataset") or {}).get("dataset_id") if isinstance(ans, Mapping) else None
            if did is None and not dry_run:
                raise PullError(f"MLflow did not return the id of the new evaluation dataset {name!r}")
            state["dataset_id"] = did or "<new dataset id>"
        done = dict(state.get("items") or {})
        new = [it for it in items if done.get(it["example_id"]) != it["hash"]]
        info["unchanged"] += len(items) - len(new)
        records = []
        for it in new:
            rec: dict[str, Any] = {"inputs": it["inputs"], "expectations": it["outputs"], "tags": {"example_id": it["example_id"]}}
            if it["link"]:
                rec["source"] = {"source_type": "TRACE", "source_data": {"trace_id": it["link"]["trace_id"]}}
            else:
                info["unlinked"] += 1
            records.append(rec)
            info["updated" if it["example_id"] in done else "created"] += 1
        if records:  # MLflow merges records with the same inputs: an edited example is updated
            await _send(client, report, dry_run, "POST", f"/api/3.0/mlflow/datasets/{state['dataset_id']}/records",
                        {"records": orjson.dumps(records).decode()})
            for it in new:
                done[it["example_id"]] = it["hash"]
            state["items"] = done
        if dry_run:
            state.pop("dataset_id", None)


# ------------------------------------------------------------------------------------ Datadog

def _dd_id(v: str, what: str) -> str:
    """A stored hex id back to Datadog's decimal form."""
    try:
        return str(int(v, 16))
    except ValueError:
        raise Unmapped(f"{what} {v!r} is not a Datadog id") from None


def _dd_trace_id(v: str) -> str:
    """Datadog's form of a trace id (ddtrace's ``format_trace_id``): decimal for a 64-bit id,
    32 lowercase hex characters for a 128-bit one."""
    n = int(_dd_id(v, "trace id"))
    return str(n) if n < (1 << 64) else format(n, "032x")


@register_target
class DatadogTarget(Target):
    name = "datadog"
    can_update = False
    update_note = "Datadog has no update for evaluation metrics: the edit was sent as a new metric (the newest shows)"
    batch = 100

    def client(self) -> HttpClient:
        api = self.source.secret("DD_API_KEY")
        assert api is not None
        return HttpClient(self.source.base_url(), headers={"DD-API-KEY": api}, concurrency=self.source.concurrency,
                          retry=self.source.retry, rate_per_s=self.source.rate_per_s)

    def map_ids(self, row: PushRow, ix: SpanIndex) -> dict[str, Any]:
        ix.check(row)
        if not self.project:
            raise PullError("the datadog target needs project= (the ml_app the evaluations belong to)")
        sid = row.span_id if row.span_id is not None else ix.roots.get(row.trace_id or "")
        if sid is None:
            raise Unmapped(f"trace {row.trace_id} has no root span to join on")
        return {"span_id": _dd_id(sid, "span id"), "trace_id": _dd_trace_id(str(row.trace_id))}

    def requests(self, rows: list[PushRow], sent: Mapping[str, Any]) -> list[tuple[list[PushRow], str, str, Any]]:
        out = []
        now = int(datetime.now(timezone.utc).timestamp() * 1000)
        for i in range(0, len(rows), self.batch):
            chunk = rows[i:i + self.batch]
            metrics = []
            for r in chunk:
                kind = {"BOOLEAN": "boolean", "NUMERIC": "score", "CATEGORICAL": "categorical"}[r.data_type]
                m: dict[str, Any] = {
                    "join_on": {"span": {"span_id": r.ids["span_id"], "trace_id": r.ids["trace_id"]}},
                    "ml_app": self.project, "timestamp_ms": now, "metric_type": kind, "label": r.name,
                    f"{kind}_value": r.value if kind != "categorical" else r.text,
                    "tags": ["source:llmops-nb", f"origin:{r.origin}", f"annotator_kind:{r.annotator_kind.lower()}"]
                    + ([f"annotator:{r.annotator}"] if r.annotator else []),
                }
                if r.comment:
                    m["reasoning"] = r.comment
                metrics.append(m)
            body = {"data": {"type": "evaluation_metric", "attributes": {"metrics": metrics}}}
            out.append((chunk, "POST", "/api/intake/llm-obs/v2/eval-metric", body))
        return out

