"""Agreement statistics checked against published worked examples and scikit-learn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from llmops_nb.annotation import (
    agreement,
    cohen_kappa,
    confusion,
    disagreements,
    fleiss_kappa,
    krippendorff_alpha,
)
from llmops_nb.schema import LABELS, conform

N = None
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 observers, 12 units.
# Published: nominal 0.743, ordinal 0.815, interval 0.849.
KRIPP = pd.DataFrame({
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, N, N, N],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, N, 3],
    "C": [N, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, N],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, N],
}).astype(object)
KRIPP = KRIPP.where(KRIPP.notna(), None)

# Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories; kappa = 0.210.
FLEISS = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                   [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])


def test_krippendorff_published_example():
    assert round(krippendorff_alpha(KRIPP, "nominal"), 3) == 0.743
    assert round(krippendorff_alpha(KRIPP, "ordinal"), 3) == 0.815
    assert round(krippendorff_alpha(KRIPP, "interval"), 3) == 0.849


def test_fleiss_published_example():
    assert round(fleiss_kappa(FLEISS), 3) == 0.210


def test_cohen_matches_sklearn():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 300)
    b = np.where(rng.random(300) < 0.6, a, rng.integers(0, 4, 300))
    for w in (None, "linear", "quadratic"):
        assert cohen_kappa(a, b, weights=w) == pytest.approx(cohen_kappa_score(a, b, weights=w), abs=1e-12)


def test_fleiss_from_labels_equals_counts():
    # two raters: Fleiss reduces to Scott's pi; check the frame and count forms agree
    df = pd.DataFrame({"x": ["a", "a", "b", "b", "a"], "y": ["a", "b", "b", "b", "a"]})
    counts = np.array([[2, 0], [1, 1], [0, 2], [0, 2], [2, 0]])
    assert fleiss_kappa(df) == pytest.approx(fleiss_kappa(counts))


def test_confusion():
    c = confusion(["p", "p", "f", None], ["p", "f", "f", "p"], names=("ann", "judge"))
    assert c.loc["p", "p"] == 1 and c.loc["p", "f"] == 1 and c.loc["f", "f"] == 1 and c.values.sum() == 3


def _labels(rows):
    t = pd.Timestamp("2024-01-01", tz="UTC")
    out = [{"label_id": f"l{i}", "item_id": it, "trace_id": it, "question": q, "value": v, "action": a,
            "annotator": ann, "created_at": t + pd.Timedelta(seconds=i)} for i, (it, q, v, ann, a) in enumerate(rows)]
    return conform(pd.DataFrame(out), LABELS)


def test_agreement_report_and_disagreement_queue():
    rows = []
    truth = [True, True, False, False, True, False, True, True]
    flips = {"bob": {2}, "cy": {0, 5}}
    for i, t in enumerate(truth):
        for ann in ("ann", "bob", "cy"):
            rows.append((f"i{i}", "ok", (not t) if i in flips.get(ann, ()) else t, ann, "set"))
    # an edit resolves to the new value: ann first says the opposite on i7, then fixes it
    rows.insert(0, ("i7", "ok", False, "ann", "set"))
    labels = _labels(rows)
    ag = agreement(labels, "ok")
    assert ag.n_items == 8 and ag.annotators == ["ann", "bob", "cy"]
    pw = ag.pairwise.set_index(["a", "b"])
    assert pw.loc[("ann", "bob"), "agreement"] == 7 / 8
    assert pw.loc[("ann", "bob"), "cohen_kappa"] == pytest.approx(cohen_kappa_score(truth, [not t if i == 2 else t for i, t in enumerate(truth)]))
    mat = pd.DataFrame({a: [(not t) if i in flips.get(a, ()) else t for i, t in enumerate(truth)] for a in ("ann", "bob", "cy")})
    assert ag.fleiss_kappa == pytest.approx(fleiss_kappa(mat))
    assert ag.krippendorff_alpha == pytest.approx(krippendorff_alpha(mat))
    assert "Fleiss" in ag._repr_html_()
    d = disagreements(labels, "ok")
    assert sorted(d["item_id"]) == ["i0", "i2", "i5"]
    assert d.set_index("item_id").loc["i2", "answers"] == {"ann": False, "bob": True, "cy": False}
