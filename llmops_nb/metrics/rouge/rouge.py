"""ROUGE through Google's rouge_score: F-measure per pair, averaged (a plain mean, so the value is
deterministic; the hub metric's bootstrap mid-point is close to it)."""

import datasets
import evaluate
from rouge_score import rouge_scorer

_DESCRIPTION = "ROUGE-1/2/L/Lsum F-measure computed with the rouge_score package."
_KWARGS = """
Args:
    predictions: list of str.
    references: list of str (one reference per prediction).
    rouge_types: list of "rouge1", "rouge2", "rougeL", "rougeLsum" (default all four).
    use_stemmer: bool, Porter stemming (default False).
    per_item: return lists of per-pair F-measures instead of their means.
Returns:
    {rouge_type: float or list of float}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Rouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Lin, C.-Y. (2004). ROUGE: A Package for Automatic Evaluation of Summaries.",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            codebase_urls=["https://github.com/google-research/google-research/tree/master/rouge"],
        )

    def _compute(self, predictions, references, rouge_types=None, use_stemmer=False, per_item=False, use_aggregator=True):
        rouge_types = list(rouge_types or ["rouge1", "rouge2", "rougeL", "rougeLsum"])
        scorer = rouge_scorer.RougeScorer(rouge_types=rouge_types, use_stemmer=use_stemmer)
        scores = [scorer.score(r or "", p or "") for p, r in zip(predictions, references)]
        out = {t: [s[t].fmeasure for s in scores] for t in rouge_types}
        if per_item or not use_aggregator:
            return out
        return {t: (sum(v) / len(v) if v else 0.0) for t, v in out.items()}
