"""Peer-side helper for the connector tests and benchmark. Runs INSIDE a peer venv
(.cache/phoenix-venv or .cache/mlflow-venv), never in the main one:

    python connectors_peers.py phoenix-send URL PROJECT N_TRACES SPANS_PER_TRACE
    python connectors_peers.py phoenix-export URL PROJECT OUT.parquet   # prints seconds
    python connectors_peers.py mlflow-send URL EXPERIMENT N_TRACES
    python connectors_peers.py mlflow-export URL EXPERIMENT OUT.json
    python connectors_peers.py phoenix-readback URL PROJECT SPAN_IDS.json DATASET OUT.json
    python connectors_peers.py mlflow-readback URL EXPERIMENT DATASET OUT.json

It sends traces with the backend's own client (Phoenix: phoenix.otel + OpenInference
attributes; MLflow: mlflow tracing API) and exports them with the backend's own reader
(Phoenix: Client().spans.get_spans_dataframe; MLflow: search_traces), so the connector's pull
can be compared span by span; the readback commands read what ``push`` wrote (annotations,
assessments, datasets) with the backend's own client.
"""

from __future__ import annotations

import json
import sys
import time


def phoenix_send(url: str, project: str, n_traces: int, per_trace: int) -> None:
    from openinference.semconv.resource import ResourceAttributes
    from opentelemetry import trace as ot
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from phoenix.otel import HTTPSpanExporter, TracerProvider

    provider = TracerProvider(resource=Resource.create({ResourceAttributes.PROJECT_NAME: project}),
                              endpoint=f"{url}/v1/traces", protocol="http/protobuf", verbose=False)
    provider.add_span_processor(BatchSpanProcessor(
        HTTPSpanExporter(endpoint=f"{url}/v1/traces"), max_queue_size=1_000_000,
        max_export_batch_size=2000, schedule_delay_millis=200,
    ))
    tracer = provider.get_tracer("llmops-nb-peer")
    base = _phoenix_last_rowid(url, project)
    chunk = max(1, 4000 // per_trace)  # Phoenix answers 503 when its ingestion queue is full
    for i in range(n_traces):
        if i and i % chunk == 0:  # let Phoenix ingest each chunk before sending more
            provider.force_flush(timeout_millis=600_000)
            phoenix_wait(url, project, base + i * per_trace)
        with tracer.start_as_current_span(f"agent-{i % 7}") as root:
            root.set_attribute("openinference.span.kind", "CHAIN")
            root.set_attribute("input.value", f"question {i}")
            root.set_attribute("output.value", f"answer {i}")
            root.set_attribute("session.id", f"s-{i % 50}")
            root.set_attribute("user.id", f"u-{i % 20}")
            for j in range(per_trace - 1):
                if j % 3 == 0:
                    with tracer.start_as_current_span("ChatCompletion") as sp:
                        sp.set_attribute("openinference.span.kind", "LLM")
                        sp.set_attribute("llm.model_name", "gpt-4o-mini")
                        sp.set_attribute("llm.provider", "openai")
                        sp.set_attribute("llm.input_messages.0.message.role", "user")
                        sp.set_attribute("llm.input_messages.0.message.content", f"q{i}-{j}")
                        sp.set_attribute("llm.output_messages.0.message.role", "assistant")
                        sp.set_attribute("llm.output_messages.0.message.content", f"a{i}-{j}")
                        sp.set_attribute("llm.token_count.prompt", 10 + j)
                        sp.set_attribute("llm.token_count.completion", 5 + j)
                        sp.set_attribute("llm.token_count.total", 15 + 2 * j)
                elif j % 3 == 1:
                    with tracer.start_as_current_span("search") as sp:
                        sp.set_attribute("openinference.span.kind", "TOOL")
                        sp.set_attribute("tool.name", "search")
                        sp.set_attribute("tool.parameters", json.dumps({"q": f"q{i}"}))
                        sp.set_attribute("output.value", f"result {i}-{j}")
                else:
                    with tracer.start_as_current_span("retrieve") as sp:
                        sp.set_attribute("openinference.span.kind", "RETRIEVER")
                        sp.set_attribute("input.value", f"q{i}")
                        sp.set_attribute("retrieval.documents.0.document.id", f"d{j}")
                        sp.set_attribute("retrieval.documents.0.document.content", f"doc {j}")
                        sp.set_attribute("retrieval.documents.0.document.score", 0.5)
                        if i % 10 == 0:
                            sp.set_status(ot.Status(ot.StatusCode.ERROR, "no documents"))
    provider.force_flush(timeout_millis=600_000)
    provider.shutdown()


def _phoenix_last_rowid(url: str, project: str) -> int:
    import base64
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/v1/projects/{project}/spans?limit=1&sort=id&order=desc") as r:
            body = json.loads(r.read())
    except Exception:  # noqa: BLE001 - no such project yet
        return 0
    if not body["data"]:
        return 0
    return int(base64.b64decode(body["data"][0]["id"]).decode().split(":")[1])


def phoenix_wait(url: str, project: str, n: int, timeout_s: float = 900) -> None:
    """Wait until the project's newest span row id reaches n (one project per server)."""
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        if _phoenix_last_rowid(url, project) >= n:
            return
        time.sleep(0.3)
    raise TimeoutError(f"Phoenix did not ingest {n} spans in {timeout_s}s")


def phoenix_export(url: str, project: str, out: str) -> None:
    from phoenix.client import Client

    c = Client(base_url=url)
    t0 = time.perf_counter()
    df = c.spans.get_spans_dataframe(project_identifier=project, limit=10_000_000, timeout=600)
    secs = time.perf_counter() - t0
    df.to_parquet(out)
    print(json.dumps({"seconds": secs, "rows": len(df)}))


def mlflow_send(url: str, experiment: str, n: int) -> None:
    import mlflow

    mlflow.set_tracking_uri(url)
    mlflow.set_experiment(experiment)

    @mlflow.trace(span_type="TOOL")
    def search(q: str) -> str:
        return f"result for {q}"

    @mlflow.trace(span_type="CHAT_MODEL")
    def chat(q: str) -> str:
        return f"answer to {q}"

    @mlflow.trace(span_type="AGENT")
    def agent(q: str) -> str:
        return chat(search(q))

    for i in range(n):
        agent(f"question {i}")
    mlflow.flush_trace_async_logging() if hasattr(mlflow, "flush_trace_async_logging") else None
    # one human and one judge assessment on the first trace
    tid = mlflow.search_traces(return_type="list", max_results=1, order_by=["timestamp_ms ASC"])[0].info.trace_id
    from mlflow.entities import AssessmentSource

    mlflow.log_feedback(trace_id=tid, name="correct", value=True,
                        source=AssessmentSource(source_type="HUMAN", source_id="alice"), rationale="checked")
    mlflow.log_feedback(trace_id=tid, name="relevance", value=0.7,
                        source=AssessmentSource(source_type="LLM_JUDGE", source_id="gpt-4o"))


def mlflow_export(url: str, experiment: str, out: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(url)
    exp = mlflow.get_experiment_by_name(experiment)
    traces = mlflow.search_traces(experiment_ids=[exp.experiment_id], return_type="list", max_results=100_000)
    with open(out, "w") as f:
        json.dump([json.loads(t.to_json()) for t in traces], f)
    print(json.dumps({"traces": len(traces)}))


def phoenix_readback(url: str, project: str, span_ids_file: str, dataset: str, out: str) -> None:
    from phoenix.client import Client

    c = Client(base_url=url)
    with open(span_ids_file) as f:
        span_ids = json.load(f)
    anns = c.spans.get_span_annotations(span_ids=span_ids, project_identifier=project)
    rows = [a if isinstance(a, dict) else dict(a) for a in anns]
    ds = c.datasets.get_dataset(dataset=dataset)
    examples = [dict(e) for e in ds.examples] if ds is not None else []
    with open(out, "w") as f:
        json.dump({"annotations": rows, "examples": examples}, f, default=str)


def mlflow_readback(url: str, experiment: str, dataset: str, out: str) -> None:
    import mlflow

    mlflow.set_tracking_uri(url)
    exp = mlflow.get_experiment_by_name(experiment)
    traces = mlflow.search_traces(experiment_ids=[exp.experiment_id], return_type="list", max_results=100_000)
    rows = []
    for t in traces:
        for a in t.info.assessments or []:
            d = a.to_dictionary()
            d["trace_id"] = t.info.trace_id
            rows.append(d)
    records = None
    try:
        from mlflow.genai.datasets import search_datasets
    except ImportError:  # an MLflow without evaluation datasets (before 3.4)
        search_datasets = None
    if search_datasets is not None:
        found = [d for d in search_datasets(experiment_ids=[exp.experiment_id]) if d.name == dataset]
        records = json.loads(found[0].to_df().to_json(orient="records")) if found else []
    with open(out, "w") as f:
        json.dump({"assessments": rows, "records": records, "datasets_api": search_datasets is not None}, f, default=str)


if __name__ == "__main__":
    cmd, *a = sys.argv[1:]
    if cmd == "phoenix-send":
        base = _phoenix_last_rowid(a[0], a[1])
        phoenix_send(a[0], a[1], int(a[2]), int(a[3]))
        phoenix_wait(a[0], a[1], base + int(a[2]) * int(a[3]))
    elif cmd == "phoenix-export":
        phoenix_export(a[0], a[1], a[2])
    elif cmd == "mlflow-send":
        mlflow_send(a[0], a[1], int(a[2]))
    elif cmd == "mlflow-export":
        mlflow_export(a[0], a[1], a[2])
    elif cmd == "phoenix-readback":
        phoenix_readback(a[0], a[1], a[2], a[3], a[4])
    elif cmd == "mlflow-readback":
        mlflow_readback(a[0], a[1], a[2], a[3])
    else:
        raise SystemExit(f"unknown command {cmd!r}")
