"""The Langfuse SDK v3 (OpenTelemetry-based): ``@observe`` and typed observations (agent,
retriever, tool) with the ``langfuse.openai`` drop-in for the model calls, exported by Langfuse's
own span processor to ``llmops-nb collect`` (``host`` = the collector,
``LANGFUSE_OTEL_TRACES_EXPORT_PATH=v1/traces``). The truth is an in-memory exporter on the same
TracerProvider; the spans are also written as OTLP files."""

import json
import os

endpoint = os.environ.pop("OTLP_ENDPOINT", None)  # Langfuse's own exporter sends there, not ours
if endpoint:
    os.environ["LANGFUSE_OTEL_TRACES_EXPORT_PATH"] = "v1/traces"

import _common as c  # noqa: E402
from _common import OTelSetup  # noqa: E402

setup = OTelSetup("langfuse")

from langfuse import Langfuse, observe  # noqa: E402

lf = Langfuse(public_key="pk-lf-conformance", secret_key="sk-lf-conformance",
              host=endpoint.rsplit("/v1/traces", 1)[0] if endpoint else "http://127.0.0.1:9", tracer_provider=setup.provider)
from langfuse.openai import openai  # noqa: E402

client = openai.OpenAI(base_url=c.URL, api_key="x", max_retries=0)
tools_log, errors = [], []


@observe(name="weather-agent", as_type="agent")
def agent(question: str) -> str:
    with lf.start_as_current_observation(name="retrieve", as_type="retriever", input={"query": question}) as r:
        r.update(output=[{"page_content": d, "metadata": {"id": f"doc-{i}"}} for i, d in enumerate(c.DOCS)])
    messages = [{"role": "system", "content": c.SYSTEM + " Context: " + " ".join(c.DOCS)}, {"role": "user", "content": question}]
    r1 = client.chat.completions.create(model="fake-model", messages=messages, tools=[c.WEATHER_TOOL])
    call = r1.choices[0].message.tool_calls[0]
    args = json.loads(call.function.arguments)
    with lf.start_as_current_observation(name="get_weather", as_type="tool", input=args) as t:
        result = c.get_weather(**args)
        t.update(output=result)
    tools_log.append({"name": "get_weather", "arguments": args, "result": result})
    messages += [r1.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": result}]
    r2 = client.chat.completions.create(model="fake-model", messages=messages, tools=[c.WEATHER_TOOL])
    try:
        client.chat.completions.create(model="fake-error", messages=[{"role": "user", "content": question}])
    except openai.BadRequestError as e:
        errors.append(str(e))
    return r2.choices[0].message.content


agent(c.QUESTION)
lf.flush()
setup.finish("langfuse", c.versions("langfuse", "openai"), tools=tools_log, errors=errors, documents=c.DOCS)
