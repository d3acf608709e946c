"""OpenInference's LangChain instrumentor (``openinference-instrumentation-langchain``) over OTLP:
a chain with a retriever (in-memory vector store), a chat model bound to a tool, the tool run,
a second model call, and a model the server refuses."""

import _common as c
from _common import OTelSetup

setup = OTelSetup("openinference-langchain")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import DeterministicFakeEmbedding  # noqa: E402
from langchain_core.messages import HumanMessage, SystemMessage, ToolMessage  # noqa: E402
from langchain_core.runnables import RunnableLambda  # noqa: E402
from langchain_core.tools import tool  # noqa: E402
from langchain_core.vectorstores import InMemoryVectorStore  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from openinference.instrumentation.langchain import LangChainInstrumentor  # noqa: E402

LangChainInstrumentor().instrument(tracer_provider=setup.provider)
tools_log, errors = [], []


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return c.get_weather(city)


store = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
store.add_documents([Document(page_content=d, id=f"doc-{i}") for i, d in enumerate(c.DOCS)])
retriever = store.as_retriever(search_kwargs={"k": 2})
llm = ChatOpenAI(model="fake-model", base_url=c.URL, api_key="x", max_retries=0).bind_tools([get_weather])


def agent(question: str) -> str:
    docs = retriever.invoke(question)
    messages = [SystemMessage(c.SYSTEM + " Context: " + " ".join(d.page_content for d in docs)), HumanMessage(question)]
    ai = llm.invoke(messages)
    call = ai.tool_calls[0]
    result = get_weather.invoke(call)
    tools_log.append({"name": "get_weather", "arguments": call["args"], "result": result.content})
    messages += [ai, ToolMessage(result.content, tool_call_id=call["id"])]
    return llm.invoke(messages).content


RunnableLambda(agent).with_config(run_name="weather-agent").invoke(c.QUESTION)
try:
    ChatOpenAI(model="fake-error", base_url=c.URL, api_key="x", max_retries=0).invoke(c.QUESTION)
except Exception as e:  # openai.BadRequestError
    errors.append(str(e))

setup.finish("openinference_langchain", c.versions("openinference-instrumentation-langchain", "langchain-core", "langchain-openai"),
             tools=tools_log, errors=errors, documents=c.DOCS)
