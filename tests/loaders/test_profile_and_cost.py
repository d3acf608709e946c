"""The fidelity profile (lo.loaders.profile) and the estimated cost step of read_traces."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import llmops_nb as lo
from llmops_nb.loaders import price_per_token
from llmops_nb.schema import COST_ESTIMATED_KEY

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "real"


def _real(name: str) -> Path:
    p = REAL / name
    if not p.exists():
        pytest.skip(f"{p} is absent")
    return p


def test_estimated_cost_is_flagged_and_never_replaces_a_source_cost():
    cassette = _real("agentops/test_time_travel_story_generation.yaml")  # OpenAI calls: tokens, no cost
    df = lo.read_traces(cassette)
    price = price_per_token("gpt-3.5-turbo-0125")
    assert price is not None
    for r in df.itertuples():
        assert math.isclose(r.cost_usd, r.prompt_tokens * price[0] + r.completion_tokens * price[1])
        assert r.metadata[COST_ESTIMATED_KEY] is True
    # a source's own cost stays, unflagged (LiteLLM logged 0.000225 for a mocked call)
    payload = _real("litellm/standard_logging_payload.json")
    row = lo.read_traces(payload).iloc[0]
    assert row["cost_usd"] == json.loads(payload.read_text())["response_cost"]
    assert not (row["metadata"] or {}).get(COST_ESTIMATED_KEY)
    # a model absent from the price map stays without cost
    mastra = lo.read_traces(_real("mastra/agent-tool-call-trace.json"))
    assert mastra["cost_usd"].isna().all()
    # and the step can be turned off
    assert lo.read_traces(cassette, estimate_cost=False)["cost_usd"].isna().all()


def test_loading_never_imports_litellm():
    code = ("import sys, llmops_nb as lo; "
            f"lo.read_traces({str(_real('agentops/test_anthropic_provider.yaml'))!r}); "
            f"lo.read_traces({str(_real('litellm/standard_logging_payload.json'))!r}); "
            "print('litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"


def test_profile_shares_and_unmapped_keys():
    files = [_real("agentops/test_time_travel_story_generation.yaml"), _real("litellm/standard_logging_payload.json"),
             _real("mastra/agent-tool-call-trace.json"), _real("langwatch/gemini-B.llm_call.json")]
    spans = lo.read_traces(files)
    p = lo.loaders.profile(spans)
    f = p.frame.set_index(["source_format", "producer"])
    assert f["spans"].sum() == len(spans)
    http = f.loc[("http_log", "-")]
    assert http["spans"] == 4 and http["model"] == 1.0 and http["tokens"] == 1.0
    assert http["cost_estimated"] == 1.0 and http["cost_source"] == 0.0
    assert f.loc[("litellm", "-"), "cost_source"] == 1.0
    # the Gemini CLI span keeps its scope as producer
    assert ("langwatch", "gemini-cli") in f.index
    mastra = f.loc[("mastra", "-")]
    assert mastra["spans"] == 8 and mastra["model"] == 1 / 8 and mastra["tool_calls"] == 1 / 8
    # each share is what the frame holds
    sub = spans[spans["source_format"] == "mastra"]
    assert mastra["input_messages"] == sum(1 for v in sub["input_messages"] if v) / len(sub)
    # unmapped keys are the attributes no mapping used, counted per format
    um = p.unmapped.set_index(["source_format", "key"])["count"]
    assert um[("http_log", "response_id")] == 4
    assert um[("mastra", "mastra.type")] == 8
    assert not any(k in {"resource", "input.value", "inputs"} for _, k in um.index)
    text, page = repr(p), p._repr_html_()
    assert "Profile: 14 spans" in text and "unmapped attribute keys" in text
    assert "<table>" in page and "gemini-cli" in page and "response_id" in page


def test_profile_names_what_is_missing():
    with pytest.raises(ValueError, match="lacks columns"):
        lo.loaders.profile(lo.to_traces(lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm"}],
                                                          format="records")))
