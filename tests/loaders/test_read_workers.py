"""read_traces(paths, workers=N) reads files on N processes and gives one worker's frame and report."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from llmops_nb.loaders import LoadError, _read, read_traces

ROOT = Path(__file__).resolve().parents[2]
PRODUCERS = ROOT / "tests" / "loaders" / "data" / "producers"
FIXTURES = ROOT.parent / "shared" / "fixtures"


def _files() -> list[str]:
    files = [str(p) for p in sorted(PRODUCERS.rglob("*.json")) if "payload" in p.parts]
    for d in ("otlp-examples", "openinference", "any-agent"):
        files += [str(p) for p in sorted((FIXTURES / d).rglob("*.json"))]
    return files


def test_workers_give_one_workers_frame_and_report(tmp_path: Path) -> None:
    files = _files()
    assert len(files) >= 6
    # the same trace twice (deduplicated across files) and a bad file in the middle: cross-file work and errors
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "ab", "spanId": [1, 2]}]}]}]}')
    files = files[:3] + [str(bad)] + files[3:] + files[:2]
    one, rep1 = read_traces(files, workers=1, errors="skip")
    many, rep3 = read_traces(files, workers=3, errors="skip")
    assert len(one) > 100
    pd.testing.assert_frame_equal(one, many)
    assert len(rep1) >= 1
    pd.testing.assert_frame_equal(pd.DataFrame(rep1), pd.DataFrame(rep3))


def test_workers_raise_the_first_error_in_file_order(tmp_path: Path) -> None:
    files = _files()[:4]
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceSpans": 7}')
    with pytest.raises(LoadError) as one:
        read_traces(files + [str(bad)], workers=1)
    with pytest.raises(LoadError) as many:
        read_traces(files + [str(bad)], workers=2)
    assert str(one.value) == str(many.value) and many.value.file == str(bad)


def test_workers_choice() -> None:
    files = _files()[:3]
    assert _read._n_workers(files, 1) == 1
    assert _read._n_workers(files, 8) == 3  # never more processes than files
    assert _read._n_workers(files, None) == 1  # small files: read here, no process started
    assert _read._n_workers([files[0]], 4) == 1
    with pytest.raises(ValueError, match="workers=0"):
        read_traces(files, workers=0)
