"""Evaluation: evaluators (rule checks, reference metrics, LLM judges), the runner they share,
``evaluate`` into the long results table, ``wide`` back onto spans or traces, and CI gates.

``import llmops_nb.evals`` does not import litellm or Hugging Face ``evaluate``; they load on
first use.

Example:
    >>> import llmops_nb as lo
    >>> from llmops_nb.evals import PII, Refusal
    >>> spans = lo.read_traces([{"trace_id": "t", "span_id": "s", "kind": "llm",
    ...     "output_text": "Mail me at ann@corp.io"}], format="records")
    >>> lo.evaluate(spans, [PII(), Refusal()], cache=False)[["evaluator", "passed"]].values.tolist()
    [['pii', False], ['refusal', True]]
"""

from __future__ import annotations

from llmops_nb.evals._base import (
    EvaluationReason,
    Evaluator,
    FunctionEvaluator,
    JudgeOutput,
    evaluator,
    load_evaluator,
    registered_evaluators,
    row_get,
)
from llmops_nb.evals._gate import GateReport, GateRule, gate
from llmops_nb.evals._judge import (
    AnswerRelevance,
    ContextRelevance,
    Correctness,
    GoalCompletion,
    Groundedness,
    Helpfulness,
    InstructionFollowing,
    JudgeParseError,
    LLMJudge,
    Pairwise,
    ToolCorrectness,
    Toxicity,
    examples_from_labels,
    parse_judge_json,
)
from llmops_nb.evals._metrics import (
    BLEU,
    CHRF,
    EmbeddingSimilarity,
    ExactMatchMetric,
    ReferenceMetric,
    Rouge,
    load_metric,
)
from llmops_nb.evals._retrieval import (
    ClaimFaithfulness,
    RetrievalMetrics,
    hit_rate,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
    retrieved_ids,
)
from llmops_nb.evals._rules import (
    PII,
    Contains,
    Cost,
    ExactMatch,
    IsJSON,
    JSONSchema,
    LanguageMatch,
    Latency,
    Length,
    NotContains,
    PromptInjection,
    Refusal,
    Regex,
    TokenCount,
    ToolCallValid,
)
from llmops_nb.evals._run import aevaluate, evaluate, new_run_id
from llmops_nb.evals._session import (
    ConversationGoalCompletion,
    ConversationRelevance,
    EscalationReached,
    KnowledgeRetention,
    RepeatedUserMessages,
    ToolLoop,
    TurnCount,
    UserFrustration,
    conversation_text,
    near_duplicate,
)
from llmops_nb.evals._trajectory import (
    RedundantToolCalls,
    ToolErrorRate,
    TrajectoryMatch,
    args_match,
    calls_match,
    redundant_calls,
    tool_calls_of,
    tool_precision_recall,
    trajectory_any_order,
    trajectory_exact,
    trajectory_in_order,
)
from llmops_nb.llm import (
    BudgetExhausted,
    CallCache,
    CallResult,
    LLMCall,
    LLMConfigError,
    Runner,
    current_runner,
    run_calls,
    run_sync,
)
from llmops_nb.pii import Match, find_injection, find_pii, iban_ok, luhn_ok, redact
from llmops_nb.results import wide

__all__ = [
    "Evaluator", "EvaluationReason", "JudgeOutput", "FunctionEvaluator", "evaluator", "load_evaluator",
    "registered_evaluators", "row_get",
    "evaluate", "aevaluate", "wide", "new_run_id",
    "gate", "GateReport", "GateRule",
    "Runner", "LLMCall", "CallResult", "CallCache", "BudgetExhausted", "LLMConfigError", "run_calls", "run_sync", "current_runner",
    "Regex", "Contains", "NotContains", "ExactMatch", "IsJSON", "JSONSchema", "Length", "TokenCount",
    "Refusal", "LanguageMatch", "ToolCallValid", "Latency", "Cost", "PII", "PromptInjection",
    "Match", "find_pii", "redact", "find_injection", "luhn_ok", "iban_ok",
    "ReferenceMetric", "ExactMatchMetric", "Rouge", "BLEU", "CHRF", "EmbeddingSimilarity", "load_metric",
    "LLMJudge", "Correctness", "Groundedness", "AnswerRelevance", "ContextRelevance", "Helpfulness",
    "InstructionFollowing", "Toxicity", "ToolCorrectness", "GoalCompletion", "Pairwise",
    "JudgeParseError", "parse_judge_json", "examples_from_labels",
    "TurnCount", "RepeatedUserMessages", "ToolLoop", "EscalationReached", "ConversationGoalCompletion",
    "KnowledgeRetention", "UserFrustration", "ConversationRelevance", "near_duplicate", "conversation_text",
    "TrajectoryMatch", "ToolErrorRate", "RedundantToolCalls", "args_match", "calls_match", "redundant_calls",
    "tool_calls_of", "tool_precision_recall", "trajectory_exact", "trajectory_in_order", "trajectory_any_order",
    "RetrievalMetrics", "ClaimFaithfulness", "hit_rate", "precision_at_k", "recall_at_k", "reciprocal_rank",
    "ndcg_at_k", "retrieved_ids",
]
