"""BLEU through sacrebleu: corpus BLEU (``score``, 0 to 100) or sentence BLEU per pair."""

import datasets
import evaluate
import sacrebleu

_DESCRIPTION = "SacreBLEU's BLEU: corpus_bleu for the whole set, sentence_bleu per pair (per_item=True)."
_KWARGS = """
Args:
    predictions: list of str.
    references: list of str, or list of lists of str (several references per prediction).
    tokenize: sacrebleu tokenizer ("13a" default, "intl", "zh", "char", "none").
    lowercase: bool.
    per_item: per-pair sentence BLEU instead of corpus BLEU.
Returns:
    {"score": float or list of float, ...} with the corpus statistics when per_item is False.
"""


def _refs(references):
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    n = max(len(r) for r in refs) if refs else 1
    refs = [r + [r[-1]] * (n - len(r)) for r in refs]
    return [list(x) for x in zip(*refs)], refs


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class Bleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Post, M. (2018). A Call for Clarity in Reporting BLEU Scores.",
            inputs_description=_KWARGS,
            features=[
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            ],
            codebase_urls=["https://github.com/mjpost/sacrebleu"],
        )

    def _compute(self, predictions, references, tokenize="13a", lowercase=False, per_item=False):
        streams, per_pred = _refs(references)
        if per_item:
            return {"score": [sacrebleu.sentence_bleu(p, r, tokenize=tokenize, lowercase=lowercase).score
                              for p, r in zip(predictions, per_pred)]}
        b = sacrebleu.corpus_bleu(predictions, streams, tokenize=tokenize, lowercase=lowercase)
        return {"score": b.score, "counts": b.counts, "totals": b.totals, "precisions": b.precisions,
                "bp": b.bp, "sys_len": b.sys_len, "ref_len": b.ref_len}
