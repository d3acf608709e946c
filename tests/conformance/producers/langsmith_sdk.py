"""The LangSmith SDK (``langsmith``): ``@traceable`` functions and ``wrap_openai`` post their run
trees to a local endpoint that records the payloads (``INGEST_URL``); the RunTree objects the
SDK built are the truth. The endpoint's ``/info`` asks for JSON batches (``POST /runs/batch``
with ``{post, patch}``), which the client sends when a server disables multipart ingestion."""

import json
import os

import _common as c

os.environ.update({"LANGSMITH_TRACING": "true", "LANGSMITH_ENDPOINT": os.environ["INGEST_URL"], "LANGSMITH_API_KEY": "lsv2-x",
                   "LANGSMITH_PROJECT": "conformance"})

import openai  # noqa: E402
from langsmith import Client, get_current_run_tree, traceable, tracing_context  # noqa: E402
from langsmith.wrappers import wrap_openai  # noqa: E402

ls_client = Client(api_url=os.environ["INGEST_URL"], api_key="lsv2-x")
client = wrap_openai(openai.OpenAI(base_url=c.URL, api_key="x", max_retries=0))
tools_log, errors, roots = [], [], []


@traceable(run_type="retriever", name="retrieve")
def retrieve(question: str) -> list:
    return [{"page_content": d, "type": "Document", "metadata": {"id": f"doc-{i}"}} for i, d in enumerate(c.DOCS)]


@traceable(run_type="tool", name="get_weather")
def get_weather(city: str) -> str:
    return c.get_weather(city)


@traceable(run_type="chain", name="weather-agent")
def agent(question: str) -> str:
    roots.append(get_current_run_tree())
    docs = retrieve(question)
    messages = [{"role": "system", "content": c.SYSTEM + " Context: " + " ".join(d["page_content"] for d in docs)},
                {"role": "user", "content": question}]
    r1 = client.chat.completions.create(model="fake-model", messages=messages, tools=[c.WEATHER_TOOL])
    call = r1.choices[0].message.tool_calls[0]
    args = json.loads(call.function.arguments)
    result = get_weather(**args)
    tools_log.append({"name": "get_weather", "arguments": args, "result": result})
    messages += [r1.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": result}]
    r2 = client.chat.completions.create(model="fake-model", messages=messages, tools=[c.WEATHER_TOOL])
    try:
        client.chat.completions.create(model="fake-error", messages=[{"role": "user", "content": question}])
    except openai.BadRequestError as e:
        errors.append(str(e))
    return r2.choices[0].message.content


with tracing_context(enabled=True, client=ls_client, project_name="conformance"):
    agent(c.QUESTION)
ls_client.flush()


def walk(run, out):
    d = run.dict() if hasattr(run, "dict") else dict(run)
    raw = {k: d.get(k) for k in ("inputs", "outputs", "extra", "error", "run_type", "name", "serialized") if k in d}
    out.append({
        "trace_id": str(run.trace_id), "span_id": str(run.id),
        "parent_span_id": str(run.parent_run_id) if run.parent_run_id else None,
        "name": run.name, "start": run.start_time.isoformat(), "end": run.end_time.isoformat() if run.end_time else None,
        "status": "error" if run.error else "ok", "error": run.error, "declared": ["langsmith", run.run_type],
        "raw": json.loads(json.dumps(raw, default=str)),
    })
    for ch in run.child_runs or []:
        walk(ch, out)
    return out


c.write_truth("langsmith", c.versions("langsmith", "openai"), walk(roots[0], []), tools=tools_log, errors=errors, documents=c.DOCS)
