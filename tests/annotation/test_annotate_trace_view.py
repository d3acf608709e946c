"""The trace viewer: escaping, truncation, waterfall, chat, documents, results and labels."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.annotation import TraceView, show_trace

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"


def fixture_dir(name: str) -> Path:
    p = FIXTURES / name
    if not p.exists():
        pytest.skip(f"shared fixture folder {p} is absent")
    return p

EVIL = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def _spans() -> pd.DataFrame:
    return lo.read_traces(
        [
            {"trace_id": "t1", "span_id": "root", "name": "agent " + EVIL, "kind": "agent",
             "start_time": "2024-05-01T10:00:00Z", "end_time": "2024-05-01T10:00:04Z",
             "input_text": "question " + EVIL, "output_text": "x" * 5000},
            {"trace_id": "t1", "span_id": "ret", "parent_span_id": "root", "name": "search", "kind": "retriever",
             "start_time": "2024-05-01T10:00:00.5Z", "end_time": "2024-05-01T10:00:01Z",
             "documents": [{"id": "doc-7", "content": "refund policy " + EVIL, "score": 0.8123, "metadata": "{}"}]},
            {"trace_id": "t1", "span_id": "llm", "parent_span_id": "root", "name": "chat", "kind": "llm",
             "start_time": "2024-05-01T10:00:01Z", "end_time": "2024-05-01T10:00:03Z", "model": "gpt-4o",
             "prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150, "cost_usd": 0.0021,
             "status": "error", "error_message": "RateLimit " + EVIL,
             "input_messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": EVIL}],
             "output_messages": [{"role": "assistant", "content": None,
                                  "tool_calls": [{"id": "call_1", "name": "lookup", "arguments": '{"q": "<b>"}'}]}]},
            {"trace_id": "t1", "span_id": "tool", "parent_span_id": "llm", "name": "lookup", "kind": "tool",
             "start_time": "2024-05-01T10:00:02Z", "end_time": "2024-05-01T10:00:02.5Z",
             "tool_name": "lookup", "tool_arguments": '{"q": 1}', "tool_result": "ok " + EVIL},
            {"trace_id": "t2", "span_id": "other", "kind": "chain"},
        ],
        format="records",
    )


def test_all_text_is_escaped():
    html = show_trace(_spans(), "t1").html
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    assert "onerror=&quot;alert(1)&quot;" in html


def test_tree_waterfall_chat_documents_tokens_cost_errors():
    html = show_trace(_spans(), "t1").html
    # depth-first order: root, retriever (starts first), llm, its tool child
    order = [html.index(f'data-span-id="{s}"') for s in ("root", "ret", "llm", "tool")]
    assert order == sorted(order)
    assert 'data-span-id="other"' not in html  # another trace
    assert "left:25.00%;width:50.00%" in html  # the llm span: 1 s to 3 s of a 4 s trace
    assert "lo-role-system" in html and "lo-role-user" in html and "tool call" in html and "call_1" in html
    assert "doc-7" in html and "score 0.812" in html
    assert "120 in / 30 out / 150" in html and "$0.0021" in html
    assert "1 error" in html and "RateLimit" in html
    assert 'class="lo-span lo-error" data-span-id="llm" data-kind="llm" data-parent="root" open' in html  # errors open


def test_large_payload_is_truncated_with_an_offline_expander():
    html = show_trace(_spans(), "t1", limit=1000).html
    assert "show all (5,000 characters)" in html
    assert "<details class=\"lo-more\">" in html
    assert "<script" not in html.split("</style>", 1)[1]  # no script needed to expand


def test_results_and_labels_attach_to_spans():
    results = pd.DataFrame([
        {"trace_id": "t1", "span_id": "llm", "evaluator": "faithful", "passed": False, "label": "fail",
         "explanation": "made up " + EVIL},
        {"trace_id": "t1", "span_id": None, "evaluator": "helpful", "passed": True, "label": "pass"},
    ])
    labels = pd.DataFrame([{"trace_id": "t1", "span_id": None, "question": "correct", "value": True, "annotator": "ann"}])
    html = show_trace(_spans(), "t1", results=results, labels=labels).html
    llm = html[html.index('data-span-id="llm"'):html.index('data-span-id="tool"')]
    root = html[html.index('data-span-id="root"'):html.index('data-span-id="ret"')]
    assert "faithful" in llm and "lo-fail" in llm and "made up &lt;img" in llm
    assert "helpful" in root and "correct" in root and "(ann)" in root


def test_errors_name_the_problem():
    with pytest.raises(KeyError, match="t9"):
        show_trace(_spans(), "t9")
    with pytest.raises(ValueError, match="span_id"):
        show_trace(pd.DataFrame({"trace_id": ["a"]}), "a")


def test_repr_and_widget():
    v = show_trace(_spans(), "t1")
    assert isinstance(v, TraceView) and repr(v) == "TraceView(trace_id='t1', 4 spans)"
    assert v._repr_html_() == v.html
    w = v.widget()
    assert "lo-trace" in w.html and "<style>" not in w.html


def test_show_trace_from_store(store):
    store.add_spans(_spans())
    assert 'data-span-id="tool"' in show_trace(store, "t1").html


def test_real_fixture_trace_renders():
    d = fixture_dir("otlp-examples")
    spans = lo.read_traces(d / "trace.json", format="otlp_json")
    tid = spans["trace_id"].iloc[0]
    html = show_trace(spans, tid).html
    assert f'data-trace-id="{tid}"' in html
    assert html.count("<details class=\"lo-span") == int((spans["trace_id"] == tid).sum())


def test_kind_filter_reads_kinds_only():
    html = show_trace(_spans(), "t1").html
    import re

    kinds = re.findall(r'<details class="lo-span[^"]*" data-span-id="[^"]*" data-kind="([^"]*)"', html)
    assert kinds == ["agent", "retriever", "llm", "tool"]
    # "doc 1", "tool call" and "tool" inside a span's body are tags, not kind badges
    assert 'lo-badge lo-k-retriever">doc' not in html and 'lo-badge lo-k-tool">tool call' not in html
    assert 'lo-tag lo-tag-doc">doc 1' in html and 'lo-tag">tool call' in html


def test_tool_payload_shown_once_and_time_axis():
    spans = lo.read_traces([
        {"trace_id": "t", "span_id": "r", "kind": "agent", "start_time": "2024-05-01T10:00:00Z",
         "end_time": "2024-05-01T10:00:03Z"},
        {"trace_id": "t", "span_id": "w", "parent_span_id": "r", "kind": "tool", "name": "weather",
         "start_time": "2024-05-01T10:00:01Z", "end_time": "2024-05-01T10:00:02Z",
         "tool_name": "weather", "tool_arguments": {"city": "Paris"}, "input_text": '{"city": "Paris"}',
         "tool_result": "sunny, 21 C", "output_text": "sunny, 21 C"},
    ], format="records")
    html = show_trace(spans, "t").html
    assert html.count("Paris") == 1 and html.count("sunny, 21 C") == 1
    head = html[html.index('class="lo-head"'):html.index('class="lo-axis"')]
    assert "tokens" not in head and "$" not in head and "<span></span>" not in head  # unknown: not shown
    axis = html[html.index('class="lo-axis"'):html.index('class="lo-spans"')]
    assert ">0 s<" in axis and ">3 s<" in axis  # a 3 s trace: ticks 0 .. 3 s


def test_repeated_messages_fold():
    sys_prompt = "You are the support bot. " * 20
    rows = [{"trace_id": "t", "span_id": "r", "kind": "agent"}]
    for i in range(3):
        rows.append({"trace_id": "t", "span_id": f"l{i}", "parent_span_id": "r", "kind": "llm", "name": f"call {i}",
                     "start_time": f"2024-05-01T10:00:0{i}Z",
                     "input_messages": [{"role": "system", "content": sys_prompt}, {"role": "user", "content": f"q{i}"}]})
    html = show_trace(lo.read_traces(rows, format="records"), "t").html
    assert html.count('class="lo-msg lo-role-system"') == 1  # shown in full once
    assert html.count('lo-repeat"><summary>') == 2 and html.count("same as in span call 0") == 2
    assert all(f">q{i}<" in html for i in range(3))  # the user turns differ: not folded


def test_result_chips_show_run_reasoning_and_readable_numbers():
    results = pd.DataFrame([
        {"trace_id": "t1", "span_id": None, "evaluator": "helpfulness", "passed": True, "label": "pass", "value": True,
         "score": 1.0, "run_id": "run-aaaa1111", "created_at": pd.Timestamp("2024-05-02T10:00Z"),
         "explanation": "answers the question"},
        {"trace_id": "t1", "span_id": None, "evaluator": "helpfulness", "passed": False, "label": "fail", "value": False,
         "score": 0.0, "run_id": "run-bbbb2222", "created_at": pd.Timestamp("2024-05-03T10:00Z"),
         "explanation": "misses the refund"},
        {"trace_id": "t1", "span_id": None, "evaluator": "latency_ms", "value": 7740.2, "score": 7740.2,
         "run_id": "run-bbbb2222", "created_at": pd.Timestamp("2024-05-03T10:00Z")},
        {"trace_id": "t1", "span_id": None, "evaluator": "cost_usd", "value": 0.0000123, "score": 0.0000123,
         "run_id": "run-bbbb2222", "created_at": pd.Timestamp("2024-05-03T10:00Z")},
    ])
    labels = pd.DataFrame([{"trace_id": "t1", "span_id": None, "question": "modes", "value": ["billing", "tools"],
                            "annotator": "ann"}])
    html = show_trace(_spans(), "t1", results=results, labels=labels).html
    assert "run run-bbbb22" in html and "run run-aaaa11" in html  # two runs: each chip says which
    assert html.index("run-bbbb22") < html.index("run-aaaa11")  # newest first
    assert '<details class="lo-chip lo-res lo-fail"><summary>' in html and "misses the refund" in html
    assert "7.74 s" in html and "e+03" not in html
    assert "$0.000012" in html and "$0.0000<" not in html
    assert "billing, tools" in html and '[\n' not in html  # a list label reads as a list
