"""Deterministic agent trajectory metrics: the tool calls a trace (or session) made against an
expected trajectory, with no judge.

A call is ``{"name": ..., "arguments": ...}`` (arguments a dict or JSON text). Matching modes
follow the usual definitions (as in LangChain's agentevals): ``exact`` (same calls, same order,
nothing extra), ``in_order`` (the expected calls appear in that order, extra calls allowed),
``any_order`` (every expected call appears, any order, extra calls allowed). Arguments match
``exact`` (equal JSON), ``subset`` (the expected arguments are a JSON subset of the actual
ones) or ``ignore`` (names only). Precision and recall count calls matched one-to-one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from llmops_nb.evals._base import EvaluationReason, Evaluator, row_get

__all__ = [
    "ToolCall",
    "tool_calls_of",
    "args_match",
    "calls_match",
    "trajectory_exact",
    "trajectory_in_order",
    "trajectory_any_order",
    "tool_precision_recall",
    "redundant_calls",
    "call_key",
    "TrajectoryMatch",
    "ToolErrorRate",
    "RedundantToolCalls",
]

ArgsMode = Literal["exact", "subset", "ignore"]
_ARGS_MODES = ("exact", "subset", "ignore")
ToolCall = Mapping[str, Any]
"""One tool call: ``{"name": str, "arguments": dict | JSON text | None}`` (``kwargs`` is read too)."""


def _args(call: ToolCall) -> Any:
    a = call.get("arguments", call.get("kwargs", call.get("args")))
    if isinstance(a, (bytes, str)):
        try:
            return json.loads(a)
        except ValueError:
            return a
    return {} if a is None else a


def _name(call: ToolCall | str) -> str | None:
    if isinstance(call, str):
        return call
    return call.get("name") or call.get("tool_name") or call.get("tool")


def _subset(exp: Any, act: Any) -> bool:
    if isinstance(exp, Mapping):
        return isinstance(act, Mapping) and all(k in act and _subset(v, act[k]) for k, v in exp.items())
    if isinstance(exp, list):
        return isinstance(act, list) and len(exp) == len(act) and all(_subset(e, a) for e, a in zip(exp, act))
    if isinstance(exp, (int, float)) and isinstance(act, (int, float)) and not isinstance(exp, bool):
        return float(exp) == float(act)
    return bool(exp == act)


def args_match(expected: Any, actual: Any, mode: ArgsMode = "exact") -> bool:
    """Whether tool arguments match: ``exact`` (equal JSON values, numbers compared as numbers),
    ``subset`` (every expected key, recursively, with an equal value) or ``ignore``.

    Example:
        >>> args_match({"id": "A1"}, '{"id": "A1", "verbose": true}', "subset")
        True
        >>> args_match({"id": "A1"}, '{"id": "A1", "verbose": true}', "exact")
        False
    """
    if mode not in _ARGS_MODES:
        raise ValueError(f"args mode {mode!r} is not valid; valid: {list(_ARGS_MODES)}")
    if mode == "ignore":
        return True
    e = _args({"arguments": expected}) if not isinstance(expected, Mapping) or "arguments" not in expected else _args(expected)
    a = _args({"arguments": actual}) if not isinstance(actual, Mapping) or "arguments" not in actual else _args(actual)
    if mode == "subset":
        return _subset(e, a)
    return _subset(e, a) and _subset(a, e)


def calls_match(expected: ToolCall | str, actual: ToolCall | str, args: ArgsMode = "exact") -> bool:
    """Whether one actual call matches one expected call (same name, arguments per ``args``;
    an expected call given as a bare name matches on the name only).

    Example:
        >>> calls_match({"name": "lookup", "arguments": {"id": 1}}, {"name": "lookup", "arguments": '{"id": 1}'})
        True
    """
    if _name(expected) != _name(actual):
        return False
    if isinstance(expected, str) or args == "ignore":
        return True
    return args_match(_args(expected), _args(actual) if not isinstance(actual, str) else {}, args)


def trajectory_exact(actual: Sequence[ToolCall], expected: Sequence[ToolCall], args: ArgsMode = "exact") -> bool:
    """The same calls in the same order, nothing extra.

    Example:
        >>> trajectory_exact([{"name": "a"}, {"name": "b"}], [{"name": "a"}, {"name": "b"}])
        True
        >>> trajectory_exact([{"name": "b"}, {"name": "a"}], [{"name": "a"}, {"name": "b"}])
        False
    """
    return len(actual) == len(expected) and all(calls_match(e, a, args) for e, a in zip(expected, actual))


def trajectory_in_order(actual: Sequence[ToolCall], expected: Sequence[ToolCall], args: ArgsMode = "exact") -> bool:
    """The expected calls appear in this order (a subsequence of the actual calls; extra calls
    between them are allowed).

    Example:
        >>> trajectory_in_order([{"name": "a"}, {"name": "x"}, {"name": "b"}], [{"name": "a"}, {"name": "b"}])
        True
        >>> trajectory_in_order([{"name": "b"}, {"name": "a"}], [{"name": "a"}, {"name": "b"}])
        False
    """
    i = 0
    for a in actual:
        if i < len(expected) and calls_match(expected[i], a, args):
            i += 1
    return i == len(expected)


def _matching(actual: Sequence[ToolCall], expected: Sequence[ToolCall], args: ArgsMode) -> int:
    """The largest number of one-to-one (expected, actual) matches (bipartite matching)."""
    adj = [[j for j, a in enumerate(actual) if calls_match(e, a, args)] for e in expected]
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in adj[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    return sum(augment(i, set()) for i in range(len(expected)))


def trajectory_any_order(actual: Sequence[ToolCall], expected: Sequence[ToolCall], args: ArgsMode = "exact") -> bool:
    """Every expected call has its own matching actual call, in any order (extra calls allowed).

    Example:
        >>> trajectory_any_order([{"name": "b"}, {"name": "a"}, {"name": "c"}], [{"name": "a"}, {"name": "b"}])
        True
        >>> trajectory_any_order([{"name": "a"}], [{"name": "a"}, {"name": "a"}])
        False
    """
    return _matching(actual, expected, args) == len(expected)


def tool_precision_recall(actual: Sequence[ToolCall], expected: Sequence[ToolCall],
                          args: ArgsMode = "exact") -> tuple[float | None, float | None]:
    """(precision, recall) of the tool calls: one-to-one matches over the actual calls, and
    over the expected calls (None when there are none to divide by).

    Example:
        >>> tool_precision_recall([{"name": "a"}, {"name": "x"}], [{"name": "a"}, {"name": "b"}, {"name": "c"}])
        (0.5, 0.3333333333333333)
    """
    m = _matching(actual, expected, args)
    return (m / len(actual) if actual else None), (m / len(expected) if expected else None)


def call_key(call: ToolCall) -> str:
    """A call as ``name(arguments)`` with the arguments as sorted JSON: equal for the same call.

    Example:
        >>> call_key({"name": "a", "arguments": '{"y": 2, "x": 1}'})
        'a({"x": 1, "y": 2})'
    """
    return f"{_name(call)}({json.dumps(_args(call), sort_keys=True, default=str)})"


def redundant_calls(actual: Sequence[ToolCall]) -> int:
    """Calls that repeat an earlier call with the same name and the same arguments.

    Example:
        >>> redundant_calls([{"name": "a", "arguments": {"x": 1}}, {"name": "a", "arguments": '{"x": 1}'},
        ...                  {"name": "a", "arguments": {"x": 2}}])
        1
    """
    seen: set[str] = set()
    n = 0
    for c in actual:
        key = call_key(c)
        if key in seen:
            n += 1
        seen.add(key)
    return n


def tool_calls_of(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The tool calls of a row in call order: from a sessions row's ``tool_calls``, a trace row's
    ``spans`` (tool spans by start time, else in row order; without tool spans, the tool calls
    in the llm spans' output messages), or a tool span itself.

    Example:
        >>> tool_calls_of({"tool_calls": [{"turn": 1, "name": "a", "arguments": "{}", "status": "ok"}]})[0]["name"]
        'a'
    """
    tc = row.get("tool_calls")
    if isinstance(tc, list):
        return [dict(c) for c in tc]
    spans = row.get("spans")
    if spans is not None and len(spans):
        import numpy as np

        t = spans[spans["kind"].to_numpy() == "tool"]
        if len(t):
            if "start_time" in t.columns and t["start_time"].notna().any():
                t = t.assign(_o=np.arange(len(t))).sort_values(["start_time", "_o"], kind="stable", na_position="last")
            return [{"name": n, "arguments": a, "status": s}
                    for n, a, s in zip(t["tool_name"].tolist(), t["tool_arguments"].tolist(), t["status"].tolist())]
        # no tool spans: the calls the model asked for (status unknown)
        llm = spans[spans["kind"].to_numpy() == "llm"]
        if "start_time" in llm.columns and llm["start_time"].notna().any():
            llm = llm.sort_values("start_time", kind="stable")
        return [{"name": c.get("name"), "arguments": c.get("arguments"), "status": None}
                for msgs in llm["output_messages"].tolist() if msgs is not None
                for m in msgs if isinstance(m, Mapping) for c in (m.get("tool_calls") or [])]
    if row.get("kind") == "tool" or row.get("tool_name"):
        return [{"name": row.get("tool_name"), "arguments": row.get("tool_arguments"), "status": row.get("status")}]
    return []


