"""Every file in ../shared/fixtures/real (trace files from public projects) loads with the counts
that EXPECTED.json states for it (read by hand from each file): spans, LLM calls, traces, models,
tokens, cost, errors, tool calls. The files are read in place, never copied."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import llmops_nb as lo

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures"  # read in place, never copied

REAL = FIXTURES / "real"


def _real_dir() -> Path:
    if not REAL.exists():
        pytest.skip(f"shared fixture folder {REAL} is absent")
    return REAL


_NOT_TRACES = {"EXPECTED.json", "SOURCES.md", "LICENSE"}


def _real_files() -> list[str]:
    if not REAL.exists():
        return []
    return sorted(str(p.relative_to(REAL)) for p in REAL.rglob("*")
                  if p.is_file() and p.name not in _NOT_TRACES and not p.name.startswith("LICENSE"))


def _expected() -> dict:
    return json.loads((_real_dir() / "EXPECTED.json").read_text())


def test_every_real_file_has_an_expectation():
    names = _real_files()
    if not names:
        pytest.skip(f"{REAL} is absent")
    exp = _expected()
    assert set(names) == {k for k in exp if not k.startswith("_")}


def _n_spans(df: pd.DataFrame, unit: str | None) -> int:
    if unit == "span_begin events":  # Inspect: its own spans, beside the model / tool events and the sample root
        return int(sum(1 for m in df["metadata"] if isinstance(m, dict) and m.get("inspect.event") == "span_begin"))
    return len(df)


def _sum(s: pd.Series) -> int | None:
    return None if s.isna().all() else int(s.sum())


def _tokens(frame: pd.DataFrame) -> dict:
    return {"prompt": _sum(frame["prompt_tokens"]), "completion": _sum(frame["completion_tokens"]),
            "total": _sum(frame["total_tokens"]),
            "cost_usd": None if frame["cost_usd"].isna().all() else float(frame["cost_usd"].sum())}


def _check_tokens(got: dict, want: dict, where: str) -> None:
    completion = want.get("completion")
    if completion is not None and want.get("thoughts"):
        # Gemini counts thoughts apart from candidates; the spans table counts output tokens with
        # reasoning included (schema: completion_tokens), so the two add up
        completion += want["thoughts"]
    for key, value in (("prompt", want.get("prompt")), ("completion", completion), ("total", want.get("total"))):
        if value is not None:
            assert got[key] == value, f"{where}: {key} tokens {got[key]} != {value}"
    if want.get("cost_usd") is not None:
        assert got["cost_usd"] is not None and math.isclose(got["cost_usd"], want["cost_usd"], rel_tol=1e-9, abs_tol=1e-12), \
            f"{where}: cost {got['cost_usd']} != {want['cost_usd']}"


@pytest.mark.parametrize("name", _real_files() or ["<absent>"])
def test_real_file_matches_expected(name):
    exp = _expected()
    e = exp[name]
    df = lo.read_traces(_real_dir() / name)
    assert len(df) > 0
    llm = df[df["kind"] == "llm"]
    if isinstance(e.get("spans"), int):
        assert _n_spans(df, e.get("span_unit")) == e["spans"]
    if isinstance(e.get("llm_calls"), int):
        assert len(llm) == e["llm_calls"]
    if isinstance(e.get("traces"), int):
        assert df["trace_id"].nunique() == e["traces"]
    models = set(df["model"].dropna())
    # a dated snapshot the response names ("o4-mini-2025-04-16") counts as the alias EXPECTED read from the request
    assert all(any(m == x or m.startswith(f"{x}-20") for x in e["models"]) for m in models), \
        f"models read {models} not in {e['models']}"
    if e["models"]:
        assert models, f"no model read; the file names {e['models']}"
    if isinstance(e.get("error_spans"), int):
        assert int((df["status"] == "error").sum()) == e["error_spans"]
    if isinstance(e.get("tool_calls"), int):
        assert int((df["kind"] == "tool").sum()) == e["tool_calls"]
    roots = df[df["parent_span_id"].isna()]
    tokens = e.get("tokens")
    if isinstance(tokens, dict):
        if "tokens_sum_of_step_metrics" in e:
            # the run's own totals on the root, the steps' own usage on the llm spans
            _check_tokens(_tokens(roots), tokens, "root")
            _check_tokens(_tokens(llm), e["tokens_sum_of_step_metrics"], "llm spans")
        elif llm[["prompt_tokens", "completion_tokens"]].notna().any().any():
            _check_tokens(_tokens(llm), tokens, "llm spans")
        else:  # the file reports totals for the whole run only: they sit on the root
            _check_tokens(_tokens(roots), tokens, "root")
    elif tokens is None:
        assert llm["prompt_tokens"].isna().all() and llm["completion_tokens"].isna().all(), "tokens invented"


def _load(name: str) -> pd.DataFrame:
    return lo.read_traces(_real_dir() / name)


def test_messages_and_tool_calls_survive_in_real_files():
    # Gemini parts: function_call / function_response (snake case, ADK) are tool calls and results; role model
    adk = _load("google-adk/flow_complex_spark.sample.session.json")
    first = adk[adk["kind"] == "llm"].iloc[0]
    call = first["output_messages"][0]["tool_calls"][0]
    assert first["output_messages"][0]["role"] == "assistant"
    assert (call["name"], json.loads(call["arguments"])) == ("transfer_to_other_agent", {"agent_name": "research_assistant"})
    tools = adk[adk["kind"] == "tool"]
    # each call gets the response that follows it (no call ids in this session: matched in order)
    assert [json.loads(r)["target_agent_name"] for r in tools["tool_result"]] == ["research_assistant", "spark_assistant"]
    # camelCase parts in a recorded Vertex request: the function call and the two responses as tool messages
    vertex = _load("otel-genai-cassettes/vertexai-test_tool_events.yaml").iloc[0]
    roles = [m["role"] for m in vertex["input_messages"]]
    assert roles == ["user", "assistant", "tool", "tool"]
    assert [c["name"] for c in vertex["input_messages"][1]["tool_calls"]] == ["get_current_weather"] * 2
    assert vertex["output_text"].startswith("The current temperature in New Delhi is 35")
    # a LangChain AIMessageChunk output inside a Langfuse export (Gemini through LangChain)
    lf = _load("langfuse-seeder/google-vertex-tools-langchain-2025-09-19.json").iloc[0]
    assert lf["output_text"] == "Thank you, John Smith. Which of our services are you interested in?"
    # streamed Anthropic tool calls are reassembled from input_json_delta events
    stream = _load("openinference-recordings/anthropic-multiple-tool-calling-streaming.yaml").iloc[0]
    calls = stream["output_messages"][0]["tool_calls"]
    assert [(c["name"], json.loads(c["arguments"])) for c in calls] == [
        ("get_weather", {"location": "New York, NY"}), ("get_time", {"timezone": "America/New_York"})]
    # the Claude Agent SDK subagent's call sits under the Task tool span that started it
    sdk = _load("openinference-recordings/claude-agent-sdk-task-subagent.yaml").set_index("span_id")
    sub = sdk[sdk["metadata"].map(lambda m: bool(m and m.get("subagent_of_tool_call")))]
    assert len(sub) == 1 and sdk.loc[sub["parent_span_id"].iloc[0], "tool_name"] == "Agent"
    # OpenHands: a tool span per action, with the observation's content as result
    oh = _load("openhands/basic.json")
    edit = oh[(oh["kind"] == "tool") & (oh["tool_name"] == "str_replace_editor")].iloc[0]
    assert "game_2048.py" in edit["tool_result"]


def test_brotli_bodies(monkeypatch):
    name = "openinference-recordings/agno-agent-run-reasoning.yaml"
    pytest.importorskip("brotli")
    row = _load(name).iloc[0]  # the Responses API body is brotli-compressed (!!binary)
    assert (row["model"], row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == ("o4-mini-2025-04-16", 36, 504, 540)
    assert row["attributes"]["usage.output_tokens_details.reasoning_tokens"] == 448
    assert "strawberry" in row["output_text"]
    # without brotli the call is still read from its request, and says why its body is not
    monkeypatch.setitem(__import__("sys").modules, "brotli", None)
    row = _load(name).iloc[0]
    assert row["model"] == "o4-mini" and pd.isna(row["prompt_tokens"])
    assert "llmops-nb[recordings]" in row["attributes"]["llmops.body_undecoded"]


def test_claude_code_transcript_jsonl(tmp_path):
    """A Claude Code transcript (one message per line, no result message): each assistant message
    id is one call with its own usage; tool results close their tool spans."""
    lines = [
        {"parentUuid": None, "sessionId": "7f1c", "version": "1.0.51", "type": "user", "uuid": "u1",
         "message": {"role": "user", "content": "List the files"}, "timestamp": "2025-07-10T10:00:00.000Z"},
        {"parentUuid": "u1", "sessionId": "7f1c", "type": "assistant", "uuid": "a1", "timestamp": "2025-07-10T10:00:02.000Z",
         "message": {"id": "msg_1", "role": "assistant", "model": "claude-sonnet-4-20250514", "content": [
             {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}],
             "usage": {"input_tokens": 12, "cache_read_input_tokens": 1000, "output_tokens": 30}}},
        {"parentUuid": "a1", "sessionId": "7f1c", "type": "user", "uuid": "u2", "timestamp": "2025-07-10T10:00:03.000Z",
         "message": {"role": "user", "content": [{"tool_use_id": "toolu_1", "type": "tool_result", "content": "README.md\nsrc"}]}},
        {"parentUuid": "u2", "sessionId": "7f1c", "type": "assistant", "uuid": "a2", "timestamp": "2025-07-10T10:00:04.000Z",
         "message": {"id": "msg_2", "role": "assistant", "model": "claude-sonnet-4-20250514", "content": [
             {"type": "text", "text": "Two entries: README.md and src."}], "usage": {"input_tokens": 40, "output_tokens": 9}}},
    ]
    p = tmp_path / "7f1c.jsonl"
    p.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    df = lo.read_traces(p)
    assert set(df["source_format"]) == {"claude_agent_sdk"} and df["trace_id"].nunique() == 1
    llm = df[df["kind"] == "llm"]
    assert llm["prompt_tokens"].tolist() == [12, 40] and llm["completion_tokens"].tolist() == [30, 9]
    tool = df[df["kind"] == "tool"].iloc[0]
    assert (tool["tool_name"], tool["tool_result"]) == ("Bash", "README.md\nsrc")
    root = df[df["parent_span_id"].isna()].iloc[0]
    assert (root["session_id"], root["input_text"], root["output_text"]) == ("7f1c", "List the files", "Two entries: README.md and src.")


def test_older_inspect_logs_with_transcript_events():
    """Inspect logs before events moved to sample.events kept them under sample.transcript.events."""
    import zipfile

    with zipfile.ZipFile(_real_dir() / "inspect-ai/log_message_deduplication.eval") as z:
        header = json.loads(z.read("header.json"))
        sample = json.loads(z.read("samples/0_epoch_1.json"))
    new = lo.read_traces([{**header, "samples": [sample]}], format="inspect")
    old_sample = {k: v for k, v in sample.items() if k != "events"} | {"transcript": {"events": sample["events"]}}
    old = lo.read_traces([{**header, "samples": [old_sample]}], format="inspect")
    assert len(old) == len(new) == 23 and (old["kind"] == "llm").sum() == 6
    pd.testing.assert_frame_equal(old.drop(columns=["attributes", "metadata"]), new.drop(columns=["attributes", "metadata"]))


def test_google_adk_camel_case_session():
    """ADK's API server writes sessions in camelCase (appName, invocationId, usageMetadata, functionCall)."""
    doc = {"id": "s1", "appName": "weather", "userId": "u1", "state": {}, "events": [
        {"invocationId": "e-1", "author": "user", "id": "ev1", "timestamp": 1733043686.0,
         "content": {"role": "user", "parts": [{"text": "Weather in Paris?"}]}},
        {"invocationId": "e-1", "author": "weather_agent", "id": "ev2", "timestamp": 1733043687.0,
         "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 5, "totalTokenCount": 55},
         "content": {"role": "model", "parts": [{"functionCall": {"id": "adk-1", "name": "get_weather", "args": {"city": "Paris"}}}]}},
        {"invocationId": "e-1", "author": "weather_agent", "id": "ev3", "timestamp": 1733043688.0,
         "content": {"role": "user", "parts": [{"functionResponse": {"id": "adk-1", "name": "get_weather",
                                                                     "response": {"result": "sunny"}}}]}},
        {"invocationId": "e-1", "author": "weather_agent", "id": "ev4", "timestamp": 1733043689.0,
         "usageMetadata": {"promptTokenCount": 70, "candidatesTokenCount": 6, "totalTokenCount": 76},
         "content": {"role": "model", "parts": [{"text": "It is sunny in Paris."}]}}]}
    df = lo.read_traces([doc])
    assert set(df["source_format"]) == {"google_adk"}
    llm = df[df["kind"] == "llm"]
    assert llm["prompt_tokens"].tolist() == [50, 70] and llm["total_tokens"].tolist() == [55, 76]
    assert llm.iloc[0]["output_messages"][0]["tool_calls"][0]["name"] == "get_weather"
    tool = df[df["kind"] == "tool"].iloc[0]
    assert json.loads(tool["tool_result"]) == {"result": "sunny"}
    root = df[df["parent_span_id"].isna()].iloc[0]
    assert (root["name"], root["user_id"], root["output_text"]) == ("weather", "u1", "It is sunny in Paris.")


