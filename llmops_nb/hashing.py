"""Stable hashes: the same number for the same value on every machine, in every process and
release (unlike ``hash()``). They decide stored things (dataset splits and samples, judge
alignment splits, annotation queue order, monitor sampling), so each algorithm is named and never
changes; a new need gets a new name rather than a changed one.

The algorithms (``salt`` is text; the value is hashed as ``str(value)`` in UTF-8):

- ``"sha256"``: the first 8 bytes (big-endian) of SHA-256 of ``salt + value``. Dataset splits and
  stratified samples (salts ``"<salt>:"``, ``"sample:<seed>:"``) and alignment splits
  (``"llmops_nb:"``) use it.
- ``"blake2b"``: BLAKE2b with an 8-byte digest of ``salt + value``. Monitor sampling (salt
  ``"<salt>:"``) and the simulated judge use it.
- ``"blake2b-keyed"``: BLAKE2b with an 8-byte digest of ``value``, keyed with the first 64 bytes
  of ``salt``. Annotation queue order (salt = the queue's seed) uses it.

Example:
    >>> [int(h) for h in hash64(["t-001"], salt="0", algorithm="blake2b-keyed")]
    [3117086803806645394]
    >>> float(uniform(["t-001"], salt="sample:0:")[0]).hex()
    '0x1.4364dfe8b1b54p-1'
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = ["ALGORITHMS", "hash64", "uniform"]


def _sha256(salt: bytes, value: bytes) -> bytes:
    return hashlib.sha256(salt + value).digest()[:8]


def _blake2b(salt: bytes, value: bytes) -> bytes:
    return hashlib.blake2b(salt + value, digest_size=8).digest()


def _blake2b_keyed(salt: bytes, value: bytes) -> bytes:
    return hashlib.blake2b(value, digest_size=8, key=salt[:64]).digest()


ALGORITHMS: dict[str, Callable[[bytes, bytes], bytes]] = {
    "sha256": _sha256,
    "blake2b": _blake2b,
    "blake2b-keyed": _blake2b_keyed,
}
"""The named algorithms: name -> (salt bytes, value bytes) -> 8 digest bytes."""


def hash64(values: Iterable[Any], *, salt: str = "", algorithm: str = "sha256") -> np.ndarray:
    """A 64-bit unsigned hash per value (``numpy.uint64``), by the named ``algorithm``.

    Example:
        >>> h = hash64(["a", "a", "b"], algorithm="blake2b").tolist()
        >>> h[0] == h[1] != h[2], h[0] == int(hash64(["a"], algorithm="blake2b")[0])
        (True, True)
        >>> hash64(["a"], algorithm="md5")
        Traceback (most recent call last):
        ValueError: algorithm='md5' is not a stable hash here; valid: ['sha256', 'blake2b', 'blake2b-keyed']
    """
    fn = ALGORITHMS.get(algorithm)
    if fn is None:
        raise ValueError(f"algorithm={algorithm!r} is not a stable hash here; valid: {list(ALGORITHMS)}")
    s = str(salt).encode("utf-8")
    return np.array([int.from_bytes(fn(s, str(v).encode("utf-8")), "big") for v in values], dtype=np.uint64)


def uniform(values: Iterable[Any], *, salt: str = "", algorithm: str = "sha256") -> np.ndarray:
    """A number in [0, 1) per value: :func:`hash64` divided by 2**64 (``float64``), so a share
    ``p`` of the values falls below ``p`` whatever else is hashed.

    Example:
        >>> u = uniform(["a", "b", "c"], salt="split:")
        >>> bool(((u >= 0) & (u < 1)).all()), float(u[0]) == float(uniform(["a"], salt="split:")[0])
        (True, True)
    """
    return hash64(values, salt=salt, algorithm=algorithm).astype(np.float64) / 2.0**64
