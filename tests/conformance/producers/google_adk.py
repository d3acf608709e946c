"""Google ADK (``google-adk``) with its built-in OpenTelemetry tracing: an LlmAgent with a
``get_weather`` function tool, on an OpenAI-compatible model through ADK's ``LiteLlm`` wrapper
(the fake server), and an agent whose model the server refuses. ADK records the model request
and response in Gemini shapes (``contents``/``parts`` with ``function_call`` and
``function_response``, role ``model``) in its ``gcp.vertex.agent.*`` span attributes."""

import asyncio

import _common as c
from _common import OTelSetup

setup = OTelSetup("google-adk")

from google.adk.agents import LlmAgent  # noqa: E402
from google.adk.models.lite_llm import LiteLlm  # noqa: E402
from google.adk.runners import InMemoryRunner  # noqa: E402
from google.genai import types  # noqa: E402

tools_log, errors = [], []


def get_weather(city: str) -> str:
    """The current weather in a city."""
    result = c.get_weather(city)
    tools_log.append({"name": "get_weather", "arguments": {"city": city}, "result": result})
    return result


def model(name):
    return LiteLlm(model=f"openai/{name}", api_base=c.URL, api_key="x", num_retries=0)


async def run(agent):
    runner = InMemoryRunner(agent=agent, app_name="conformance")
    session = await runner.session_service.create_session(app_name="conformance", user_id="u1")
    msg = types.Content(role="user", parts=[types.Part(text=c.QUESTION)])
    async for _ in runner.run_async(user_id="u1", session_id=session.id, new_message=msg):
        pass


asyncio.run(run(LlmAgent(name="weather_agent", model=model("fake-model"), instruction=c.SYSTEM, tools=[get_weather])))
try:
    asyncio.run(run(LlmAgent(name="broken_agent", model=model("fake-error"), instruction=c.SYSTEM)))
except Exception as e:  # litellm.BadRequestError
    errors.append(str(e))

setup.finish("google_adk", c.versions("google-adk", "google-genai", "litellm"), tools=tools_log, errors=errors)
