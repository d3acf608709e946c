"""Inspect AI with its built-in mock model (``mockllm/model``, scripted outputs): a task whose
solver offers ``get_weather``, the model asks for it, then answers; a second sample's tool call
fails (an error). Logs are written in both formats Inspect has: ``.eval`` (zip) and ``.json``.

No HTTP goes over the wire here: the model calls the truth compares with are the ModelEvents of
the EvalLog object (``exchanges.json`` written from them), the spans are its model and tool
events (Inspect events carry no span ids the loader could keep: spans are matched by kind and order).
Each format comes from its own ``eval`` run, so ``truth.json`` keeps each run's spans under
``payloads[<log file name>]`` (times differ from run to run).
"""

import json
from pathlib import Path

import _common as c
from inspect_ai import Task, eval  # noqa: A004
from inspect_ai.dataset import Sample
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import includes
from inspect_ai.solver import generate, use_tools
from inspect_ai.tool import ToolError, tool


@tool
def get_weather():
    async def execute(city: str) -> str:
        """The current weather in a city.

        Args:
            city: The city.
        """
        if city != "Paris":
            raise ToolError(f"no weather station in {city}")
        return c.WEATHER

    return execute


def out(o, pt, ct):
    o.usage = ModelUsage(input_tokens=pt, output_tokens=ct, total_tokens=pt + ct)
    return o


outputs = [
    out(ModelOutput.for_tool_call("mockllm/model", "get_weather", {"city": "Paris"}, tool_call_id="call_weather_1", content=""), 20, 9),
    out(ModelOutput.from_content("mockllm/model", "It is 18C and sunny in Paris."), 30, 9),
    out(ModelOutput.for_tool_call("mockllm/model", "get_weather", {"city": "Atlantis"}, tool_call_id="call_weather_2", content=""), 21, 9),
    out(ModelOutput.from_content("mockllm/model", "I could not find the weather in Atlantis."), 31, 10),
]
task = Task(dataset=[Sample(input=c.QUESTION, target="18C", id="paris"), Sample(input="What is the weather in Atlantis?", target="unknown", id="atlantis")],
            solver=[use_tools(get_weather()), generate()], scorer=includes())
logs = {}
for fmt in ("eval", "json"):
    model = get_model("mockllm/model", custom_outputs=iter([o.model_copy(deep=True) for o in outputs]))
    [log] = eval(task, model=model, log_format=fmt, log_dir=str(c.OUT / "payload"), display="none", max_samples=1)
    logs[fmt] = log


def openai_message(m):
    d = {"role": m.role, "content": m.text if m.role != "assistant" or m.text else None}
    if m.role == "assistant" and m.tool_calls:
        d["tool_calls"] = [{"id": tc.id, "type": "function", "function": {"name": tc.function, "arguments": json.dumps(tc.arguments)}}
                           for tc in m.tool_calls]
    if m.role == "tool":
        d["tool_call_id"] = m.tool_call_id
        d["content"] = m.text if not m.error else m.error.message  # what Inspect's Anthropic/Google providers send
    return d


def truth_of(log):
    """The spans (model and tool events, in time order across samples), the model calls, the
    tools run and the errors met, from one run's own ``EvalLog``. Event times are Inspect's clock
    times: ``timestamp`` (when the event occurred; a model or tool call's start) and ``completed``;
    ``working_start`` is seconds of working time within the sample, not a clock time."""
    spans, exchanges, tools_log, errors = [], [], [], []
    for e in sorted((e for s in log.samples for e in s.events), key=lambda e: e.timestamp):
        if e.event == "model":
            o = e.output
            msg = o.choices[0].message
            exchanges.append({"api": "inspect", "request": {"model": "model", "messages": [openai_message(m) for m in e.input]},
                              "response": {"content": msg.text or None,
                                           "tool_calls": [{"id": t.id, "name": t.function, "arguments": json.dumps(t.arguments)}
                                                          for t in msg.tool_calls or []] or None,
                                           "usage": {"prompt_tokens": o.usage.input_tokens, "completion_tokens": o.usage.output_tokens}}})
            spans.append({"span_id": None, "match": ["llm", len([x for x in spans if x["match"][0] == "llm"])],
                          "trace_id": None, "name": None, "start": e.timestamp.isoformat(),
                          "end": e.completed.isoformat() if e.completed else None, "status": "error" if e.error else "ok",
                          "error": e.error, "declared": ["inspect", "model"], "raw": e.model_dump(mode="json", exclude={"call"})})
        elif e.event == "tool":
            err = e.error.message if e.error else None
            if err:
                errors.append(err)
            else:
                tools_log.append({"name": e.function, "arguments": e.arguments, "result": str(e.result)})
            spans.append({"span_id": None, "match": ["tool", len([x for x in spans if x["match"][0] == "tool"])],
                          "trace_id": None, "name": e.function, "start": e.timestamp.isoformat(),
                          "end": e.completed.isoformat() if e.completed else None, "status": "error" if err else "ok",
                          "error": err, "declared": ["inspect", "tool"], "raw": e.model_dump(mode="json")})
    return {"spans": spans, "tools": tools_log, "errors": errors}, exchanges


# each format is written by its own run: each payload is compared with the truth of its run
truths = {fmt: truth_of(log) for fmt, log in logs.items()}
if truths["eval"][1] != truths["json"][1]:
    raise SystemExit("the two runs made different model calls: the scripted outputs are not deterministic")
exchanges = truths["json"][1]
payloads = {Path(log.location).name: truths[fmt][0] for fmt, log in logs.items()}
(c.OUT / "exchanges.json").write_text(json.dumps(exchanges, indent=1, sort_keys=True))
first = truths["json"][0]
c.write_truth("inspect_ai", c.versions("inspect_ai"), first["spans"], tools=first["tools"], errors=first["errors"],
              partial_spans=True, payloads=payloads)
