"""Error analysis: where failures concentrate (slices), what they look like (clusters), what
they are (open and axial coding into a failure taxonomy) and what to do next.

Example:
    >>> import llmops_nb as lo
    >>> callable(lo.find_slices)
    True
"""

from llmops_nb._compat import deprecated_alias
from llmops_nb.analysis._cluster import Clusters, cluster, distinctive_terms, name_clusters_with_llm
from llmops_nb.analysis._coding import (
    TAXONOMIES,
    FailureMode,
    Taxonomy,
    assign_failure_modes,
    failure_mode_pivot,
    notes_from_labels,
    propose_taxonomy,
)
from llmops_nb.analysis._dims import auto_columns, dimension_mask, slice_masks
from llmops_nb.analysis._embed import (
    Embedder,
    EmbeddingCache,
    LiteLLMEmbedder,
    SentenceTransformerEmbedder,
    TfidfEmbedder,
    embed_texts,
    get_embedder,
)
from llmops_nb.analysis._facets import DEFAULT_FACETS, FACET_MARKER, facet_table, facets
from llmops_nb.analysis._frame import trace_digest, trace_features
from llmops_nb.analysis._next_steps import NextSteps, suggest_next_steps
from llmops_nb.analysis._slices import SliceTable, find_slices, plot_slices
from llmops_nb.analysis._topics import Topics, distinctive_phrases, topics
from llmops_nb.results import outcome_from_results
from llmops_nb.stats import benjamini_hochberg, fisher_vs_rest, log_fisher_vs_rest, wilson

# the statistics live in llmops_nb.stats; these names stay for one release
wilson_interval = deprecated_alias(wilson, "llmops_nb.analysis.wilson_interval", "llmops_nb.stats.wilson")

__all__ = [
    "find_slices",
    "plot_slices",
    "SliceTable",
    "dimension_mask",
    "slice_masks",
    "auto_columns",
    "suggest_next_steps",
    "NextSteps",
    "propose_taxonomy",
    "assign_failure_modes",
    "failure_mode_pivot",
    "notes_from_labels",
    "Taxonomy",
    "FailureMode",
    "TAXONOMIES",
    "cluster",
    "Clusters",
    "facets",
    "facet_table",
    "DEFAULT_FACETS",
    "FACET_MARKER",
    "topics",
    "Topics",
    "distinctive_phrases",
    "distinctive_terms",
    "name_clusters_with_llm",
    "Embedder",
    "TfidfEmbedder",
    "SentenceTransformerEmbedder",
    "LiteLLMEmbedder",
    "EmbeddingCache",
    "get_embedder",
    "embed_texts",
    "trace_features",
    "trace_digest",
    "outcome_from_results",
    "wilson_interval",
    "fisher_vs_rest",
    "log_fisher_vs_rest",
    "benjamini_hochberg",
]
