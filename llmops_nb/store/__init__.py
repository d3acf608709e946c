"""The embedded store: spans, results, labels and declared tables, on disk, no server.

Example:
    >>> from llmops_nb.store import Store
    >>> Store("/tmp/llmops-example").tables()
    []
"""

from llmops_nb.store._store import Store, TableSpec, as_store, default_store_path

__all__ = ["Store", "TableSpec", "as_store", "default_store_path"]
