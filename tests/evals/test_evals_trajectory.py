"""Trajectory metrics on the worked examples published with LangChain's agentevals (README,
"Strict match", "Unordered match", "Subset and superset match"), plus argument matching,
precision/recall, tool error rate and redundant calls, and the results rows they produce."""

from __future__ import annotations

import json

import pandas as pd

import llmops_nb as lo
from llmops_nb.evals import (
    RedundantToolCalls,
    ToolErrorRate,
    TrajectoryMatch,
    args_match,
    redundant_calls,
    tool_precision_recall,
    trajectory_any_order,
    trajectory_exact,
    trajectory_in_order,
)


def call(name, **args):
    return {"name": name, "arguments": json.dumps(args)}


SF = {"city": "San Francisco"}


def test_agentevals_strict_example_is_not_an_exact_match():
    # agentevals README, strict match: an extra accuweather_forecast call -> score False
    outputs = [call("get_weather", **SF), call("accuweather_forecast", **SF)]
    reference = [call("get_weather", **SF)]
    assert trajectory_exact(outputs, reference) is False
    # the reference is still contained: in order and in any order; precision 1/2, recall 1
    assert trajectory_in_order(outputs, reference) and trajectory_any_order(outputs, reference)
    assert tool_precision_recall(outputs, reference) == (0.5, 1.0)


def test_agentevals_unordered_example():
    # agentevals README, unordered match: same calls in another order -> score True
    outputs = [call("get_weather", **SF), call("get_fun_activities", **SF)]
    reference = [call("get_fun_activities", **SF), call("get_weather", **SF)]
    assert trajectory_any_order(outputs, reference) and len(outputs) == len(reference)
    assert not trajectory_exact(outputs, reference)
    assert not trajectory_in_order(outputs, reference)
    assert tool_precision_recall(outputs, reference) == (1.0, 1.0)


def test_agentevals_superset_example():
    # agentevals README, superset: the outputs contain every reference call -> score True
    city = {"city": "SF and London"}
    outputs = [call("get_weather", **city), call("accuweather_forecast", **city)]
    reference = [call("get_weather", **city)]
    assert trajectory_any_order(outputs, reference)
    # ... and the reverse (the reference as outputs) is a subset, not a superset
    assert not trajectory_any_order(reference, outputs)


def test_argument_modes():
    exp = {"order_id": "A1", "items": [{"sku": "x"}]}
    act = {"order_id": "A1", "items": [{"sku": "x", "qty": 1}], "note": "n"}
    assert args_match(exp, act, "subset") and not args_match(exp, act, "exact")
    assert args_match({"amount": 5}, {"amount": 5.0}, "exact")
    assert not args_match({"order_id": "A1"}, {"order_id": "A2"}, "subset")
    assert args_match({"order_id": "A1"}, {"order_id": "A2"}, "ignore")
    # a wrong argument turns a name match into a miss
    assert tool_precision_recall([call("refund", id="A2")], [call("refund", id="A1")]) == (0.0, 0.0)
    assert tool_precision_recall([call("refund", id="A2")], [call("refund", id="A1")], args="ignore") == (1.0, 1.0)


def test_repeated_calls_match_one_to_one():
    assert not trajectory_any_order([call("a")], [call("a"), call("a")])
    assert tool_precision_recall([call("a")] * 3, [call("a")]) == (1 / 3, 1.0)
    assert redundant_calls([call("a", x=1), call("b"), call("a", x=1), call("a", x=2)]) == 1


def spans_with_tools(calls, trace="t1"):
    recs = [{"trace_id": trace, "span_id": "root", "kind": "agent", "start_time": "2026-01-01T00:00:00Z",
             "metadata": {"expected": [{"name": "lookup", "arguments": {"id": "A1"}}]}}]
    for i, (name, args, status) in enumerate(calls):
        recs.append({"trace_id": trace, "span_id": f"s{i}", "parent_span_id": "root", "kind": "tool",
                     "tool_name": name, "tool_arguments": json.dumps(args), "status": status,
                     "start_time": f"2026-01-01T00:00:0{i + 1}Z"})
    return lo.read_traces(recs, format="records")


def test_trajectory_evaluators_write_ordinary_result_rows():
    spans = spans_with_tools([("lookup", {"id": "A1"}, "error"), ("lookup", {"id": "A1"}, "ok"),
                              ("refund", {"id": "A1"}, "ok")])
    res = lo.evaluate(spans, [TrajectoryMatch(args="subset"), ToolErrorRate(), RedundantToolCalls()], cache=False,
                      progress=False)
    got = dict(zip(res["evaluator"], res["value"]))
    assert got["trajectory_match.exact"] is False and got["trajectory_match.in_order"] is True
    assert got["trajectory_match.precision"] == 1 / 3 and got["trajectory_match.recall"] == 1.0
    assert got["tool_error_rate"] == 1 / 3 and got["redundant_tool_calls"] == 1
    assert res["trace_id"].eq("t1").all() and res["span_id"].isna().all()
    g = lo.gate(res, {"tool_error_rate": ">= 0.5"})
    assert not g.passed
    assert isinstance(lo.wide(lo.to_traces(spans), res)["trajectory_match.recall"].iloc[0], float)


def test_trajectory_from_a_function_and_only_some_tools():
    spans = spans_with_tools([("search", {"q": "x"}, "ok"), ("book", {"id": "F1"}, "ok")])
    ev = TrajectoryMatch(expected="expected_writes", tools=["book"])
    row = {"spans": spans, "expected_writes": [{"name": "book", "arguments": {"id": "F1"}}]}
    out = ev.evaluate(row)
    assert out["exact"].value is True and out["precision"] == 1.0
    assert TrajectoryMatch().evaluate({"spans": spans}) is None  # no expected trajectory: no result
    assert pd.isna(TrajectoryMatch(expected="missing").evaluate({"spans": spans}) or None)
