"""Session-level evaluators: rule checks over a whole conversation (turn count, repeated user
messages, tool loops, escalation) and LLM judges of the conversation (goal completion,
knowledge retention, user frustration, relevance).

They have ``level = "session"``: :func:`llmops_nb.evaluate` gives them one row of the sessions
table per conversation (turns in order in ``user_inputs`` / ``assistant_outputs``, every tool
call in ``tool_calls``, and the spans of all turns in ``row["spans"]``); their results carry
``session_id``. The rule checks also check a whole sessions frame at once (``evaluate_batch``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import pandas as pd

from llmops_nb.evals._base import EvaluationReason, Evaluator
from llmops_nb.evals._judge import _MAX_FIELD, LLMJudge, _clip
from llmops_nb.evals._trajectory import call_key, tool_calls_of
from llmops_nb.schema import is_missing

__all__ = [
    "TurnCount",
    "RepeatedUserMessages",
    "ToolLoop",
    "EscalationReached",
    "ConversationGoalCompletion",
    "KnowledgeRetention",
    "UserFrustration",
    "ConversationRelevance",
    "near_duplicate",
    "conversation_text",
]

_WORD = re.compile(r"\w+", re.UNICODE)


def _shingles(text: str, n: int = 2) -> set[str]:
    w = _WORD.findall(text.lower())
    if len(w) < n:
        return set(w)
    return {" ".join(w[i:i + n]) for i in range(len(w) - n + 1)}


def near_duplicate(a: str | None, b: str | None) -> float:
    """Similarity of two messages: Jaccard similarity of their word bigrams (case-folded), 0-1.

    Example:
        >>> near_duplicate("Where is my order ORD-1?", "where is my order ORD-1")
        1.0
        >>> near_duplicate("Where is my order?", "How do I reset my password?")
        0.0
    """
    if not a or not b:
        return 0.0
    sa, sb = _shingles(a), _shingles(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


def _list(v: Any) -> list[Any]:
    if is_missing(v):
        return []
    return list(v)


def _rows_of(frame: pd.DataFrame, cols: Sequence[str]) -> list[tuple[Any, ...]]:
    return list(zip(*[frame[c].tolist() if c in frame.columns else [None] * len(frame) for c in cols]))


@dataclass(repr=False)
class TurnCount(Evaluator):
    """The number of turns; passes between ``min_turns`` and ``max_turns`` (long
    conversations often mean the assistant did not resolve the request).

    Example:
        >>> TurnCount(max_turns=3).evaluate({"n_turns": 5}), TurnCount(max_turns=3).passed_of(5)
        (5, False)
    """

    level: ClassVar[Literal["span", "trace", "session"]] = "session"
    max_turns: int = 6
    min_turns: int = 1
    name: str | None = None

    def evaluate(self, row: dict[str, Any]) -> Any:
        n = row.get("n_turns")
        return int(n) if n is not None and n == n else len(_list(row.get("trace_ids")))

    def evaluate_batch(self, frame: pd.DataFrame) -> list[Any]:
        return frame["n_turns"].astype("float64").tolist()

    def passed_of(self, value: Any) -> bool | None:
        return None if value is None else self.min_turns <= float(value) <= self.max_turns


@dataclass(repr=False)
class RepeatedUserMessages(Evaluator):
    """Detects a user message that nearly repeats an earlier one in the same conversation
    (word-bigram Jaccard similarity at or above ``similarity``): the user asking again, usually
    because the answer ignored them. True = found (fails).

    Example:
        >>> RepeatedUserMessages().evaluate({"user_inputs": ["Where is order ORD-1?", "Thanks",
        ...     "I asked: where is order ORD-1?"]}).value
        True
    """

    level: ClassVar[Literal["span", "trace", "session"]] = "session"
    detector: ClassVar[bool] = True
    similarity: float = 0.6
    name: str | None = None

    def _check(self, msgs: list[Any]) -> EvaluationReason:
        sh = [_shingles(str(m)) if m else set() for m in msgs]
        for j in range(1, len(sh)):
            for i in range(j):
                a, b = sh[i], sh[j]
                if a and b:
                    sim = len(a & b) / len(a | b)
                    if sim >= self.similarity:
                        return EvaluationReason(True, f"turn {j + 1} repeats turn {i + 1} (similarity {sim:.2f})")
        return EvaluationReason(False, None)

    def evaluate(self, row: dict[str, Any]) -> Any:
        return self._check(_list(row.get("user_inputs")))

    def evaluate_batch(self, frame: pd.DataFrame) -> list[Any]:
        out: list[Any] = []
        for msgs in frame["user_inputs"].tolist():
            m = _list(msgs)
            out.append(self._check(m) if len(m) > 1 else False)
        return out


@dataclass(repr=False)
class ToolLoop(Evaluator):
    """Detects a loop: the same tool called with the same arguments ``max_repeats`` times or
    more in one conversation (two tools alternating with the same arguments count too).
    True = loop found (fails).

    Example:
        >>> calls = [{"name": "lookup", "arguments": '{"id": 1}'}, {"name": "track", "arguments": '{"id": 1}'}] * 3
        >>> ToolLoop().evaluate({"tool_calls": calls}).reason
        'lookup({"id": 1}) called 3 times'
    """

    level: ClassVar[Literal["span", "trace", "session"]] = "session"
    detector: ClassVar[bool] = True
    max_repeats: int = 3
    name: str | None = None

    def _check(self, calls: list[Any]) -> Any:
        counts: dict[str, int] = {}
        for c in calls:
            if isinstance(c, Mapping):
                k = call_key(c)
                counts[k] = counts.get(k, 0) + 1
        worst = max(counts.items(), key=lambda kv: kv[1]) if counts else None
        if worst is not None and worst[1] >= self.max_repeats:
            return EvaluationReason(True, f"{worst[0]} called {worst[1]} times")
        return False

    def evaluate(self, row: dict[str, Any]) -> Any:
        calls = row.get("tool_calls")
        if calls is None and row.get("spans") is not None:
            calls = tool_calls_of({"spans": row["spans"]})
        return self._check(_list(calls))

    def evaluate_batch(self, frame: pd.DataFrame) -> list[Any]:
        return [self._check(_list(c)) if c is not None and len(c) >= self.max_repeats else False
                for c in frame["tool_calls"].tolist()]


@dataclass(repr=False)
class EscalationReached(Evaluator):
    """Whether the conversation reached a human: a call to one of ``tools`` or an assistant
    answer with one of ``phrases``. Counted as a failure of the assistant (``passed`` is False
    when escalated), so its pass rate is the share of conversations the assistant handled alone.

    Example:
        >>> EscalationReached().evaluate({"tool_calls": [{"name": "escalate_to_human"}]}).value
        True
    """

    level: ClassVar[Literal["span", "trace", "session"]] = "session"
    detector: ClassVar[bool] = True
    tools: list[str] = field(default_factory=lambda: ["escalate_to_human", "transfer_to_human_agents"])
    phrases: list[str] = field(default_factory=lambda: ["human agent", "transfer you", "escalat"])
    name: str | None = None

    def _check(self, calls: Any, outputs: Any) -> Any:
        tools = set(self.tools)
        for c in _list(calls):
            if isinstance(c, Mapping) and c.get("name") in tools:
                return EvaluationReason(True, f"{c.get('name')} called (turn {c.get('turn', '?')})")
        low = [p.lower() for p in self.phrases]
        for j, o in enumerate(_list(outputs), 1):
            t = str(o or "").lower()
            hit = next((p for p in low if p in t), None)
            if hit:
                return EvaluationReason(True, f"turn {j} answer mentions {hit!r}")
        return False

    def evaluate(self, row: dict[str, Any]) -> Any:
        return self._check(row.get("tool_calls"), row.get("assistant_outputs"))

    def evaluate_batch(self, frame: pd.DataFrame) -> list[Any]:
        return [self._check(c, o) for c, o in _rows_of(frame, ("tool_calls", "assistant_outputs"))]


# --------------------------------------------------------------------------- judges

def conversation_text(row: Mapping[str, Any], limit: int = 1500) -> str:
    """The conversation of a sessions row as the judges read it: each turn's user message, the
    tools called in it and the assistant's answer.

    Example:
        >>> print(conversation_text({"user_inputs": ["Where is ORD-1?"], "assistant_outputs": ["Shipped."],
        ...     "tool_calls": [{"turn": 1, "name": "lookup_order", "arguments": '{"order_id": "ORD-1"}'}]}))
        <turn 1>
        user: Where is ORD-1?
        tools: lookup_order({"order_id": "ORD-1"})
        assistant: Shipped.
        </turn 1>
    """
    ins, outs = _list(row.get("user_inputs")), _list(row.get("assistant_outputs"))
    calls: dict[int, list[str]] = {}
    for c in _list(row.get("tool_calls")):
        if isinstance(c, Mapping):
            calls.setdefault(int(c.get("turn") or 0), []).append(f"{c.get('name')}({c.get('arguments') or ''})")
    parts = []
    for j in range(max(len(ins), len(outs))):
        q = ins[j] if j < len(ins) else None
        a = outs[j] if j < len(outs) else None
        lines = [f"<turn {j + 1}>", f"user: {_clip(q, limit)}"]
        if calls.get(j + 1):
            lines.append("tools: " + "; ".join(calls[j + 1]))
        lines.append(f"assistant: {_clip(a, limit)}")
        lines.append(f"</turn {j + 1}>")
        parts.append("\n".join(lines))
    return "\n".join(parts)


@dataclass(repr=False)
class _ConversationJudge(LLMJudge):
    """A judge of a whole conversation (a sessions row)."""

    level: ClassVar[Literal["span", "trace", "session"]] = "session"  # type: ignore[misc]
    uses: ClassVar[tuple[str, ...]] = ("conversation",)

    def _sections(self, row: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [("conversation", _clip(conversation_text(row), 4 * _MAX_FIELD))]


@dataclass(repr=False)
class ConversationGoalCompletion(_ConversationJudge):
    """Did the conversation accomplish what the user came for, by its end?

    Example:
        >>> "<conversation>" in ConversationGoalCompletion().messages({"user_inputs": ["hi"],
        ...     "assistant_outputs": ["hello"]})[1]["content"]
        True
    """

    criterion: ClassVar[str] = "conversation goal completion"
    question: ClassVar[str] = ("Read the whole conversation. By its last turn, did the assistant accomplish what the "
                               "user wanted (their requests resolved, with correct actions and no loops), without the "
                               "user having to give up or repeat themselves?")


@dataclass(repr=False)
class KnowledgeRetention(_ConversationJudge):
    """Does the assistant use facts the user gave in earlier turns (order ids, names,
    preferences) instead of asking for them again or contradicting them?

    Example:
        >>> KnowledgeRetention().criterion
        'knowledge retention'
    """

    criterion: ClassVar[str] = "knowledge retention"
    question: ClassVar[str] = ("Does the assistant remember and use the facts the user gave in earlier turns (order "
                               "numbers, names, dates, preferences)? It fails when it asks again for something "
                               "already given, or contradicts it.")


@dataclass(repr=False)
class UserFrustration(_ConversationJudge):
    """Is the user free of frustration that rises across the turns? Passes when the user stays
    calm or satisfied; fails when irritation grows (complaints, repeated demands, capitals,
    threats to leave).

    Example:
        >>> UserFrustration().criterion
        'user frustration'
    """

    criterion: ClassVar[str] = "user frustration"
    question: ClassVar[str] = ("Follow the user's tone across the turns. Answer pass when the user stays calm or "
                               "satisfied, fail when their frustration rises (growing complaints, repeated demands, "
                               "anger, threats to cancel or leave).")


@dataclass(repr=False)
class ConversationRelevance(_ConversationJudge):
    """Does every assistant answer address the user's latest message, in the context of the
    conversation?

    Example:
        >>> ConversationRelevance().criterion
        'conversation relevance'
    """

    criterion: ClassVar[str] = "conversation relevance"
    question: ClassVar[str] = ("Does every assistant answer address what the user said in that turn, in the context "
                               "of the conversation so far? It fails when an answer ignores the user's message or "
                               "answers something else.")

