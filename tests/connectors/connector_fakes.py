"""A local fake of the Langfuse, LangSmith and Datadog read APIs (aiohttp on 127.0.0.1) serving
the shared fixtures through each backend's documented shapes, with fault injection; and of the
write APIs of all five backends (Langfuse, Phoenix, LangSmith, MLflow, Datadog), which validate
every request body against the JSON Schema derived from the backend's published API (schemas/,
each with its source URL) and keep what was written so tests can read it back."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import glob
import json
import threading
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
SCHEMAS = Path(__file__).resolve().parent / "schemas"


def schema_validator(name: str) -> Any:
    import jsonschema

    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def fixture_dir(name: str) -> Path:
    p = FIXTURES / name
    if not p.exists():
        pytest.skip(f"shared fixture folder {p} is absent")
    return p

SECRETS = {
    "LANGFUSE_PUBLIC_KEY": "pk-lf-TESTPUBLIC-7c1d",
    "LANGFUSE_SECRET_KEY": "sk-lf-TESTSECRET-93ab55",
    "LANGSMITH_API_KEY": "lsv2_pt_TESTSECRET_51f0e2",
    "DD_API_KEY": "ddapi-TESTSECRET-0a9b8c",
    "DD_APP_KEY": "ddapp-TESTSECRET-77e6d5",
}


def langfuse_traces() -> list[dict[str, Any]]:
    """Full trace details (trace + observations + scores), one per fixture file."""
    out = []
    for f in sorted(glob.glob(str(fixture_dir("langfuse") / "*.trace.json"))):
        d = json.loads(Path(f).read_text())
        t = dict(d["trace"])
        t["observations"] = d["observations"]
        t.setdefault("scores", [])
        out.append(t)
    # two scores the backend holds: a model evaluation and a human annotation
    t0 = out[0]
    t0["scores"] = [
        {"id": "sc-1", "traceId": t0["id"], "observationId": None, "name": "helpfulness", "value": 0.8,
         "dataType": "NUMERIC", "source": "EVAL", "comment": "ok", "timestamp": t0["timestamp"]},
        {"id": "sc-2", "traceId": t0["id"], "observationId": None, "name": "correct", "value": 1,
         "dataType": "BOOLEAN", "source": "ANNOTATION", "authorUserId": "alice", "comment": "checked",
         "timestamp": t0["timestamp"], "updatedAt": t0["timestamp"]},
    ]
    return sorted(out, key=lambda t: t["timestamp"])


def langsmith_runs() -> list[dict[str, Any]]:
    """Runs as the runs API returns them: each fixture's post merged with its patch."""
    runs: dict[str, dict[str, Any]] = {}
    for f in sorted(glob.glob(str(fixture_dir("langsmith") / "*.json"))):
        d = json.loads(Path(f).read_text())
        posted = [r["id"] for r in d.get("post", [])]
        for r in d.get("post", []):
            runs[r["id"]] = dict(r)
        for p in d.get("patch", []):
            rid = p.get("id") or posted[0]
            runs.setdefault(rid, {"id": rid}).update(p)
    for r in runs.values():
        r["feedback_stats"] = {"correctness": {"n": 1, "avg": 1.0}}
    for r in runs.values():  # the API returns ISO times (the JS SDK posts epoch milliseconds)
        for k in ("start_time", "end_time"):
            if isinstance(r.get(k), (int, float)):
                r[k] = datetime.fromtimestamp(r[k] / 1000, tz=timezone.utc).isoformat()
    return sorted(runs.values(), key=lambda r: r["start_time"])


