"""Embedding similarity: cosine similarity between each prediction and its reference.

``model="hashing"`` (default) embeds offline with character n-gram hashing (lexical, no download);
``model="sentence-transformers/<name>"`` uses sentence-transformers if installed; any other name
is a litellm embedding model (``api_base`` / ``api_key`` accepted), e.g. a local server.
"""

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Cosine similarity of prediction and reference embeddings (hashing n-grams, sentence-transformers or any litellm embedding model)."
_KWARGS = """
Args:
    predictions: list of str.
    references: list of str.
    model: "hashing" (default), "sentence-transformers/<name>", or a litellm embedding model name.
    api_base, api_key: for litellm models.
    per_item: per-pair similarities instead of their mean.
Returns:
    {"similarity": float or list of float}
"""


def _embed(texts, model, api_base=None, api_key=None):
    texts = ["" if t is None else str(t) for t in texts]
    if model == "hashing":
        from sklearn.feature_extraction.text import HashingVectorizer

        vec = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=2 ** 18, alternate_sign=False, norm="l2")
        return vec.transform(texts)
    if model.startswith("sentence-transformers/"):
        from sentence_transformers import SentenceTransformer

        return np.asarray(SentenceTransformer(model).encode(texts, normalize_embeddings=True))
    from llmops_nb.llm import embed  # the shared runner: retries, pacing, budget, cost ledger

    kw = {}
    if api_base:
        kw["api_base"] = api_base
    if api_key:
        kw["api_key"] = api_key
    return np.asarray(embed(texts, model, **kw), dtype="float64")


def _rowdot(a, b):
    if hasattr(a, "multiply"):
        return np.asarray(a.multiply(b).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", a, b)


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS)
class EmbeddingSimilarity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references, model="hashing", api_base=None, api_key=None, per_item=False):
        if not predictions:
            return {"similarity": [] if per_item else 0.0}
        emb = _embed(list(predictions) + list(references), model, api_base, api_key)
        n = len(predictions)
        sims = _rowdot(emb[:n], emb[n:])
        sims = [float(x) for x in sims]
        if per_item:
            return {"similarity": sims}
        return {"similarity": sum(sims) / len(sims)}
