"""Views that link: ``explore`` (a trace table paged in Python beside the trace viewer; a
selection becomes a DataFrame, a queue or a dataset) and ``compare_outputs`` (two runs' outputs
side by side with a word diff and score deltas).

Example:
    >>> import llmops_nb as lo, pandas as pd
    >>> w = lo.explore(pd.DataFrame({"trace_id": ["a", "b"], "input_text": ["hi", "yo"]}))
    >>> w.page["matching"]
    2
"""

from llmops_nb.views._compare import STATUSES, OutputComparison, compare_outputs, word_diff_html
from llmops_nb.views._explore import Explorer, explore

__all__ = ["Explorer", "OutputComparison", "STATUSES", "compare_outputs", "explore", "word_diff_html"]