def datadog_spans() -> list[dict[str, Any]]:
    """Span events from the cassettes (last wins per span), with their evaluation metrics joined."""
    spans: dict[tuple[str, str], dict[str, Any]] = {}
    metrics: list[dict[str, Any]] = []
    for f in sorted(glob.glob(str(fixture_dir("datadog") / "*.yaml"))):
        for inter in yaml.safe_load(Path(f).read_text())["interactions"]:
            body = json.loads(inter["request"]["body"])
            events = body if isinstance(body, list) else [body]
            for ev in events:
                if isinstance(ev, dict) and ev.get("event_type") == "span":
                    for s in ev["spans"]:
                        spans[(s["trace_id"], s["span_id"])] = s
                elif isinstance(ev, dict) and (ev.get("data") or {}).get("type") == "evaluation_metric":
                    metrics += ev["data"]["attributes"]["metrics"]
    out = []
    for (tid, sid), s in spans.items():
        s = copy.deepcopy(s)
        ms = [m for m in metrics if (m.get("join_on") or {}).get("span") == {"span_id": sid, "trace_id": tid}]
        if ms:
            s["evaluation_metrics"] = ms
        out.append(s)
    return sorted(out, key=lambda s: (s["start_ns"], s["span_id"]))


class FakeBackends:
    """One aiohttp app serving the three read APIs; ``faults`` drives fault injection:

    - ``storm``: the next N requests get 429 with ``Retry-After: 0``
    - ``fail_once``: {path_fragment: k}: the k-th request to that path gets a 500 once
    - ``drop_once``: {path_fragment: k}: the k-th request to that path is cut mid-body
    - ``fail_always``: set of (path_fragment, page) that always answer 500
    - ``repeat``: pages overlap by one item (a page that repeats items)
    - ``claim_pages``: the Langfuse listing claims this many pages (``1e9``: a page bomb)
    - ``same_page``: every Langfuse listing page serves page 1 (a server that repeats itself)
    - ``cursor_cycle``: LangSmith and Datadog cursors go A -> B -> A
    - ``echo``: every answer is a 500 whose body echoes the request's credentials in many shapes
    """

    def __init__(self) -> None:
        self.lf = langfuse_traces()
        self.ls = langsmith_runs()
        self.dd = datadog_spans()
        self.visible_lf = len(self.lf)
        self.faults: dict[str, Any] = {"storm": 0, "fail_once": {}, "drop_once": {}, "fail_always": set(), "repeat": False,
                                       "claim_pages": None, "same_page": False, "cursor_cycle": False, "echo": False}
        self.hits: dict[str, int] = defaultdict(int)
        # what the write endpoints received (validated bodies) and kept, per backend
        self.writes: list[tuple[str, str, Any]] = []
        self.schema_errors: list[str] = []
        self.lf_datasets: dict[str, dict[str, Any]] = {}
        self.lf_items: dict[str, dict[str, Any]] = {}
        self.px_annotations: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.px_datasets: dict[str, dict[str, Any]] = {}
        self.ls_pushed: dict[str, dict[str, Any]] = {}
        self.ls_datasets: dict[str, dict[str, Any]] = {}
        self.ls_examples: dict[str, dict[str, Any]] = {}
        self.ml_assessments: dict[str, dict[str, Any]] = {}
        self.ml_datasets: dict[str, dict[str, Any]] = {}
        self.dd_metrics: list[dict[str, Any]] = []
        self._validators: dict[str, Any] = {}
        self.log: list[str] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------- lifecycle
    def start(self) -> FakeBackends:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = web.Application(middlewares=[self._faults_mw])
            app.router.add_get("/api/public/traces", self.lf_list)
            app.router.add_get("/api/public/traces/{id}", self.lf_get)
            app.router.add_get("/api/public/v2/scores", self.lf_scores)
            app.router.add_get("/sessions", self.ls_sessions)
            app.router.add_post("/runs/query", self.ls_query)
            app.router.add_get("/feedback", self.ls_feedback)
            app.router.add_post("/api/v2/llm-obs/v1/spans/events/search", self.dd_search)
            # write APIs
            app.router.add_post("/api/public/scores", self.lf_post_score)
            app.router.add_post("/api/public/datasets", self.lf_post_dataset)
            app.router.add_post("/api/public/dataset-items", self.lf_post_item)
            app.router.add_post("/v1/span_annotations", self.px_post_annotations)
            app.router.add_post("/v1/trace_annotations", self.px_post_annotations)
            app.router.add_post("/v1/datasets/upload", self.px_upload)
            app.router.add_post("/feedback", self.ls_post_feedback)
            app.router.add_patch("/feedback/{id}", self.ls_patch_feedback)
            app.router.add_post("/datasets", self.ls_post_dataset)
            app.router.add_post("/examples", self.ls_post_example)
            app.router.add_patch("/examples/{id}", self.ls_patch_example)
            app.router.add_post("/api/3.0/mlflow/traces/{tid}/assessments", self.ml_post_assessment)
            app.router.add_patch("/api/3.0/mlflow/traces/{tid}/assessments/{aid}", self.ml_patch_assessment)
            app.router.add_post("/api/3.0/mlflow/datasets/create", self.ml_create_dataset)
            app.router.add_post("/api/3.0/mlflow/datasets/{did}/records", self.ml_records)
            app.router.add_post("/api/intake/llm-obs/v2/eval-metric", self.dd_eval_metric)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)  # type: ignore[union-attr]
            fut.result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ------------------------------------------------------------- faults
    @web.middleware
    async def _faults_mw(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        self.hits[path] += 1
        n = self.hits[path]
        page = request.query.get("page")
        self.log.append(f"{request.method} {path} {page or ''}")
        if self.faults["echo"]:
            return web.Response(status=500, text=echo_body(request), content_type="application/json")
        if self.faults["storm"] > 0:
            self.faults["storm"] -= 1
            return web.json_response({"message": "rate limited"}, status=429, headers={"Retry-After": "0"})
        for frag, page_no in self.faults["fail_always"]:
            if frag in path and (page_no is None or str(page_no) == str(page)):
                return web.json_response({"message": "internal error"}, status=500)
        for frag, k in list(self.faults["fail_once"].items()):
            if frag in path and n == k:
                del self.faults["fail_once"][frag]
                return web.json_response({"message": "internal error"}, status=500)
        for frag, k in list(self.faults["drop_once"].items()):
            if frag in path and n == k:
                del self.faults["drop_once"][frag]
                resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json", "Content-Length": "100000"})
                await resp.prepare(request)
                await resp.write(b'{"data": [')
                request.transport.close()  # type: ignore[union-attr]
                return resp
        return await handler(request)

    def _start(self, page: int, limit: int) -> int:
        s = (page - 1) * limit
        return max(0, s - 1) if self.faults["repeat"] and page > 1 else s

    # ------------------------------------------------------------- Langfuse
    def _lf_auth(self, request: web.Request) -> None:
        want = "Basic " + base64.b64encode(f"{SECRETS['LANGFUSE_PUBLIC_KEY']}:{SECRETS['LANGFUSE_SECRET_KEY']}".encode()).decode()
        got = request.headers.get("Authorization", "")
        if got != want:  # echoes what it got, as some servers do: the client must scrub it
            raise web.HTTPUnauthorized(text=json.dumps({"message": f"invalid credentials: {got}"}), content_type="application/json")

    def _lf_window(self, request: web.Request) -> list[dict[str, Any]]:
        q = request.query
        rows = self.lf[: self.visible_lf]
        if q.get("fromTimestamp"):
            rows = [t for t in rows if t["timestamp"] >= q["fromTimestamp"][:23]]
        if q.get("toTimestamp"):
            rows = [t for t in rows if t["timestamp"] < q["toTimestamp"][:23] + "Z"]
        if q.get("sessionId"):
            rows = [t for t in rows if t.get("sessionId") == q["sessionId"]]
        return rows

    async def lf_list(self, request: web.Request) -> web.Response:
        self._lf_auth(request)
        rows = self._lf_window(request)
        page, limit = int(request.query.get("page", 1)), int(request.query.get("limit", 50))
        s = self._start(1 if self.faults["same_page"] else page, limit)
        if self.faults["same_page"]:
            page = 1
        data = [{**{k: v for k, v in t.items() if k not in ("observations", "scores")},
                 "observations": [o["id"] for o in t["observations"]], "scores": [x["id"] for x in t["scores"]]}
                for t in rows[s: page * limit]]
        total = len(rows)
        pages = self.faults["claim_pages"] if self.faults["claim_pages"] is not None else max(1, -(-total // limit))
        return web.json_response({"data": data, "meta": {"page": page, "limit": limit, "totalItems": total,
                                                          "totalPages": pages}})

    async def lf_get(self, request: web.Request) -> web.Response:
        self._lf_auth(request)
        for t in self.lf:
            if t["id"] == request.match_info["id"]:
                return web.json_response(t)
        return web.json_response({"message": "not found"}, status=404)

    async def lf_scores(self, request: web.Request) -> web.Response:
        self._lf_auth(request)
        scores = [s for t in self._lf_window(request) for s in t["scores"]]
        page, limit = int(request.query.get("page", 1)), int(request.query.get("limit", 50))
        return web.json_response({"data": scores[(page - 1) * limit: page * limit],
                                  "meta": {"page": page, "limit": limit, "totalItems": len(scores),
                                           "totalPages": max(1, -(-len(scores) // limit))}})

    # ------------------------------------------------------------- LangSmith
    def _ls_auth(self, request: web.Request) -> None:
        if request.headers.get("x-api-key") != SECRETS["LANGSMITH_API_KEY"]:
            raise web.HTTPUnauthorized(text=json.dumps({"detail": "Invalid token"}), content_type="application/json")

    async def ls_sessions(self, request: web.Request) -> web.Response:
        self._ls_auth(request)
        name = request.query.get("name")
        return web.json_response([{"id": "5f0c2a1e-0000-4000-8000-000000000001", "name": name}] if name == "my-app" else [])

    async def ls_query(self, request: web.Request) -> web.Response:
        self._ls_auth(request)
        body = await request.json()
        rows = [r for r in self.ls if not body.get("start_time") or r["start_time"] >= body["start_time"][:26]]
        limit = int(body.get("limit", 100))
        off = int(base64.b64decode(body["cursor"]).decode()) if body.get("cursor") else 0
        # a page that repeats items: it starts with the last item of the page before
        page = rows[max(0, off - 1) if self.faults["repeat"] else off: off + limit]
        nxt = base64.b64encode(str(off + limit).encode()).decode() if off + limit < len(rows) else None
        if self.faults["cursor_cycle"]:  # A -> B -> A
            nxt = base64.b64encode(str(2 * limit if off == limit else limit).encode()).decode()
        return web.json_response({"runs": page, "cursors": {"next": nxt, "prev": None}})

    async def ls_feedback(self, request: web.Request) -> web.Response:
        self._ls_auth(request)
        runs = request.query.getall("run", [])
        fb = [{"id": f"fb-{r}", "run_id": r, "trace_id": r, "key": "correctness", "score": 1, "value": None,
               "comment": "looks right", "feedback_source": {"type": "api"}, "created_at": "2024-10-12T00:00:00Z"}
              for r in runs]
        fb += [f for f in self.ls_pushed.values() if f.get("run_id") in runs]
        return web.json_response(fb)

    # ------------------------------------------------------------- Datadog
    async def dd_search(self, request: web.Request) -> web.Response:
        if (request.headers.get("DD-API-KEY") != SECRETS["DD_API_KEY"]
                or request.headers.get("DD-APPLICATION-KEY") != SECRETS["DD_APP_KEY"]):
            return web.json_response({"errors": ["Forbidden"]}, status=403)
        attrs = (await request.json())["data"]["attributes"]
        page = attrs.get("page") or {}
        limit = int(page.get("limit", 10))
        off = int(page["cursor"]) if page.get("cursor") else 0
        rows = self.dd
        data = [{"id": s["span_id"], "type": "span", "attributes": s}
                for s in rows[max(0, off - 1) if self.faults["repeat"] else off: off + limit]]
        meta = {"page": {"after": str(off + limit)}} if off + limit < len(rows) else {"page": {}}
        if self.faults["cursor_cycle"]:  # A -> B -> A
            meta = {"page": {"after": str(2 * limit if off == limit else limit)}}
        return web.json_response({"data": data, "meta": meta})


    # ------------------------------------------------------------- write APIs
    async def _body(self, request: web.Request, schema: str) -> Any:
        """The request's JSON body, validated against ``schema``: an invalid body is a 400 (as the
        real servers answer) and is recorded in ``schema_errors`` for the test to assert on."""
        body = await request.json()
        self.writes.append((request.method, request.path, body))
        if schema not in self._validators:
            self._validators[schema] = schema_validator(schema)
        errors = sorted(self._validators[schema].iter_errors(body), key=lambda e: list(e.path))
        if errors:
            msg = "; ".join(f"{'/'.join(map(str, e.path)) or '(body)'}: {e.message}" for e in errors[:5])
            self.schema_errors.append(f"{request.method} {request.path} [{schema}]: {msg}")
            raise web.HTTPBadRequest(text=json.dumps({"message": msg}), content_type="application/json")
        return body

    async def lf_post_score(self, request: web.Request) -> web.Response:
        self._lf_auth(request)
        b = await self._body(request, "langfuse_score")
        sid = b.get("id") or f"srv-{len(self.writes)}"
        score = {"id": sid, "traceId": b.get("traceId"), "observationId": b.get("observationId"), "name": b["name"],
                 "value": b["value"] if not isinstance(b["value"], str) else None,
                 "stringValue": b["value"] if isinstance(b["value"], str) else None, "dataType": b.get("dataType"),
                 "source": "API", "comment": b.get("comment"), "metadata": b.get("metadata"),
                 "timestamp": "2024-01-01T00:00:00.000Z", "updatedAt": "2024-01-01T00:00:00.000Z"}
        for t in self.lf:  # upsert on id, as Langfuse does
            if t["id"] == b.get("traceId"):
                t["scores"] = [x for x in t["scores"] if x["id"] != sid] + [score]
        return web.json_response({"id": sid})

    async def lf_post_dataset(self, request: web.Request) -> web.Response:
        self._lf_auth(request)
        b = await self._body(request, "langfuse_dataset")
        self.lf_datasets.setdefault(b["name"], {"id": f"ds-{len(self.lf_datasets) + 1}", **b})
        return web.json_response(self.lf_datasets[b["name"]])

    async def lf_post_item(self, request: web.Request) -> web.Response:
        self._lf_auth(request)
        b = await self._body(request, "langfuse_dataset_item")
        if b["datasetName"] not in self.lf_datasets:
            return web.json_response({"message": f"dataset {b['datasetName']} not found"}, status=404)
        iid = b.get("id") or f"item-{len(self.lf_items) + 1}"
        self.lf_items[iid] = {**b, "id": iid}
        return web.json_response(self.lf_items[iid])

    async def px_post_annotations(self, request: web.Request) -> web.Response:
        level = "span" if "span_" in request.path else "trace"
        b = await self._body(request, f"phoenix_{level}_annotations")
        out = []
        for a in b["data"]:  # upsert on (name, span or trace, identifier)
            key = (level, a[f"{level}_id"], a["name"], a.get("identifier", ""))
            prev = self.px_annotations.get(key)
            aid = prev["id"] if prev else f"{level}-ann-{len(self.px_annotations) + 1}"
            self.px_annotations[key] = {**a, "id": aid}
            out.append({"id": aid})
        return web.json_response({"data": out})

    async def px_upload(self, request: web.Request) -> web.Response:
        b = await self._body(request, "phoenix_dataset_upload")
        n = len(b["inputs"])
        if any(len(b.get(k) or [{}] * n) != n for k in ("outputs", "metadata")):
            return web.json_response({"message": "inputs, outputs and metadata differ in length"}, status=422)
        ds = self.px_datasets.get(b["name"])
        if b.get("action", "create") == "create" and ds is not None:
            return web.json_response({"message": f"dataset {b['name']} exists"}, status=409)
        if ds is None:
            ds = self.px_datasets[b["name"]] = {"id": f"RGF0YXNldDo{len(self.px_datasets) + 1}", "versions": []}
        ds["versions"].append([{"input": i, "output": o, "metadata": m} for i, o, m in
                               zip(b["inputs"], b.get("outputs") or [{}] * n, b.get("metadata") or [{}] * n)])
        return web.json_response({"data": {"dataset_id": ds["id"], "version_id": f"v{len(ds['versions'])}"}})

    async def ls_post_feedback(self, request: web.Request) -> web.Response:
        self._ls_auth(request)
        b = await self._body(request, "langsmith_feedback_create")
        if b.get("id") in self.ls_pushed:
            return web.json_response({"detail": "Feedback already exists"}, status=409)
        fid = b.get("id") or f"srv-{len(self.writes)}"
        self.ls_pushed[fid] = {**b, "id": fid, "created_at": "2024-10-12T00:00:00Z"}
        return web.json_response(self.ls_pushed[fid])

    async def ls_patch_feedback(self, request: web.Request) -> web.Response:
        self._ls_auth(request)
        b = await self._body(request, "langsmith_feedback_update")
        fid = request.match_info["id"]
        if fid not in self.ls_pushed:
            return web.json_response({"detail": "Feedback not found"}, status=404)
        self.ls_pushed[fid].update(b)
        return web.json_response(self.ls_pushed[fid])

    async def ls_post_dataset(self, request: web.Request) -> web.Response:
        self._ls_auth(request)
        b = await self._body(request, "langsmith_dataset")
        if any(d["name"] == b["name"] for d in self.ls_datasets.values()):
            return web.json_response({"detail": "Dataset already exists"}, status=409)
        did = f"7a1b2c3d-0000-4000-8000-{len(self.ls_datasets) + 1:012d}"
        self.ls_datasets[did] = {**b, "id": did}
        return web.json_response(self.ls_datasets[did])

    async def ls_post_example(self, request: web.Request) -> web.Response:
        self._ls_auth(request)
        b = await self._body(request, "langsmith_example_create")
        if b["dataset_id"] not in self.ls_datasets:
            return web.json_response({"detail": "Dataset not found"}, status=404)
        if b.get("id") in self.ls_examples:
            return web.json_response({"detail": "Example already exists"}, status=409)
        self.ls_examples[b["id"]] = dict(b)
        return web.json_response(b)

    async def ls_patch_example(self, request: web.Request) -> web.Response:
        self._ls_auth(request)
        b = await self._body(request, "langsmith_example_update")
        eid = request.match_info["id"]
        if eid not in self.ls_examples:
            return web.json_response({"detail": "Example not found"}, status=404)
        self.ls_examples[eid].update(b)
        return web.json_response(self.ls_examples[eid])

    async def ml_post_assessment(self, request: web.Request) -> web.Response:
        b = await self._body(request, "mlflow_assessment_create")
        a = b["assessment"]
        if a["trace_id"] != request.match_info["tid"]:
            return web.json_response({"error_code": "INVALID_PARAMETER_VALUE", "message": "trace_id differs from the path"}, status=400)
        aid = f"a-{len(self.ml_assessments) + 1}"
        self.ml_assessments[aid] = {**a, "assessment_id": aid, "create_time": "2025-01-01T00:00:00Z"}
        return web.json_response({"assessment": self.ml_assessments[aid]})

    async def ml_patch_assessment(self, request: web.Request) -> web.Response:
        b = await self._body(request, "mlflow_assessment_update")
        aid = request.match_info["aid"]
        if aid not in self.ml_assessments:
            return web.json_response({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no such assessment"}, status=404)
        cur = self.ml_assessments[aid]
        for field in b["update_mask"].split(","):
            if field in b["assessment"]:
                cur[field] = b["assessment"][field]
        cur["last_update_time"] = "2025-01-02T00:00:00Z"
        return web.json_response({"assessment": cur})

    async def ml_create_dataset(self, request: web.Request) -> web.Response:
        b = await self._body(request, "mlflow_dataset_create")
        did = f"d-{len(self.ml_datasets) + 1}"
        self.ml_datasets[did] = {**b, "dataset_id": did, "records": []}
        return web.json_response({"dataset": {k: v for k, v in self.ml_datasets[did].items() if k != "records"}})

    async def ml_records(self, request: web.Request) -> web.Response:
        b = await self._body(request, "mlflow_dataset_records")
        ds = self.ml_datasets.get(request.match_info["did"])
        if ds is None:
            return web.json_response({"error_code": "RESOURCE_DOES_NOT_EXIST"}, status=404)
        records = json.loads(b["records"])
        v = schema_validator("mlflow_dataset_record")
        for r in records:
            for e in v.iter_errors(r):
                self.schema_errors.append(f"{request.path} record: {e.message}")
        ins = upd = 0
        for r in records:  # MLflow merges records that have the same inputs
            same = [x for x in ds["records"] if x["inputs"] == r["inputs"]]
            if same:
                same[0].update(r)
                upd += 1
            else:
                ds["records"].append(r)
                ins += 1
        return web.json_response({"inserted_count": ins, "updated_count": upd})

    async def dd_eval_metric(self, request: web.Request) -> web.Response:
        if request.headers.get("DD-API-KEY") != SECRETS["DD_API_KEY"]:
            return web.json_response({"errors": ["Forbidden"]}, status=403)
        b = await self._body(request, "datadog_eval_metric")
        ms = b["data"]["attributes"]["metrics"]
        self.dd_metrics += ms
        for m in ms:  # shown on the span the next export reads
            j = m["join_on"]["span"]
            for s in self.dd:
                if str(s["span_id"]) == j["span_id"] and str(s["trace_id"]) == j["trace_id"]:
                    s.setdefault("evaluation_metrics", []).append(m)
        return web.json_response({"data": {"type": "evaluation_metric", "attributes": {"metrics": ms}}}, status=202)


def echo_body(request: web.Request) -> str:
    """A server error that echoes the request's credentials in every shape a careless server (or
    proxy) might: headers as they came, the basic-auth token without ``Basic ``, URL-encoded,
    base64 of the secret alone, cut at odd places, and the secret past a long prefix."""
    from urllib.parse import quote

    auth = request.headers.get("Authorization", "")
    token = auth.split(" ", 1)[1] if " " in auth else auth
    raw = ""
    with contextlib.suppress(Exception):  # not basic auth
        raw = base64.b64decode(token).decode()
    keys = [request.headers.get(h, "") for h in ("x-api-key", "DD-API-KEY", "DD-APPLICATION-KEY")]
    secret = raw.split(":", 1)[1] if ":" in raw else next((k for k in keys if k), "")
    parts = [
        f"headers={dict(request.headers)}",
        f"token {token}",
        f"cut {token[:80]}",
        f"cut2 {token[:37]}",
        f"enc {quote(token, safe='')}",
        f"url https://proxy/?auth={quote(auth)}",
        f"b64 {base64.b64encode(secret.encode()).decode()}",
        f"b64cut {base64.urlsafe_b64encode(('x' + secret).encode()).decode()[:20]}",
        "pad " + "x" * 250 + secret,
        f"frag {secret[3:12]} {secret[-7:]}",
    ]
    return json.dumps({"message": " | ".join(parts)})
