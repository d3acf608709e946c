"""Analysis verbs share one view of their input: traces come from spans through one function
(``analysis._frame.traces_of``) and what a frame is comes from ``schema.grain_of``."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

import llmops_nb as lo
from llmops_nb.analysis import trace_digest, trace_features

ANALYSIS = Path(lo.__file__).resolve().parent / "analysis"


def _names_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.add(node.value)
    return out


def _column_tests(path: Path) -> list[str]:
    """Columns tested with ``"<column>" in ...`` (how a frame's grain used to be sniffed)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant)
                and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops)):
            out.append(node.left.value)
    return out


def test_only_the_frame_helpers_derive_traces_from_spans():
    derive = [p.name for p in sorted(ANALYSIS.glob("*.py")) if p.name != "_frame.py" and "to_traces" in _names_used(p)]
    assert derive == [], f"these analysis modules derive traces themselves (use _frame.traces_of): {derive}"
    # and none decides what a frame is by testing its columns ("trace_ids" marks a sessions table)
    sniff = [p.name for p in sorted(ANALYSIS.glob("*.py")) if "trace_ids" in _column_tests(p)]
    assert sniff == [], f"use llmops_nb.schema.grain_of instead of testing columns in {sniff}"


def test_the_traces_an_analysis_sees_are_to_traces_of_the_spans():
    spans = lo.read_traces([
        {"trace_id": "t", "span_id": "a", "kind": "chain", "input_text": "where is my order?", "output_text": "Sorry."},
        {"trace_id": "t", "span_id": "b", "parent_span_id": "a", "kind": "tool", "name": "lookup",
         "tool_name": "lookup", "status": "error", "error_message": "OrderNotFound"},
        {"trace_id": "u", "span_id": "c", "kind": "chain", "output_text": "Done."}], format="records")
    ref = lo.to_traces(spans)
    feats = trace_features(spans.assign(flagged=[True, False, False]))
    pd.testing.assert_frame_equal(feats[ref.columns], ref)
    assert feats["flagged"].tolist() == [True, False] and feats["n_tool_errors"].tolist() == [1, 0]
    # trace_digest given the traces it would derive gives the same text
    assert trace_digest(spans, detect_language=False).equals(trace_digest(spans, detect_language=False, traces=ref))