def _expected_of(row: Mapping[str, Any], expected: str | Callable[[Mapping[str, Any]], Any]) -> list[Any] | None:
    exp = expected(row) if callable(expected) else row_get(row, expected)
    if exp is None:
        return None
    if isinstance(exp, (str, bytes)):
        exp = json.loads(exp)
    if isinstance(exp, Mapping):  # a dataset's expected column: {"tool_calls": [...]} or {"actions": [...]}
        for k in ("tool_calls", "trajectory", "actions", "expected_actions"):
            if k in exp:
                return list(exp[k])
        raise ValueError(f"expected trajectory {dict(exp)!r} has no 'tool_calls' / 'trajectory' / 'actions' key")
    return list(exp)


@dataclass(repr=False)
class TrajectoryMatch(Evaluator):
    """The tool calls of a trace (or a session, with ``level="session"`` rows) against an
    expected trajectory: one result row per metric, ``trajectory_match.exact`` / ``.in_order``
    / ``.any_order`` (bools), ``.precision`` / ``.recall`` (0-1).

    ``expected``: a column or metadata key holding the expected calls (a list of ``{"name",
    "arguments"}``, bare names, or a dataset's ``expected`` dict with a ``tool_calls`` key), or
    a function ``row -> calls``. ``args``: ``exact``, ``subset`` or ``ignore``. ``tools``: only
    these tool names count on both sides (e.g. the write actions that change state).
    ``successful_only``: leave out calls that failed (status error; they changed nothing).
    Rows without an expected trajectory get no result.

    Example:
        >>> row = {"tool_calls": [{"name": "lookup", "arguments": '{"id": "A1"}'}, {"name": "refund",
        ...        "arguments": '{"id": "A1", "amount": 5}'}], "expected": [{"name": "refund", "arguments": {"id": "A1"}}]}
        >>> out = TrajectoryMatch(args="subset").evaluate(row)
        >>> out["exact"].value, out["in_order"].value, out["precision"], out["recall"]
        (False, True, 0.5, 1.0)
    """

    level: ClassVar[Literal["span", "trace", "session"]] = "trace"
    expected: str = "expected"
    args: str = "exact"
    tools: list[str] | None = None
    successful_only: bool = False
    threshold: float = 1.0
    name: str | None = None

    def __post_init__(self) -> None:
        if self.args not in _ARGS_MODES:
            raise ValueError(f"args={self.args!r} is not valid; valid: {list(_ARGS_MODES)}")

    def evaluate(self, row: dict[str, Any]) -> Any:
        exp = _expected_of(row, self.expected)
        if exp is None:
            return None
        act = tool_calls_of(row)
        if self.successful_only:
            act = [c for c in act if c.get("status") != "error"]
        if self.tools is not None:
            keep = set(self.tools)
            act = [c for c in act if _name(c) in keep]
            exp = [c for c in exp if _name(c) in keep]
        mode: Any = self.args
        p, r = tool_precision_recall(act, exp, mode)
        why = f"{len(act)} calls against {len(exp)} expected ({', '.join(str(_name(c)) for c in exp) or 'none'})"
        return {
            "exact": EvaluationReason(trajectory_exact(act, exp, mode), why),
            "in_order": EvaluationReason(trajectory_in_order(act, exp, mode), why),
            "any_order": EvaluationReason(trajectory_any_order(act, exp, mode), why),
            "precision": 1.0 if p is None and not exp else (0.0 if p is None else p),
            "recall": 1.0 if r is None else r,
        }


