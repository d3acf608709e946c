"""Shared helpers for the judge tests: a fake judge server and a small spans frame."""

from __future__ import annotations

import json

import pandas as pd

FAKE_MODEL = "openai/llmops-test-judge"
IN_PRICE = 2e-6
OUT_PRICE = 8e-6


def register_price() -> None:
    import litellm

    litellm.register_model({FAKE_MODEL: {"input_cost_per_token": IN_PRICE, "output_cost_per_token": OUT_PRICE,
                                         "litellm_provider": "openai", "mode": "chat", "max_tokens": 4096}})


def responder(req: dict) -> str:
    """Pass when the output mentions 'ok', else fail; the verdict depends only on the prompt."""
    text = req["messages"][-1]["content"]
    out = text.split("<output>")[-1] if "<output>" in text else text
    verdict = "pass" if "ok" in out.lower() else "fail"
    return json.dumps({"reasoning": f"checked ({len(text)} chars)", "answer": verdict})


def spans_frame(n: int) -> pd.DataFrame:
    from llmops_nb.loaders import read_traces

    recs = [{"trace_id": f"t{i:04d}", "span_id": f"s{i:04d}", "kind": "llm", "input_text": f"question {i}?",
             "output_text": f"answer {i} {'ok' if i % 3 else 'wrong'}", "latency_ms": float(100 + i)} for i in range(n)]
    return read_traces(recs, format="records")
