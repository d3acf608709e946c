"""Tags: names that point at a version and move, kept as an append-only Delta table of tag moves
beside the dataset (who moved which tag when); and resolving a version given as a number, a tag
or ``latest``."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa

from llmops_nb._compat import renamed_argument
from llmops_nb.datasets._errors import DatasetConflictError, DatasetError
from llmops_nb.datasets._location import (
    _RETRIES,
    DatasetStorage,
    _author,
    _check_name,
    _lock,
    _open,
    no_version_message,
    resolve_storage,
)

__all__ = ["tags", "tag"]


_TAG = re.compile(r"^(?!\d+$)[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")


def _check_tag(t: str) -> str:
    if not isinstance(t, str) or not _TAG.match(t):
        raise DatasetError(
            f"invalid tag {t!r}: use letters, digits, '.', '_', '-' or '/', not only digits (those are versions)"
        )
    return t


_TAG_SCHEMA = pa.schema(
    [
        ("tag", pa.string()),
        ("version", pa.int64()),
        ("author", pa.string()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("event_id", pa.string()),
    ]
)


@renamed_argument("storage", "store", "llmops_nb.datasets.tags")
def tags(name: str, *, store: Any = None) -> dict[str, int]:
    """The current tags of a dataset: ``{tag: version}``.

    Example:
        >>> import tempfile, pandas as pd
        >>> from llmops_nb.datasets import save
        >>> root = tempfile.mkdtemp()
        >>> _ = save(pd.DataFrame({"example_id": ["a"]}), "t", message="m", store=root, tags=["gold"])
        >>> tags("t", store=root)
        {'gold': 0}
    """
    from deltalake import DeltaTable

    st = resolve_storage(store)
    uri = st.tags_uri(_check_name(name))
    if not DeltaTable.is_deltatable(uri, storage_options=st.delta_options()):
        return {}
    t = DeltaTable(uri, storage_options=st.delta_options()).to_pyarrow_table()
    rows = sorted(t.to_pylist(), key=lambda r: (r["created_at"], r["event_id"]))
    out: dict[str, int] = {}
    for r in rows:
        if r["version"] is None or r["version"] < 0:
            out.pop(r["tag"], None)
        else:
            out[r["tag"]] = int(r["version"])
    return dict(sorted(out.items()))


@renamed_argument("storage", "store", "llmops_nb.datasets.tag")
def tag(name: str, version: int | str | None, tag: str, *, store: Any = None, author: str | None = None) -> None:
    """Point ``tag`` at ``version`` of dataset ``name`` (tags move; ``version=None`` removes it).

    Tag moves are appended to a small Delta table beside the dataset, one atomic commit each,
    so the record of who moved which tag when is kept. ``version`` may be a number or a tag.

    Example:
        >>> import tempfile, pandas as pd
        >>> from llmops_nb.datasets import save
        >>> root = tempfile.mkdtemp()
        >>> _ = save(pd.DataFrame({"example_id": ["a"]}), "t", message="m", store=root)
        >>> tag("t", 0, "baseline", store=root); tags("t", store=root)
        {'baseline': 0}
    """
    from deltalake import write_deltalake

    st = resolve_storage(store)
    _check_tag(tag)
    dt = _open(name, st)
    if version is None:
        v = -1
    else:
        v = _resolve_version(name, version, st)
        latest = dt.version()
        if not 0 <= v <= latest:
            raise DatasetError(no_version_message(name, v, latest))
    row = pa.Table.from_pylist(
        [{"tag": tag, "version": v, "author": _author(author),
          "created_at": datetime.now(timezone.utc), "event_id": uuid.uuid4().hex}],
        schema=_TAG_SCHEMA,
    )
    with _lock(name, st):  # the dataset's writer lock, like every other write (a no-op on object storage)
        for attempt in range(_RETRIES):
            try:
                write_deltalake(st.tags_uri(name), row, mode="append", storage_options=st.delta_options())
                return
            except Exception as e:  # concurrent appends (object storage, no lock) rarely conflict: retry
                if attempt == _RETRIES - 1:
                    raise DatasetConflictError(f"could not move tag {tag!r} of {name!r}: {e}") from e
                time.sleep(0.05 * (attempt + 1))


def _resolve_version(name: str, version: int | str | None, st: DatasetStorage) -> int:
    if version is None:
        return int(_open(name, st).version())
    if isinstance(version, (int, np.integer)) and not isinstance(version, bool):
        if version < 0:  # -1 is the latest, -2 the one before, ...
            return int(_open(name, st).version()) + 1 + int(version)
        return int(version)
    if isinstance(version, str):
        if version.isdigit():
            return int(version)
        if version.startswith("v") and version[1:].isdigit():
            return int(version[1:])
        if version == "latest":
            return int(_open(name, st).version())
        tmap = tags(name, store=st)
        if version in tmap:
            return tmap[version]
        raise DatasetError(f"dataset {name!r} has no tag {version!r}; its tags are {tmap or 'none'}. Give a "
                           f"version number or one of those tags; `llmops-nb datasets history {name}` lists them")
    raise DatasetError(f"a version is a number, 'latest' or a tag name; got {version!r}")
