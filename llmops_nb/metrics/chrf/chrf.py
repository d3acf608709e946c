"""chrF / chrF++ through sacrebleu: corpus score (0 to 100) or per pair."""

import datasets
import evaluate
import sacrebleu

_DESCRIPTION = "SacreBLEU's chrF (word_order=0) or chrF++ (word_order=2)."
_KWARGS = """
Args:
    predictions: list of str.
    references: list of str, or list of lists of str.
    char_order (6), word_order (0), beta (2), lowercase (False), whitespace (False).
    per_item: per-pair sentence chrF instead of the corpus score.
Returns:
    {"score": float or list of float, "char_order", "word_order", "beta"}
"""


def _refs(references):
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    n = max(len(r) for r in refs) if refs else 1
    refs = [r + [r[-1]] * (n - len(r)) for r in refs]
    return [list(x) for x in zip(*refs)], refs


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Chrf(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Popovic, M. (2015). chrF: character n-gram F-score for automatic MT evaluation.",
            inputs_description=_KWARGS,
            features=[
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
            codebase_urls=["https://github.com/mjpost/sacrebleu"],
        )

    def _compute(self, predictions, references, char_order=6, word_order=0, beta=2, lowercase=False,
                 whitespace=False, per_item=False):
        m = sacrebleu.CHRF(char_order=char_order, word_order=word_order, beta=beta, lowercase=lowercase,
                           whitespace=whitespace)
        streams, per_pred = _refs(references)
        if per_item:
            score = [m.sentence_score(p, r).score for p, r in zip(predictions, per_pred)]
        else:
            score = m.corpus_score(predictions, streams).score
        return {"score": score, "char_order": char_order, "word_order": word_order, "beta": beta}
