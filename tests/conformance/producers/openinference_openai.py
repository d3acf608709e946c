"""OpenInference's OpenAI instrumentor (``openinference-instrumentation-openai``) over OTLP.

The agent: a root AGENT span (OpenInference's tracer API), a RETRIEVER span with two
documents, an LLM call that asks for ``get_weather``, a TOOL span that runs it, a second LLM
call that answers, and a call to a model the server refuses (an error span).
"""

import json

import _common as c
from _common import OTelSetup

setup = OTelSetup("openinference-openai")

import openai  # noqa: E402
from openinference.instrumentation import OITracer, TraceConfig  # noqa: E402
from openinference.instrumentation.openai import OpenAIInstrumentor  # noqa: E402
from openinference.semconv.trace import DocumentAttributes, SpanAttributes  # noqa: E402

OpenAIInstrumentor().instrument(tracer_provider=setup.provider)
tracer = OITracer(setup.provider.get_tracer("conformance-agent"), config=TraceConfig())
client = openai.OpenAI(base_url=c.URL, api_key="x", max_retries=0)
tools_log, errors = [], []


@tracer.tool(name="get_weather")
def get_weather(city: str) -> str:
    return c.get_weather(city)


with tracer.start_as_current_span("weather-agent", openinference_span_kind="agent") as agent:
    agent.set_input(c.QUESTION)
    with tracer.start_as_current_span("retrieve", openinference_span_kind="retriever") as ret:
        ret.set_input(c.QUESTION)
        for i, d in enumerate(c.DOCS):
            ret.set_attribute(f"{SpanAttributes.RETRIEVAL_DOCUMENTS}.{i}.{DocumentAttributes.DOCUMENT_ID}", f"doc-{i}")
            ret.set_attribute(f"{SpanAttributes.RETRIEVAL_DOCUMENTS}.{i}.{DocumentAttributes.DOCUMENT_CONTENT}", d)
            ret.set_attribute(f"{SpanAttributes.RETRIEVAL_DOCUMENTS}.{i}.{DocumentAttributes.DOCUMENT_SCORE}", 0.9 - i / 10)
    messages = [{"role": "system", "content": c.SYSTEM + " Context: " + " ".join(c.DOCS)},
                {"role": "user", "content": c.QUESTION}]
    r1 = client.chat.completions.create(model="fake-model", messages=messages, tools=[c.WEATHER_TOOL])
    call = r1.choices[0].message.tool_calls[0]
    args = json.loads(call.function.arguments)
    result = get_weather(**args)
    tools_log.append({"name": "get_weather", "arguments": args, "result": result})
    messages += [r1.choices[0].message.model_dump(exclude_none=True), {"role": "tool", "tool_call_id": call.id, "content": result}]
    r2 = client.chat.completions.create(model="fake-model", messages=messages, tools=[c.WEATHER_TOOL])
    agent.set_output(r2.choices[0].message.content)
    try:
        client.chat.completions.create(model="fake-error", messages=[{"role": "user", "content": c.QUESTION}])
    except openai.BadRequestError as e:
        errors.append(str(e))

setup.finish("openinference_openai", c.versions("openinference-instrumentation-openai", "openinference-instrumentation", "openai"),
             tools=tools_log, errors=errors, documents=c.DOCS)
