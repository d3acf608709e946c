"""Retrieval metrics against gold document ids (hit rate, precision@k, recall@k, MRR, nDCG@k)
and a claim-level faithfulness judge.

The ranking metrics follow trec_eval's definitions (what ``pytrec_eval`` and ``ranx`` compute):
precision@k divides by k even when fewer documents were retrieved; MRR is the reciprocal rank
of the first relevant document in the whole ranking; nDCG@k uses linear gains (the relevance
grade, 1 for a gold id) discounted by log2(rank + 1), over the ideal ordering of all judged
documents.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from llmops_nb.evals._base import Evaluator, JudgeOutput, row_get
from llmops_nb.evals._judge import JudgeParseError, LLMJudge

__all__ = [
    "hit_rate",
    "precision_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "ndcg_at_k",
    "retrieved_ids",
    "RetrievalMetrics",
    "ClaimFaithfulness",
]

Gold = Any  # a list/set of relevant ids, or a mapping id -> relevance grade (> 0 is relevant)


def _grades(gold: Gold) -> dict[str, float]:
    if gold is None:
        return {}
    if isinstance(gold, Mapping):
        return {str(k): float(v) for k, v in gold.items()}
    if isinstance(gold, (str, bytes)):
        gold = [gold]
    return {str(g): 1.0 for g in gold}


def _ranked(retrieved: Sequence[Any]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for d in retrieved:
        i = str(d.get("id") if isinstance(d, Mapping) else d)
        if i not in seen:  # a document counts once, at its best rank
            seen.add(i)
            out.append(i)
    return out


def hit_rate(retrieved: Sequence[Any], gold: Gold, k: int | None = None) -> float:
    """1.0 when a relevant document is in the top ``k`` (all when None), else 0.0.

    Example:
        >>> hit_rate(["d3", "d1"], {"d1"}, k=1), hit_rate(["d3", "d1"], {"d1"}, k=2)
        (0.0, 1.0)
    """
    g = _grades(gold)
    top = _ranked(retrieved)[:k] if k else _ranked(retrieved)
    return 1.0 if any(g.get(d, 0) > 0 for d in top) else 0.0


def precision_at_k(retrieved: Sequence[Any], gold: Gold, k: int) -> float:
    """Relevant documents in the top ``k`` over ``k`` (trec_eval ``P_k``: missing ranks count
    as not relevant).

    Example:
        >>> precision_at_k(["a", "x", "b"], {"a", "b", "c"}, 2)
        0.5
    """
    g = _grades(gold)
    return sum(g.get(d, 0) > 0 for d in _ranked(retrieved)[:k]) / k


def recall_at_k(retrieved: Sequence[Any], gold: Gold, k: int) -> float | None:
    """Relevant documents in the top ``k`` over all relevant documents (None without any).

    Example:
        >>> recall_at_k(["a", "x", "b"], {"a", "b", "c", "d"}, 3)
        0.5
    """
    g = _grades(gold)
    n_rel = sum(v > 0 for v in g.values())
    if not n_rel:
        return None
    return sum(g.get(d, 0) > 0 for d in _ranked(retrieved)[:k]) / n_rel


def reciprocal_rank(retrieved: Sequence[Any], gold: Gold, k: int | None = None) -> float:
    """1 / rank of the first relevant document (0.0 when none is retrieved, within ``k``).

    Example:
        >>> reciprocal_rank(["x", "y", "a"], {"a"})
        0.3333333333333333
    """
    g = _grades(gold)
    for i, d in enumerate(_ranked(retrieved)[:k] if k else _ranked(retrieved), 1):
        if g.get(d, 0) > 0:
            return 1.0 / i
    return 0.0


def ndcg_at_k(retrieved: Sequence[Any], gold: Gold, k: int) -> float | None:
    """Normalised discounted cumulative gain at ``k``: sum of grade / log2(rank + 1) over the top
    ``k``, divided by the same sum for the ideal ordering of the gold grades (None without a
    relevant document).

    Example (binary gold, relevant at ranks 1 and 3, two relevant in total):
        >>> round(ndcg_at_k(["a", "x", "b"], {"a", "b"}, 3), 4)
        0.9197
    """
    g = _grades(gold)
    ideal = sorted((v for v in g.values() if v > 0), reverse=True)[:k]
    if not ideal:
        return None
    dcg = sum(g.get(d, 0.0) / math.log2(i + 1) for i, d in enumerate(_ranked(retrieved)[:k], 1) if g.get(d, 0) > 0)
    idcg = sum(v / math.log2(i + 1) for i, v in enumerate(ideal, 1))
    return dcg / idcg


def retrieved_ids(row: Mapping[str, Any]) -> list[str]:
    """The document ids a row retrieved, in rank order: its ``documents`` (a retriever span),
    or the documents of its trace's retriever spans in time order (a trace row with spans).

    Example:
        >>> retrieved_ids({"documents": [{"id": "kb-1", "score": 0.9}, {"id": "kb-7", "score": 0.4}]})
        ['kb-1', 'kb-7']
    """
    docs = row.get("documents")
    if docs is not None and not (isinstance(docs, float) and docs != docs) and len(docs):
        return [str(d.get("id") if isinstance(d, Mapping) else d) for d in docs]
    spans = row.get("spans")
    if spans is not None and len(spans) and "documents" in spans.columns:
        r = spans[(spans["kind"] == "retriever").to_numpy() & spans["documents"].notna().to_numpy()]
        if "start_time" in r.columns:
            r = r.sort_values("start_time", kind="stable")
        return [str(d.get("id")) for ds in r["documents"].tolist() for d in ds]
    return []


@dataclass(repr=False)
class RetrievalMetrics(Evaluator):
    """Ranking metrics of the retrieved documents against gold document ids: one result row per
    metric, ``retrieval.hit_rate``, ``.precision@k``, ``.recall@k``, ``.mrr``, ``.ndcg@k``.

    Rows are retriever spans (their ``documents``) or traces (``level="trace"`` rows with spans:
    the documents of every retriever span, in order). ``gold``: a column or metadata key with
    the relevant ids (a list, or ``{id: grade}``), or a function ``row -> ids``. Rows without
    gold ids or without retrieved documents get no result. ``threshold``: the pass mark of each
    score (default 0.5).

    Example:
        >>> out = RetrievalMetrics(k=3).evaluate({"documents": [{"id": "a"}, {"id": "x"}, {"id": "b"}],
        ...                                       "gold_doc_ids": ["a", "b"]})
        >>> out["hit_rate"], round(out["precision@3"], 3), out["recall@3"], out["mrr"], round(out["ndcg@3"], 4)
        (1.0, 0.667, 1.0, 1.0, 0.9197)
    """

    level: ClassVar[Literal["span", "trace", "session"]] = "span"
    k: int = 5
    gold: str = "gold_doc_ids"
    gold_fn: Callable[[Mapping[str, Any]], Any] | None = None
    threshold: float = 0.5
    name: str | None = None

    @property
    def evaluation_name(self) -> str:
        return self.name or "retrieval"

    def evaluate(self, row: dict[str, Any]) -> Any:
        gold = self.gold_fn(row) if self.gold_fn is not None else row_get(row, self.gold)
        if isinstance(gold, str):
            gold = json.loads(gold) if gold.lstrip()[:1] in "[{" else [gold]
        if gold is None or len(gold) == 0:
            return None
        ids = retrieved_ids(row)
        if not ids:
            return None
        k = self.k
        out: dict[str, Any] = {
            "hit_rate": hit_rate(ids, gold, k),
            f"precision@{k}": precision_at_k(ids, gold, k),
            f"recall@{k}": recall_at_k(ids, gold, k),
            "mrr": reciprocal_rank(ids, gold),
            f"ndcg@{k}": ndcg_at_k(ids, gold, k),
        }
        return out


@dataclass(repr=False)
class ClaimFaithfulness(LLMJudge):
    """Claim-level faithfulness: the judge splits the answer into atomic factual claims and
    checks each against the retrieved documents. Value = the supported share (0-1); passes at
    ``threshold`` (default 1.0: every claim supported); the explanation lists every unsupported
    claim. An answer without factual claims scores 1.0.

    Example:
        >>> j = ClaimFaithfulness()
        >>> "<context>" in j.messages({"input_text": "How long do refunds take?", "output_text": "Refunds take 5 days.", "documents": [{"content": "5 days"}]})[1]["content"]
        True
        >>> j.read_answer({"claims": [{"claim": "Refunds take 5 days", "supported": True},
        ...                           {"claim": "Refunds are doubled", "supported": False}]}, None)[:2]
        (0.5, 0.5)
    """

    criterion: ClassVar[str] = "claim-level faithfulness to the retrieved context"
    question: ClassVar[str] = (
        "Split the output into atomic factual claims (each one checkable fact; skip greetings, questions and "
        "offers of help). For each claim decide whether the context documents support it: supported only when "
        "the context states it or directly implies it; a claim the context does not mention or contradicts is "
        "unsupported.")
    uses: ClassVar[tuple[str, ...]] = ("input", "context", "output")
    output: Literal["binary", "ordinal", "categorical"] = "binary"
    threshold: float | None = 1.0
    max_tokens: int = 1200

    def _answer_spec(self) -> str:
        return ('"claims" is a list of {"claim": "<the claim>", "supported": true|false, "evidence": "<document id '
                'or quote, or why not>"} and "answer" is the share of supported claims (a number from 0 to 1)')

    def messages(self, row: Mapping[str, Any]) -> list[dict[str, str]]:
        msgs = super().messages(row)
        for m in msgs:  # ask for the claims list beside the answer
            m["content"] = m["content"].replace('{"reasoning": "...", "answer": ...}',
                                                '{"reasoning": "...", "claims": [...], "answer": ...}')
        return msgs

    def read_answer(self, parsed: Mapping[str, Any], raw: str | None) -> tuple[Any, float | None, str | None, bool | None]:
        claims = parsed.get("claims")
        if not isinstance(claims, list):
            raise JudgeParseError("the judge's reply has no 'claims' list", raw)
        verdicts = []
        for c in claims:
            if not isinstance(c, Mapping) or "supported" not in c:
                raise JudgeParseError(f"claim {c!r} has no 'supported' verdict", raw)
            s = c["supported"]
            verdicts.append(s if isinstance(s, bool) else str(s).strip().lower() in ("true", "yes", "supported", "1"))
        share = 1.0 if not verdicts else sum(verdicts) / len(verdicts)
        thr = 1.0 if self.threshold is None else float(self.threshold)
        return share, share, None, share >= thr - 1e-12

    def passed_of(self, value: Any) -> bool | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value) >= (1.0 if self.threshold is None else float(self.threshold)) - 1e-12
        return None

    def _output(self, res: Any) -> JudgeOutput:
        out = super()._output(res)
        if out.error or out.value is None:
            return out
        try:
            from llmops_nb.evals._judge import parse_judge_json

            claims = parse_judge_json(res.text).get("claims") or []
        except JudgeParseError:
            claims = []
        bad = [str(c.get("claim")) for c in claims if isinstance(c, Mapping)
               and not (c.get("supported") is True or str(c.get("supported")).lower() in ("true", "yes", "supported", "1"))]
        n = len(claims)
        head = f"{n - len(bad)} of {n} claims supported" if n else "no factual claims"
        listing = "; unsupported: " + " | ".join(bad) if bad else ""
        out.reason = f"{head}{listing}. {out.reason or ''}".strip()
        return out
