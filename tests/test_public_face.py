"""The public face: verbs are functions, subpackages do not shadow them, old names still work."""

from __future__ import annotations

import importlib
import pydoc
import sys
import warnings

import numpy as np
import pytest

import llmops_nb as lo


def test_annotate_is_the_function_even_after_the_old_module_is_imported():
    sys.modules.pop("llmops_nb.annotate", None)
    with pytest.warns(DeprecationWarning, match="llmops_nb.annotation"):
        old = importlib.import_module("llmops_nb.annotate")
    from llmops_nb.annotation import Question, annotate

    assert old.Question is Question  # the old module path keeps working for one release
    assert lo.annotate is annotate
    assert "function annotate" in pydoc.render_doc(lo.annotate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from llmops_nb.annotate import queue_from_selection  # noqa: F401


def test_the_annotation_package_is_reachable_under_its_new_name():
    assert lo.annotation.__name__ == "llmops_nb.annotation"
    assert "annotate" in lo.annotation.__all__
    assert lo.llm.Runner is lo.evals.Runner


def test_one_wilson_interval_everywhere_and_the_old_name_warns():
    from llmops_nb.annotation import wilson as annotation_wilson
    from llmops_nb.stats import wilson

    assert annotation_wilson is wilson
    with pytest.warns(DeprecationWarning, match="llmops_nb.stats.wilson"):
        lo_, hi = lo.analysis.wilson_interval(np.array([5]), np.array([100]))
    assert (float(lo_[0]), float(hi[0])) == wilson(5, 100)
