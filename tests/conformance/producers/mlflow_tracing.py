"""MLflow tracing: ``mlflow.openai.autolog()`` for the model calls, ``@mlflow.trace`` and
``mlflow.start_span`` for the agent, its retriever and its tool; the trace is exported with
``Trace.to_json()`` (the truth is the ``Trace`` object's spans). When ``LLMOPS_NB_SRC`` names the
llmops_nb source tree, the ``Trace`` object itself is also read here, in MLflow's process
(``read_traces([trace])``: objects cannot cross venvs), and that frame is written as Arrow
(``read.trace-object.arrow``) for the harness to compare."""

import json
import os

import _common as c

os.environ.setdefault("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
import mlflow  # noqa: E402
import openai  # noqa: E402

mlflow.set_tracking_uri(f"sqlite:///{c.OUT}/mlflow.db")
mlflow.openai.autolog()
client = openai.OpenAI(base_url=c.URL, api_key="x", max_retries=0)
tools_log, errors = [], []


@mlflow.trace(name="weather-agent", span_type="AGENT")
def agent(question: str) -> str:
    with mlflow.start_span(name="retrieve", span_type="RETRIEVER") as span:
        span.set_inputs({"query": question})
        docs = [{"page_content": d, "metadata": {"doc_uri": f"doc-{i}"}, "id": f"doc-{i}"} for i, d in enumerate(c.DOCS)]
        span.set_outputs(docs)
    messages = [{"role": "system", "content": c.SYSTEM + " Context: " + " ".join(c.DOCS)}, {"role": "user", "content": question}]
    r1 = client.chat.completions.create(model="fake-model", messages=messages, tools=[c.WEATHER_TOOL])
    call = r1.choices[0].message.tool_calls[0]
    args = json.loads(call.function.arguments)
    with mlflow.start_span(name="get_weather", span_type="TOOL") as span:
        span.set_inputs(args)
        result = c.get_weather(**args)
        span.set_outputs(result)
    tools_log.append({"name": "get_weather", "arguments": args, "result": result})
    messages += [r1.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": result}]
    r2 = client.chat.completions.create(model="fake-model", messages=messages, tools=[c.WEATHER_TOOL])
    try:
        client.chat.completions.create(model="fake-error", messages=[{"role": "user", "content": question}])
    except openai.BadRequestError as e:
        errors.append(str(e))
    return r2.choices[0].message.content


agent(c.QUESTION)
if hasattr(mlflow, "flush_trace_async_logging"):
    mlflow.flush_trace_async_logging()
trace = mlflow.get_trace(mlflow.get_last_active_trace_id())
(c.OUT / "payload" / "trace.mlflow.json").write_text(trace.to_json())
if os.environ.get("LLMOPS_NB_SRC"):
    import sys

    import pyarrow.feather as feather

    sys.path.insert(0, os.environ["LLMOPS_NB_SRC"])
    import llmops_nb as lo
    from llmops_nb.schema import SPANS, to_arrow

    feather.write_feather(to_arrow(lo.read_traces([trace]), SPANS), str(c.OUT / "read.trace-object.arrow"))


def truth(span):
    d = span.to_dict()
    ctx = span._span.get_span_context() if hasattr(span, "_span") else None
    status = span.status.status_code
    status = getattr(status, "value", status)
    return {
        "trace_id": format(ctx.trace_id, "032x") if ctx else None,
        "span_id": format(ctx.span_id, "016x") if ctx else span.span_id,
        "parent_span_id": format(span._span.parent.span_id, "016x") if getattr(span._span, "parent", None) else None,
        "name": span.name, "start_ns": span.start_time_ns, "end_ns": span.end_time_ns,
        "status": {"OK": "ok", "ERROR": "error"}.get(str(status), "unset"),
        "error": span.status.description or next((e.attributes.get("exception.message") for e in span.events
                                                  if e.name == "exception"), None),
        "declared": ["mlflow", span.span_type],
        "raw": d,
    }


c.write_truth("mlflow", c.versions("mlflow", "mlflow-skinny", "openai"), [truth(s) for s in trace.data.spans],
              tools=tools_log, errors=errors, documents=c.DOCS, mlflow_trace_id=trace.info.trace_id)
