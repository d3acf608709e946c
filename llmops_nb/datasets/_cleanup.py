"""Cleanup: delete the data files no version references (leftovers of killed or retried saves),
never a file a version needs, never while a save holds the dataset's lock."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd

from llmops_nb._compat import renamed_argument
from llmops_nb.datasets._errors import DatasetError
from llmops_nb.datasets._location import (
    _TAGS_DIR,
    DatasetStorage,
    _arrow_fs,
    _check_name,
    _lock,
    _open,
    resolve_storage,
)

__all__ = ["cleanup"]


_STAGING = re.compile(r"#\d+$")  # a file being written: object_store writes `<name>#<n>`, then renames it


def _remove_staging(name: str, st: DatasetStorage) -> list[str]:
    """Under the dataset's lock (no save in progress): delete the staging files of killed saves
    (``part-....parquet#1``: a data file cut mid-write, never referenced by any version)."""
    if not st.is_local:
        return []
    base = Path(st.uri(name))
    out = []
    if base.is_dir():  # the data files and the commit log (the tags table is left as it is)
        for p in [*base.glob("*#*"), *base.glob("_delta_log/*#*")]:
            if p.is_file() and _STAGING.search(p.name):
                p.unlink(missing_ok=True)
                out.append(str(p.relative_to(base)))
    return out


@renamed_argument("storage", "store", "llmops_nb.datasets.cleanup")
def cleanup(
    name: str,
    *,
    older_than_hours: float = 1.0,
    dry_run: bool = False,
    store: Any = None,
) -> pd.DataFrame:
    """Delete data files that no version of ``name`` references: the leftovers of a killed save
    (data files, and the staging files ``...parquet#1`` of a write cut short) or of a write redone
    after a conflict. Every version stays loadable (unlike Delta's VACUUM, which drops the files of
    old versions). On a local folder nothing is deleted while a save holds the dataset's lock
    (``deleted`` False, ``reason`` says so), and every orphan is deleted otherwise, whatever its age;
    on object storage (no lock), files younger than ``older_than_hours`` are kept, as they may
    belong to a save in progress. A save also deletes staging files left by killed saves. Returns
    one row per orphan file (path, bytes, age, deleted, reason).

    Example:
        >>> import tempfile, pandas as pd
        >>> from llmops_nb.datasets import save
        >>> root = tempfile.mkdtemp()
        >>> _ = save(pd.DataFrame({"example_id": ["a"]}), "c", message="m", store=root)
        >>> len(cleanup("c", store=root, older_than_hours=0))
        0
    """

    from filelock import Timeout

    st = resolve_storage(store)
    _check_name(name)
    cols = ["path", "bytes", "age_hours", "deleted", "reason"]
    if not st.is_local:
        return pd.DataFrame(_cleanup_orphans(name, st, older_than_hours, dry_run), columns=cols)
    if not Path(st.uri(name)).is_dir():
        _open(name, st)  # raises: no such dataset, naming the ones there are
    lock = _lock(name, st)
    lock.timeout = 0
    try:
        lock.acquire()
    except Timeout:  # a save is writing now: its files may look orphaned, so touch nothing
        rows = _cleanup_orphans(name, st, older_than_hours, dry_run=True)
        for r in rows:
            r.update(deleted=False, reason="a save holds the dataset's lock; run cleanup again after it")
        return pd.DataFrame(rows, columns=cols)
    try:
        return pd.DataFrame(_cleanup_orphans(name, st, None, dry_run), columns=cols)
    finally:
        with contextlib.suppress(Exception):
            lock.release()


def _cleanup_orphans(name: str, st: DatasetStorage, older_than_hours: float | None, dry_run: bool) -> list[dict[str, Any]]:
    import pyarrow.fs as pafs
    from deltalake import DeltaTable

    referenced: set[str] = set()
    try:
        dt = _open(name, st)
    except DatasetError:  # the first save was killed before its commit: no version references anything
        dt = None
    for v in range(dt.version() + 1 if dt is not None else 0):
        try:
            snap = DeltaTable(st.uri(name), version=v, storage_options=st.delta_options())
        except Exception:  # a version whose log was cleaned up can no longer be loaded
            continue
        referenced.update(u.rsplit("/", 1)[-1] for u in snap.file_uris())
    if st.is_local:
        fs, base = pafs.LocalFileSystem(), str(Path(st.uri(name)).resolve())
    else:
        fs, root = _arrow_fs(st)
        base = root + "/" + name
    now = time.time()
    rows = []
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=True)):
        rel = info.path[len(base):].lstrip("/")
        if info.type != pafs.FileType.File:
            continue
        staging = bool(_STAGING.search(rel)) and not rel.startswith((".", _TAGS_DIR))
        if not staging and (rel.startswith(("_", ".")) or "/_" in rel):
            continue
        if not staging and (not rel.endswith(".parquet") or rel.rsplit("/", 1)[-1] in referenced):
            continue
        mtime = info.mtime.timestamp() if info.mtime is not None else now
        age_h = (now - mtime) / 3600
        delete = older_than_hours is None or age_h >= older_than_hours
        if delete and not dry_run:
            fs.delete_file(info.path)
        reason = ("staging file of a killed save" if staging else "referenced by no version")
        if not delete:
            reason = f"younger than {older_than_hours} h (may belong to a save in progress)"
        rows.append({"path": rel, "bytes": info.size, "age_hours": round(age_h, 3), "deleted": delete and not dry_run,
                     "reason": reason})
    return rows