@dataclass(repr=False)
class ToolErrorRate(Evaluator):
    """Share of a trace's tool calls that failed (status error); passes at or below
    ``max_rate``. Traces without tool calls get no result.

    Example:
        >>> ToolErrorRate().evaluate({"tool_calls": [{"name": "a", "status": "error"}, {"name": "a", "status": "ok"}]})
        0.5
    """

    level: ClassVar[Literal["span", "trace", "session"]] = "trace"
    max_rate: float = 0.0
    name: str | None = None

    def evaluate(self, row: dict[str, Any]) -> Any:
        calls = tool_calls_of(row)
        if not calls:
            return None
        return sum(c.get("status") == "error" for c in calls) / len(calls)

    def passed_of(self, value: Any) -> bool | None:
        return None if value is None else float(value) <= self.max_rate


@dataclass(repr=False)
class RedundantToolCalls(Evaluator):
    """Number of tool calls in a trace that repeat an earlier call with the same name and
    arguments; passes at or below ``max_redundant``.

    Example:
        >>> RedundantToolCalls().evaluate({"tool_calls": [{"name": "a", "arguments": "{}"}] * 3})
        2
    """

    level: ClassVar[Literal["span", "trace", "session"]] = "trace"
    max_redundant: int = 0
    name: str | None = None

    def evaluate(self, row: dict[str, Any]) -> Any:
        return redundant_calls(tool_calls_of(row))

    def passed_of(self, value: Any) -> bool | None:
        return None if value is None else float(value) <= self.max_redundant
