"""Leases: which annotator holds which queue item for now, so two people working at once in
separate kernels do not get the same item. A small table in the store (``annotate/leases.json``),
read and rewritten only under the store's writer lock, so a claim is atomic across processes;
an expired lease returns its item to the queue."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

__all__ = ["Leases", "leases"]


class Leases:
    """The leases table of one store (one row per held item and annotator)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    @property
    def path(self) -> Path:
        return Path(self.store.path) / "annotate" / "leases.json"

    def _read(self) -> list[dict[str, Any]]:
        try:
            return list(orjson.loads(self.path.read_bytes()))
        except FileNotFoundError:
            return []

    def _write(self, rows: list[dict[str, Any]]) -> None:
        """Under the store's writer lock: any other ``.leases.*.tmp`` was left by a killed writer."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for old in self.path.parent.glob(".leases.*.tmp"):
            old.unlink(missing_ok=True)
        tmp = self.path.with_name(f".leases.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as f:  # no fsync: a lease lost in a crash only frees its item early
            f.write(orjson.dumps(rows))
        os.replace(tmp, self.path)

    def active(self) -> list[dict[str, Any]]:
        """Leases not yet expired (read without the lock; a snapshot)."""
        now = time.time()
        return [r for r in self._read() if r["expires_at"] > now]

    def transact(
        self,
        annotator: str,
        pick: Callable[[dict[str, set[str]]], str | None],
        *,
        release: str | None = None,
        lease_s: float = 600.0,
        queue: str = "",
    ) -> str | None:
        """Under the writer lock: drop expired leases and ``annotator``'s lease on ``release``, call
        ``pick(active)`` (active: item_id -> annotators holding it) and lease what it returns."""
        with self.store.lock():
            now = time.time()
            rows = [r for r in self._read() if r["expires_at"] > now
                    and not (release is not None and r["annotator"] == annotator and r["item_id"] == release)]
            active: dict[str, set[str]] = {}
            for r in rows:
                active.setdefault(r["item_id"], set()).add(r["annotator"])
            chosen = pick(active)
            if chosen is not None:
                rows = [r for r in rows if not (r["annotator"] == annotator and r["item_id"] == chosen)]
                rows.append({"item_id": chosen, "annotator": annotator, "queue": queue,
                             "leased_at": now, "expires_at": now + lease_s})
            self._write(rows)
            return chosen


def leases(store: Any) -> pd.DataFrame:
    """The active leases of ``store``: one row per (item, annotator) with times in UTC.

    Example:
        >>> import llmops_nb as lo, tempfile
        >>> from llmops_nb.annotation import leases
        >>> leases(lo.Store(tempfile.mkdtemp())).shape[0]
        0
    """
    rows = Leases(store).active()
    df = pd.DataFrame(rows, columns=["item_id", "annotator", "queue", "leased_at", "expires_at"])
    for c in ("leased_at", "expires_at"):
        df[c] = pd.to_datetime(df[c], unit="s", utc=True)
    return df
