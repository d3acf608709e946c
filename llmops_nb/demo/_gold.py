"""What the simulated assistant should have done for each trace: the expected tool calls of
the customer's intent (with the customer's order id) and the knowledge-base articles that
answer it (gold document ids), for trajectory and retrieval metrics on simulated data."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from llmops_nb.demo import _content as C

__all__ = ["gold"]

_ORDER = re.compile(r"ORD-\d{7}")
_BY_NAME = {i["name"]: i for i in C.INTENTS}


def gold(data: Any) -> pd.DataFrame:
    """One row per trace: ``trace_id``, ``expected_tool_calls`` (the intent's tools in order;
    ``lookup_order`` and ``issue_refund`` with the order id the customer wrote, other arguments
    left open, so compare with ``args="subset"``) and ``gold_doc_ids`` (the articles written for
    the intent).

    Example:
        >>> from llmops_nb.demo import generate, gold
        >>> g = gold(generate(200, seed=0))
        >>> g.columns.tolist(), all(isinstance(x, list) for x in g["gold_doc_ids"])
        (['trace_id', 'expected_tool_calls', 'gold_doc_ids'], True)
    """
    plan = data.plan
    spans = data.spans
    roots = spans[spans["parent_span_id"].isna()].set_index("trace_id")["input_text"]
    rows = []
    for tid, intent_name in zip(plan["trace_id"].tolist(), plan["intent"].tolist()):
        intent = _BY_NAME[intent_name]
        m = _ORDER.search(str(roots.get(tid) or ""))
        calls: list[dict[str, Any]] = []
        for tool in intent["tools"]:
            args = {"order_id": m.group(0)} if m and tool in ("lookup_order", "issue_refund") else {}
            calls.append({"name": tool, "arguments": args})
        rows.append({"trace_id": tid, "expected_tool_calls": calls, "gold_doc_ids": list(intent["docs"])})
    return pd.DataFrame(rows, columns=["trace_id", "expected_tool_calls", "gold_doc_ids"])
