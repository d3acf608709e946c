"""Exact match: the share of predictions equal to their reference (after optional normalisation).

Shipped with llmops_nb so ``evaluate.load`` works offline; values match the hub metric's options.
"""

import re
import string

import datasets
import evaluate

_DESCRIPTION = "The share of predictions that equal their reference, with optional case, punctuation, number and regex normalisation."
_KWARGS = """
Args:
    predictions: list of str.
    references: list of str.
    regexes_to_ignore: list of regexes removed before comparing.
    ignore_case, ignore_punctuation, ignore_numbers: bools.
    per_item: return a list of 0/1 per pair instead of the mean.
Returns:
    {"exact_match": float or list of float}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class ExactMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references, regexes_to_ignore=None, ignore_case=False,
                 ignore_punctuation=False, ignore_numbers=False, per_item=False):
        def norm(s):
            s = "" if s is None else s
            for rx in regexes_to_ignore or []:
                s = re.sub(rx, "", s)
            if ignore_case:
                s = s.lower()
            if ignore_punctuation:
                s = s.translate(str.maketrans("", "", string.punctuation))
            if ignore_numbers:
                s = s.translate(str.maketrans("", "", string.digits))
            return s

        hits = [1.0 if norm(p) == norm(r) else 0.0 for p, r in zip(predictions, references)]
        if per_item:
            return {"exact_match": hits}
        return {"exact_match": sum(hits) / len(hits) if hits else 0.0}
