"""A file named directly never loads as an empty frame: it gives spans, or a LoadError that
names the file and says what was found (issue 13, section 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import llmops_nb as lo
from llmops_nb.loaders import LoadError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures"  # read in place, never copied


def _outcome(path) -> str:
    try:
        df = lo.read_traces(path)
    except LoadError as e:
        assert str(path) in str(e), f"the error does not name the file: {e}"
        return "error"
    return "rows" if len(df) else "EMPTY"


def test_every_shared_fixture_gives_spans_or_a_clear_error():
    if not FIXTURES.exists():
        pytest.skip(f"{FIXTURES} is absent")
    files = sorted(p for p in FIXTURES.rglob("*") if p.is_file())
    outcomes = {str(p.relative_to(FIXTURES)): _outcome(p) for p in files}
    empty = [f for f, o in outcomes.items() if o == "EMPTY"]
    assert not empty, f"named files loaded as 0 rows without an error: {empty}"
    # and the trace files among them do load (every file of real/ is a trace file)
    assert all(o == "rows" for f, o in outcomes.items() if f.startswith("real/") and f.rsplit("/", 1)[-1] not in (
        "EXPECTED.json", "SOURCES.md") and not f.rsplit("/", 1)[-1].startswith("LICENSE"))


def test_non_trace_files_are_errors_naming_what_was_found(tmp_path):
    readme = ROOT / "README.md"
    with pytest.raises(LoadError, match=r"README\.md.*not a trace file.*'\.md'"):
        lo.read_traces(readme)
    pkg = tmp_path / "package.json"
    pkg.write_text(json.dumps({"name": "my-app", "version": "1.0.0", "dependencies": {"openai": "^4.0.0"}}))
    with pytest.raises(LoadError, match=r"package\.json.*could not tell the format.*'dependencies'"):
        lo.read_traces(pkg)
    cassette = tmp_path / "unrelated.yaml"
    cassette.write_text(
        "interactions:\n"
        "- request:\n    method: GET\n    uri: https://api.github.com/repos/x/y\n    body: null\n"
        "  response:\n    status: {code: 200, message: OK}\n    body: {string: '{\"id\": 1, \"name\": \"y\"}'}\n"
        "- request:\n    method: POST\n    uri: https://example.com/telemetry\n    body: '{\"event\": \"run\"}'\n"
        "  response:\n    status: {code: 204, message: No Content}\n    body: {string: ''}\n"
        "version: 1\n")
    with pytest.raises(LoadError, match=r"unrelated\.yaml.*2 recorded HTTP call\(s\), none of them a model provider call"
                                        r".*GET https://api\.github\.com/repos/x/y"):
        lo.read_traces(cassette)
    empty_list = tmp_path / "empty.json"
    empty_list.write_text("[]")
    with pytest.raises(LoadError, match=r"empty\.json.*no spans found"):
        lo.read_traces(empty_list)
    # errors="skip" reports the file instead of raising, and still returns no rows for it
    df, report = lo.read_traces([str(cassette), str(pkg)], errors="skip")
    assert len(df) == 0 and len(report) == 2 and set(report["file"]) == {str(cassette), str(pkg)}


def test_a_directory_walk_ignores_non_trace_files(tmp_path):
    (tmp_path / "notes.md").write_text("# notes")
    (tmp_path / "unrelated.yaml").write_text("interactions: []\nversion: 1\n")
    (tmp_path / "spans.jsonl").write_text(json.dumps({"trace_id": "t", "span_id": "s", "kind": "llm"}) + "\n")
    df, report = lo.read_traces(tmp_path, errors="skip")
    assert len(df) == 1
    assert set(report["action"]) == {"ignored: not a trace file"}
