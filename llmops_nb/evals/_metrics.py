"""Reference metrics through Hugging Face ``evaluate``: exact match, ROUGE, BLEU, chrF and
embedding similarity ship as metric modules inside the package (``llmops_nb/metrics/<name>/``)
and load offline; any other name is passed to ``evaluate.load`` (the hub, for users online)."""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from llmops_nb.evals._base import Evaluator, row_get

__all__ = ["load_metric", "shipped_metrics", "ReferenceMetric", "ExactMatchMetric", "Rouge", "BLEU", "CHRF",
           "EmbeddingSimilarity"]

METRICS_DIR = Path(__file__).resolve().parent.parent / "metrics"


def shipped_metrics() -> list[str]:
    """Names of the metric modules shipped with llmops_nb.

    Example:
        >>> "rouge" in shipped_metrics()
        True
    """
    return sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").exists())


@functools.lru_cache(maxsize=32)
def load_metric(name: str, **kwargs: Any) -> Any:
    """An ``evaluate`` metric: a shipped module by name (offline), a local path, or a hub name.

    Example:
        >>> load_metric("exact_match").compute(predictions=["a"], references=["a"])  # doctest: +SKIP
        {'exact_match': 1.0}
    """
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
    import evaluate

    local = METRICS_DIR / name / f"{name}.py"
    target = str(local) if local.exists() else name
    try:
        return evaluate.load(target, **kwargs)
    except Exception as e:
        if local.exists():
            raise
        raise RuntimeError(
            f"evaluate.load({name!r}) failed: {e}. Shipped metrics that work offline: {shipped_metrics()}; "
            "hub metrics need network access (and HF_EVALUATE_OFFLINE unset)."
        ) from e


@dataclass(repr=False)
class ReferenceMetric(Evaluator):
    """Any ``evaluate`` metric as an evaluator: the output field is the prediction, the
    ``reference`` field (column or metadata key) the reference; ``key`` picks the number
    returned, ``kwargs`` go to ``compute``; passes at ``threshold`` when set.

    Shipped metrics are computed per row in one vectorised call; other metrics are called once
    per row.

    Example:
        >>> ReferenceMetric("exact_match", key="exact_match").evaluate(
        ...     {"output_text": "Paris", "reference": "Paris"})  # doctest: +SKIP
        1.0
    """

    metric: str = "exact_match"
    key: str = ""
    reference: str = "reference"
    field: str = "output_text"
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    threshold: float | None = None
    name: str | None = None

    default_metric: ClassVar[str] = ""
    default_key: ClassVar[str] = ""

    @property
    def evaluation_name(self) -> str:
        if getattr(self, "name", None):
            return self.name  # type: ignore[return-value]
        if type(self) is ReferenceMetric:
            return self.key or self.metric
        return self.registry_name

    def _metric_kwargs(self) -> dict[str, Any]:
        return dict(self.kwargs)

    def _key(self) -> str:
        return self.key or self.default_key or self.metric

    def _pairs(self, rows: list[dict[str, Any]]) -> tuple[list[int], list[str], list[Any]]:
        idx, preds, refs = [], [], []
        for i, r in enumerate(rows):
            p, ref = row_get(r, self.field), row_get(r, self.reference)
            if p is None or ref is None:
                continue
            idx.append(i)
            preds.append(str(p))
            refs.append(ref if isinstance(ref, (list, tuple)) else str(ref))
        return idx, preds, refs

    def _scores(self, preds: list[str], refs: list[Any]) -> list[float]:
        if not preds:
            return []
        m = load_metric(self.metric)
        key = self._key()
        if self.metric in shipped_metrics():
            out = m.compute(predictions=preds, references=refs, per_item=True, **self._metric_kwargs())
            return [float(x) for x in out[key]]
        return [float(m.compute(predictions=[p], references=[r], **self._metric_kwargs())[key]) for p, r in zip(preds, refs)]

    def evaluate(self, row: dict[str, Any]) -> Any:
        idx, preds, refs = self._pairs([row])
        if not idx:
            return None
        return self._scores(preds, refs)[0]

    def evaluate_batch(self, frame: Any) -> list[Any]:
        cols = [c for c in (self.field, self.reference, "metadata", "attributes") if c in frame.columns]
        rows = frame[cols].to_dict("records")
        idx, preds, refs = self._pairs(rows)
        out: list[Any] = [None] * len(rows)
        for i, s in zip(idx, self._scores(preds, refs)):
            out[i] = s
        return out


@dataclass(repr=False)
class ExactMatchMetric(ReferenceMetric):
    """Exact match through the shipped ``exact_match`` metric (1.0 or 0.0 per row).

    Example:
        >>> ExactMatchMetric(kwargs={"ignore_case": True}).evaluate({"output_text": "A", "reference": "a"})  # doctest: +SKIP
        1.0
    """

    registry_name = "exact_match_metric"
    metric: str = "exact_match"


@dataclass(repr=False)
class Rouge(ReferenceMetric):
    """ROUGE F-measure (``rouge_type``: rouge1, rouge2, rougeL, rougeLsum) per row.

    Example:
        >>> Rouge().evaluate({"output_text": "the cat sat", "reference": "the cat sat on the mat"})  # doctest: +SKIP
        0.6666666666666666
    """

    metric: str = "rouge"
    rouge_type: str = "rougeL"
    use_stemmer: bool = False

    @property
    def evaluation_name(self) -> str:
        return getattr(self, "name", None) or self.rouge_type

    def _key(self) -> str:
        return self.rouge_type

    def _metric_kwargs(self) -> dict[str, Any]:
        return {"rouge_types": [self.rouge_type], "use_stemmer": self.use_stemmer, **self.kwargs}


@dataclass(repr=False)
class BLEU(ReferenceMetric):
    """Sentence BLEU (sacrebleu, 0 to 100) per row.

    Example:
        >>> BLEU().registry_name
        'bleu'
    """

    registry_name = "bleu"
    metric: str = "bleu"
    default_key: ClassVar[str] = "score"


@dataclass(repr=False)
class CHRF(ReferenceMetric):
    """Sentence chrF (``word_order=2`` for chrF++) per row, 0 to 100.

    Example:
        >>> CHRF().registry_name
        'chrf'
    """

    registry_name = "chrf"
    metric: str = "chrf"
    word_order: int = 0
    default_key: ClassVar[str] = "score"

    def _metric_kwargs(self) -> dict[str, Any]:
        return {"word_order": self.word_order, **self.kwargs}


@dataclass(repr=False)
class EmbeddingSimilarity(ReferenceMetric):
    """Cosine similarity of output and reference embeddings (``model``: "hashing" offline,
    "sentence-transformers/<name>", or a litellm embedding model with ``api_base``).

    Example:
        >>> EmbeddingSimilarity(threshold=0.8).registry_name
        'embedding_similarity'
    """

    metric: str = "embedding_similarity"
    model: str = "hashing"
    api_base: str | None = None
    default_key: ClassVar[str] = "similarity"

    def _metric_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"model": self.model, **self.kwargs}
        if self.api_base:
            kw["api_base"] = self.api_base
        return kw
