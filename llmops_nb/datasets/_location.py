"""Where datasets live and how a dataset's Delta table is reached: the storage (a local folder
or an object-storage URL with its options), names, the per-dataset writer lock, listing.

Layout (local or object storage): ``<root>/<name>/`` is a plain Delta table (one full snapshot
per version, so time travel is ``DeltaTable(uri, version=v)`` and Spark, DuckDB or Polars read it
as is); ``<root>/<name>/_llmops_tags/`` is a small append-only Delta table of tag moves (Delta
readers and VACUUM skip folders whose name starts with ``_``). Each version's commit carries the
message, author, llmops_nb version, examples schema version, row count and tags in its metadata.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops_nb.datasets._errors import DatasetError

__all__ = ["DatasetStorage", "resolve_storage"]


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


_TAGS_DIR = "_llmops_tags"


_RETRIES = 8


_META = "llmops_nb."


@dataclass(frozen=True)
class DatasetStorage:
    """Where datasets live: a local folder or an object-storage URL, with its options.

    ``options`` are Delta Lake / object_store storage options (for S3: ``AWS_ENDPOINT_URL``,
    ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``, ``AWS_ALLOW_HTTP``); for an
    ``s3://`` URL without options they are read from the same environment variables.

    Example:
        >>> DatasetStorage("/tmp/ds").uri("qa")
        '/tmp/ds/qa'
    """

    root: str
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return "://" not in self.root or self.root.startswith("file://")

    @property
    def local_root(self) -> Path:
        return Path(self.root[len("file://"):] if self.root.startswith("file://") else self.root)

    def uri(self, name: str) -> str:
        if self.is_local:
            return str(self.local_root / name)
        return self.root.rstrip("/") + "/" + name

    def tags_uri(self, name: str) -> str:
        return self.uri(name).rstrip("/") + "/" + _TAGS_DIR

    def delta_options(self) -> dict[str, str] | None:
        return dict(self.options) if self.options else None


_AWS_ENV = (
    "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ALLOW_HTTP",
)


def resolve_storage(storage: Any = None) -> DatasetStorage:
    """Turn ``storage`` (None, a folder, a URL, a :class:`~llmops_nb.store.Store` or a
    :class:`DatasetStorage`) into a :class:`DatasetStorage`.

    None means ``$LLMOPS_NB_DATASETS`` when set (a folder or a URL such as ``s3://team/evals``),
    else ``$LLMOPS_NB_HOME/datasets`` (or ``./.llmops/datasets``), beside the store.

    Example:
        >>> resolve_storage("/tmp/x").root
        '/tmp/x'
    """
    if isinstance(storage, DatasetStorage):
        if storage.root.startswith(("s3://", "s3a://")):
            return DatasetStorage(storage.root, _safe_s3(storage.options))
        return storage
    if storage is None and os.environ.get("LLMOPS_NB_DATASETS"):
        storage = os.environ["LLMOPS_NB_DATASETS"]
    if storage is None:
        from llmops_nb.store import default_store_path

        return DatasetStorage(str(default_store_path() / "datasets"))
    if hasattr(storage, "path") and hasattr(storage, "add_spans"):
        return DatasetStorage(str(Path(storage.path) / "datasets"))
    if isinstance(storage, (str, os.PathLike)):
        root = str(storage)
        if root.startswith("s3://") or root.startswith("s3a://"):
            opts = {k: os.environ[k] for k in _AWS_ENV if os.environ.get(k)}
            if "AWS_REGION" not in opts and "AWS_DEFAULT_REGION" in opts:
                opts["AWS_REGION"] = opts["AWS_DEFAULT_REGION"]
            opts.pop("AWS_DEFAULT_REGION", None)
            if opts.get("AWS_ENDPOINT_URL", "").startswith("http://"):
                opts.setdefault("AWS_ALLOW_HTTP", "true")
            return DatasetStorage(root, _safe_s3(opts))
        return DatasetStorage(root)
    raise TypeError(
        f"storage must be a folder, a URL (s3://bucket/prefix), a Store or a DatasetStorage; got {type(storage).__name__}"
    )


def _safe_s3(opts: Mapping[str, str]) -> dict[str, str]:
    """S3 options with atomic commits: conditional PUT (If-None-Match) of each commit file,
    which AWS S3, MinIO, R2 and moto honour, unless a locking provider or unsafe renames are set."""
    out = dict(opts)
    keys = {k.lower() for k in out}
    if not keys & {"aws_conditional_put", "conditional_put", "aws_s3_locking_provider", "aws_s3_allow_unsafe_rename"}:
        out["aws_conditional_put"] = "etag"
    return out


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise DatasetError(
            f"invalid dataset name {name!r}: use letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def _author(author: str | None) -> str:
    if author:
        return author
    env = os.environ.get("LLMOPS_NB_AUTHOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no user database
        return "unknown"


def _library_version() -> str:
    from llmops_nb import __version__

    return __version__


def _open(name: str, st: DatasetStorage, version: int | None = None) -> Any:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    uri = st.uri(_check_name(name))
    try:
        if version is None:
            return DeltaTable(uri, storage_options=st.delta_options())
        return DeltaTable(uri, version=version, storage_options=st.delta_options())
    except TableNotFoundError:
        known = [d for d in _list_names(st)]
        raise DatasetError(
            f"no dataset {name!r} in {st.root}; datasets there: {known or 'none'}. "
            "Save one with llmops_nb.datasets.save(frame, name, message=...)"
        ) from None
    except Exception as e:
        if version is not None and ("version" in str(e).lower() or "not found" in str(e).lower()):
            latest = DeltaTable(uri, storage_options=st.delta_options()).version()
            raise DatasetError(no_version_message(name, version, latest)) from None
        raise


def _commit_info(name: str, st: DatasetStorage) -> list[dict[str, Any]]:

    dt = _open(name, st)
    return list(dt.history())


def no_version_message(name: str, version: Any, latest: int) -> str:
    """The error for a version that does not exist: which, the ones that do, how to find them."""
    return (f"dataset {name!r} has no version {version}; its versions are 0..{latest} (-1 is the latest). "
            f"Give one of those or a tag; `llmops-nb datasets history {name}` (or "
            f"llmops_nb.datasets.history({name!r})) lists them with their tags")


def _lock(name: str, st: DatasetStorage) -> Any:

    if not st.is_local:
        return contextlib.nullcontext()
    from filelock import FileLock

    d = st.local_root / ".locks"
    d.mkdir(parents=True, exist_ok=True)
    return FileLock(str(d / f"{name}.lock"), timeout=600)


def _list_names(st: DatasetStorage) -> list[str]:
    from deltalake import DeltaTable

    if st.is_local:
        root = st.local_root
        if not root.exists():
            return []
        return sorted(
            p.name for p in root.iterdir()
            if p.is_dir() and _NAME.match(p.name) and (p / "_delta_log").is_dir()
        )
    import pyarrow.fs as pafs

    fs, base = _arrow_fs(st)
    try:
        infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    except OSError:
        return []
    names = []
    for info in infos:
        if info.type == pafs.FileType.Directory:
            nm = info.path.rstrip("/").rsplit("/", 1)[-1]
            if _NAME.match(nm) and DeltaTable.is_deltatable(st.uri(nm), storage_options=st.delta_options()):
                names.append(nm)
    return sorted(names)


def _arrow_fs(st: DatasetStorage) -> tuple[Any, str]:
    import pyarrow.fs as pafs

    root = st.root
    if root.startswith(("s3://", "s3a://")):
        o = dict(st.options)
        ep = o.get("AWS_ENDPOINT_URL") or o.get("aws_endpoint_url") or o.get("endpoint_url")
        kw: dict[str, Any] = {}
        if ep:
            scheme, _, host = ep.partition("://")
            kw["endpoint_override"] = host
            kw["scheme"] = scheme
        if o.get("AWS_ACCESS_KEY_ID"):
            kw["access_key"] = o["AWS_ACCESS_KEY_ID"]
            kw["secret_key"] = o.get("AWS_SECRET_ACCESS_KEY")
        if o.get("AWS_SESSION_TOKEN"):
            kw["session_token"] = o["AWS_SESSION_TOKEN"]
        if o.get("AWS_REGION"):
            kw["region"] = o["AWS_REGION"]
        return pafs.S3FileSystem(**kw), root.split("://", 1)[1].rstrip("/")
    fs, path = pafs.FileSystem.from_uri(root)
    return fs, path
