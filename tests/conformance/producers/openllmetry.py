"""OpenLLMetry (``traceloop-sdk``): ``Traceloop.init`` with our span processors (an in-memory one for
the truth, OTLP/HTTP to ``llmops-nb collect``), its ``@agent``/``@task``/``@tool`` decorators and
its OpenAI instrumentation (installed alone: the SDK's other instrumentations are not needed)."""

import json
import os

import _common as c
from _common import OTelSetup

setup = OTelSetup("traceloop", install=False)

import openai  # noqa: E402
from opentelemetry import trace  # noqa: E402
from traceloop.sdk import Traceloop  # noqa: E402
from traceloop.sdk.decorators import agent, task, tool  # noqa: E402

legacy = os.environ.get("TRACELOOP_LEGACY_ATTRIBUTES", "")
Traceloop.init(app_name="conformance", api_endpoint="http://127.0.0.1:9", api_key="x", telemetry_enabled=False,
               disable_batch=True, processor=setup.processors(), traceloop_sync_enabled=False,
               **({"use_legacy_attributes": legacy == "true"} if legacy else {}))
setup.provider = trace.get_tracer_provider()
client = openai.OpenAI(base_url=c.URL, api_key="x", max_retries=0)
tools_log, errors = [], []


@task(name="retrieve")
def retrieve(question: str) -> list:
    return list(c.DOCS)


@tool(name="get_weather")
def get_weather(city: str) -> str:
    return c.get_weather(city)


@agent(name="weather-agent")
def run(question: str) -> str:
    docs = retrieve(question)
    messages = [{"role": "system", "content": c.SYSTEM + " Context: " + " ".join(docs)}, {"role": "user", "content": question}]
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


run(c.QUESTION)
setup.finish("traceloop" + ("_legacy" if legacy == "true" else ""), c.versions("traceloop-sdk", "opentelemetry-instrumentation-openai", "openai"),
             tools=tools_log, errors=errors)
