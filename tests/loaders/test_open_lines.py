"""``open_lines`` reads plain files through a memory map: the same lines as reading them with
``readline``, the same size limit, and an error (not a crash) when the file shrinks under it."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from llmops_nb.loaders import _common
from llmops_nb.loaders._common import LoadError, decompressed_limit, open_lines


def _readline_lines(path: Path) -> list[bytes]:
    with open(path, "rb") as f:
        return list(iter(f.readline, b""))


@pytest.mark.parametrize("data", [
    b'{"a": 1}\n{"b": 2}\n', b'{"a": 1}\n{"b": 2}', b"\n\n{}\n\n", b"x\r\ny\r\n", b"only one line",
    b"\n", b"a\n" * 5000, b"".join(b"%d\n" % i * (i % 7) for i in range(300)),
])
def test_mapped_lines_are_readlines(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "f.jsonl"
    p.write_bytes(data)
    assert _common._mapped_lines(str(p), None) is not None  # the mapped path is the one tested
    assert list(open_lines(str(p))) == _readline_lines(p)


def test_an_empty_file_and_gzip_read_as_before(tmp_path: Path) -> None:
    empty = tmp_path / "e.jsonl"
    empty.write_bytes(b"")
    assert _common._mapped_lines(str(empty), None) is None and list(open_lines(str(empty))) == []
    gz = tmp_path / "g.jsonl.gz"
    gz.write_bytes(gzip.compress(b"1\n2\n"))
    assert list(open_lines(str(gz))) == [b"1\n", b"2\n"]


def test_a_line_over_the_limit_is_a_load_error(tmp_path: Path) -> None:
    p = tmp_path / "big.jsonl"
    p.write_bytes(b"short\n" + b"x" * 100 + b"\nafter\n")
    with decompressed_limit(50):
        lines = open_lines(str(p))
        assert next(lines) == b"short\n"
        with pytest.raises(LoadError, match="big.jsonl"):
            next(lines)
    with decompressed_limit(101):  # the line and its newline: 101 bytes
        assert list(open_lines(str(p)))[1] == b"x" * 100 + b"\n"


def test_a_file_truncated_while_read_is_a_load_error_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_common, "_CHECK_EVERY", 1)  # check before every line
    p = tmp_path / "live.jsonl"
    p.write_bytes(b"".join(b'{"n": %d}\n' % i for i in range(1000)))
    lines = open_lines(str(p))
    assert next(lines) == b'{"n": 0}\n'
    with open(p, "r+b") as f:
        f.truncate(20)  # the writer starts the file over
    with pytest.raises(LoadError, match="shrank"):
        list(lines)