def _zip_zstd(path: Path, members: dict[str, bytes]) -> None:
    """A zip whose members are zstd-compressed (method 93), as newer Inspect versions write .eval logs."""
    import struct
    import zlib

    zstandard = pytest.importorskip("zstandard")
    out, central = bytearray(), bytearray()
    for name, data in members.items():
        comp, crc, nb = zstandard.ZstdCompressor().compress(data), zlib.crc32(data), name.encode()
        off = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 63, 0, 93, 0, 0x21, crc, len(comp), len(data), len(nb), 0) + nb + comp
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 63, 63, 0, 93, 0, 0x21, crc, len(comp), len(data),
                               len(nb), 0, 0, 0, 0, 0, off) + nb
    cd = len(out)
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), cd, 0)
    path.write_bytes(bytes(out))


def test_inspect_eval_with_zstd_members_and_an_events_data_pool(tmp_path):
    import zipfile

    with zipfile.ZipFile(_real_dir() / "inspect-ai/log_message_deduplication.eval") as z:
        header = z.read("header.json")
        sample = json.loads(z.read("samples/0_epoch_1.json"))
    # newer Inspect keeps the message pool under events_data.messages
    sample["events_data"] = {"messages": sample.pop("message_pool")}
    p = tmp_path / "zstd.eval"
    _zip_zstd(p, {"header.json": header, "samples/0_epoch_1.json": json.dumps(sample).encode()})
    df = lo.read_traces(p)
    llm = df[df["kind"] == "llm"]
    assert len(llm) == 6 and all(llm["input_messages"].map(bool))  # inputs resolved from the pool
    assert llm.iloc[0]["input_messages"][0]["content"] == "Guess the number"
