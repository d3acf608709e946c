"""Every built-in evaluator passes the same checks: it is registered, rebuilds from its spec,
and evaluates a spans frame into well-formed result rows without error rows."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.evals import (
    BLEU,
    CHRF,
    PII,
    AnswerRelevance,
    ClaimFaithfulness,
    Contains,
    ContextRelevance,
    ConversationGoalCompletion,
    ConversationRelevance,
    Correctness,
    Cost,
    EmbeddingSimilarity,
    EscalationReached,
    ExactMatch,
    ExactMatchMetric,
    GoalCompletion,
    Groundedness,
    Helpfulness,
    InstructionFollowing,
    IsJSON,
    JSONSchema,
    KnowledgeRetention,
    LanguageMatch,
    Latency,
    Length,
    LLMJudge,
    NotContains,
    Pairwise,
    PromptInjection,
    RedundantToolCalls,
    ReferenceMetric,
    Refusal,
    Regex,
    RepeatedUserMessages,
    RetrievalMetrics,
    Rouge,
    TokenCount,
    ToolCallValid,
    ToolCorrectness,
    ToolErrorRate,
    ToolLoop,
    Toxicity,
    TrajectoryMatch,
    TurnCount,
    UserFrustration,
    load_evaluator,
    registered_evaluators,
)
from llmops_nb.evals._base import _REGISTRY
from llmops_nb.schema import RESULTS

PASS = {"mock_response": '{"reasoning": "fine", "answer": "pass"}'}
TOOLS = [{"type": "function", "function": {"name": "lookup", "parameters": {
    "type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]

EXAMPLES = {
    "regex": Regex("order"), "contains": Contains("order"), "not_contains": NotContains("sorry"),
    "exact_match": ExactMatch(), "is_json": IsJSON(), "json_schema": JSONSchema({"type": "object"}),
    "length": Length(max_chars=500), "token_count": TokenCount(max_tokens=100), "refusal": Refusal(),
    "language_match": LanguageMatch(), "tool_call_valid": ToolCallValid(TOOLS), "latency_ms": Latency(max_ms=1000),
    "cost_usd": Cost(max_usd=1.0), "pii": PII(), "prompt_injection": PromptInjection(),
    "rouge": Rouge(), "bleu": BLEU(), "chrf": CHRF(), "exact_match_metric": ExactMatchMetric(),
    "embedding_similarity": EmbeddingSimilarity(), "reference_metric": ReferenceMetric("rouge", key="rouge1"),
    "llm_judge": LLMJudge("Is it polite?", extra=PASS), "correctness": Correctness(extra=PASS),
    "groundedness": Groundedness(extra=PASS), "answer_relevance": AnswerRelevance(extra=PASS),
    "context_relevance": ContextRelevance(extra=PASS),
    "helpfulness": Helpfulness(extra={"mock_response": '{"reasoning": "ok", "answer": 4}'}),
    "instruction_following": InstructionFollowing(extra=PASS),
    "toxicity": Toxicity(extra={"mock_response": '{"reasoning": "ok", "answer": "none"}'}),
    "tool_correctness": ToolCorrectness(extra=PASS), "goal_completion": GoalCompletion(extra=PASS),
    "pairwise": Pairwise("Which is clearer?", extra={"mock_response": '{"reasoning": "same", "answer": "tie"}'}),
    # sessions, agents and retrieval
    "turn_count": TurnCount(), "repeated_user_messages": RepeatedUserMessages(), "tool_loop": ToolLoop(),
    "escalation_reached": EscalationReached(), "conversation_goal_completion": ConversationGoalCompletion(extra=PASS),
    "knowledge_retention": KnowledgeRetention(extra=PASS), "user_frustration": UserFrustration(extra=PASS),
    "conversation_relevance": ConversationRelevance(extra=PASS), "trajectory_match": TrajectoryMatch(),
    "tool_error_rate": ToolErrorRate(), "redundant_tool_calls": RedundantToolCalls(),
    "retrieval_metrics": RetrievalMetrics(k=3),
    "claim_faithfulness": ClaimFaithfulness(extra={"mock_response": '{"reasoning": "ok", "claims": [{"claim": '
                                                   '"ships in 2 days", "supported": true}], "answer": 1.0}'}),
}


def frame():
    recs = [{"trace_id": f"t{i}", "span_id": f"s{i}", "kind": "llm", "name": "chat",
             "input_text": "Where is my order 1234? It was due yesterday morning.",
             "output_text": "Your order 1234 shipped yesterday and arrives on Monday morning.",
             "latency_ms": 120.0 + i, "cost_usd": 0.001,
             "attributes": {"llm.tools": json.dumps(TOOLS)},
             "output_messages": [{"role": "assistant", "content": None,
                                  "tool_calls": [{"id": "c", "name": "lookup", "arguments": '{"order_id": "1234"}'}]}],
             "documents": [{"id": "d1", "content": "Orders ship within 2 days.", "score": 1.0, "metadata": None}],
             "session_id": "sess-1", "start_time": f"2026-01-01T00:0{i}:00Z",
             "metadata": {"expected": [{"name": "lookup", "arguments": {"order_id": "1234"}}], "gold_doc_ids": ["d1"]}}
            for i in range(3)]
    spans = lo.read_traces(recs, format="records")
    return spans.assign(reference=spans["output_text"], output_a=spans["output_text"], output_b="Shipped.")


def test_every_builtin_has_an_example():
    builtin = {n for n, c in _REGISTRY.items() if isinstance(c, type) and c.__module__.startswith("llmops_nb.")}
    assert builtin <= set(EXAMPLES), sorted(builtin - set(EXAMPLES))
    assert set(EXAMPLES) <= set(registered_evaluators())


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_builtin_conforms(name):
    ev = EXAMPLES[name]
    assert ev.registry_name == name and isinstance(ev.version, str) and "Example" in (type(ev).__doc__ or "")
    again = load_evaluator(ev.spec())
    assert type(again) is type(ev) and again.params_hash == ev.params_hash
    res = lo.evaluate(frame(), ev, cache=False, progress=False)
    assert list(res.columns) == RESULTS.names
    assert len(res) >= 1 and res["error"].isna().all(), res["error"].dropna().tolist()
    assert res["value"].map(lambda v: isinstance(v, (bool, int, float, str))).all()
    assert (res["params_hash"] == ev.params_hash).all() and (res["evaluator_version"] == ev.version).all()
    assert res["params"].map(lambda p: p == ev.params()).all()
    assert res["result_id"].is_unique
    if ev.level == "trace":
        assert res["span_id"].isna().all()
    if ev.level == "session":
        assert res["trace_id"].isna().all() and res["session_id"].eq("sess-1").all()
    assert isinstance(pd.DataFrame(res).to_dict("records"), list)
