"""Versions: save/load, history, time travel, tags, diff, list, schema versions, exports, CLI, hub."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest

from llmops_nb import datasets as lds


def _frame(n: int, start: int = 0, text: str = "question") -> pd.DataFrame:
    ex = pd.DataFrame({
        "example_id": [f"ex{i}" for i in range(start, start + n)],
        "input_text": [f"{text} {i}" for i in range(start, start + n)],
        "expected_output": [f"answer {i}" for i in range(start, start + n)],
        "labels": [{"pass_fail": i % 2 == 0} for i in range(start, start + n)],
        "tags": [["seed"] for _ in range(n)],
        "priority": list(range(start, start + n)),
    })
    return lds.assign_splits(ex, {"train": 0.5, "test": 0.5})


def test_save_load_history_time_travel_and_tags(tmp_path):
    root = tmp_path / "ds"
    v0 = lds.save(_frame(10), "qa", message="first cut", store=root, author="ana", tags=["baseline"])
    v1 = lds.save(_frame(12), "qa", message="two more", store=root, author="bo")
    assert (v0.version, v1.version) == (0, 1)
    assert v0.tags == ("baseline",) and v1.n_rows == 12 and v1.author == "bo"
    assert not v0.redacted  # a local folder is not shared: no redaction unless asked
    h = lds.history("qa", store=root)
    assert h["version"].tolist() == [1, 0]
    assert h["message"].tolist() == ["two more", "first cut"]
    assert h["author"].tolist() == ["bo", "ana"] and h["rows"].tolist() == [12, 10]
    assert h["schema_version"].tolist() == [lds.SCHEMA_VERSION] * 2
    assert h["library_version"].iloc[0] and h["tags"].tolist() == [[], ["baseline"]]
    # time travel: version number, tag, latest, negative
    assert len(lds.load("qa", 0, store=root, as_="pandas")) == 10
    assert len(lds.load("qa", tag="baseline", store=root, as_="pandas")) == 10
    assert len(lds.load("qa", store=root, as_="pandas")) == 12
    assert len(lds.load("qa", -2, store=root, as_="pandas")) == 10
    assert len(lds.load("qa@0", store=root, as_="pandas")) == 10
    assert len(lds.load("qa@baseline", store=root, as_="pandas")) == 10
    # round trip of types
    df = lds.load("qa", store=root, as_="pandas")
    assert df.loc[0, "labels"] == {"pass_fail": True} and df.loc[0, "tags"] == ["seed"]
    assert df["priority"].tolist() == list(range(12))
    # tags move, and are recorded
    lds.tag("qa", 1, "baseline", store=root)
    assert lds.tags("qa", store=root) == {"baseline": 1}
    assert len(lds.load("qa", tag="baseline", store=root, as_="pandas")) == 12
    lds.tag("qa", "v0", "gold", store=root)
    lds.tag("qa", None, "baseline", store=root)
    assert lds.tags("qa", store=root) == {"gold": 0}
    with pytest.raises(lds.DatasetError, match="no tag 'nope'"):
        lds.load("qa", tag="nope", store=root)
    with pytest.raises(lds.DatasetError, match="no version 7"):
        lds.tag("qa", 7, "x", store=root)
    with pytest.raises(lds.DatasetError, match="no dataset 'other'"):
        lds.load("other", store=root)
    with pytest.raises(lds.DatasetError, match="non-empty message"):
        lds.save(_frame(1), "qa", message=" ", store=root)
    with pytest.raises(lds.DatasetError, match="repeat an example_id"):
        lds.save(pd.concat([_frame(2), _frame(2)]), "qa", message="dup", store=root)
    # listing
    lds.save(_frame(3), "smoke", message="s", store=root)
    ls = lds.list(store=root)
    assert ls["name"].tolist() == ["qa", "smoke"] and ls["version"].tolist() == [1, 0]
    assert lds.list is lds.list_datasets


def test_versions_are_immutable_plain_delta_tables(tmp_path):
    from deltalake import DeltaTable

    root = tmp_path / "ds"
    lds.save(_frame(5), "qa", message="a", store=root)
    lds.save(_frame(5, text="changed"), "qa", message="b", store=root)
    dt0 = DeltaTable(str(root / "qa"), version=0)
    assert dt0.to_pyarrow_table().column("input_text").to_pylist()[0] == "question 0"
    h = DeltaTable(str(root / "qa")).history()
    assert {x["llmops_nb.author"] for x in h} and h[0]["message"] == "b"
    # DuckDB reads a version through pyarrow
    import duckdb

    ds = DeltaTable(str(root / "qa"), version=1).to_pyarrow_dataset()  # noqa: F841 - read by DuckDB
    assert duckdb.sql("SELECT count(*) FROM ds").fetchall()[0][0] == 5


def test_load_as_datasets_with_splits(tmp_path):
    import datasets

    root = tmp_path / "ds"
    lds.save(_frame(40), "qa", message="m", store=root)
    dd = lds.load("qa", store=root)
    assert isinstance(dd, datasets.DatasetDict) and set(dd) == {"train", "test"}
    assert sum(len(d) for d in dd.values()) == 40
    test = lds.load("qa", store=root, split="test")
    assert isinstance(test, datasets.Dataset) and set(test["split"]) == {"test"}
    assert json.loads(test[0]["labels"]) in ({"pass_fail": True}, {"pass_fail": False})
    lds.save(_frame(5).drop(columns=["split"]), "nosplit", message="m", store=root)
    one = lds.load("nosplit", store=root)
    assert isinstance(one, datasets.Dataset) and one.num_rows == 5
    with pytest.raises(lds.DatasetError, match="no split 'dev'"):
        lds.load("qa", store=root, split="dev")


def test_diff_added_removed_changed(tmp_path):
    root = tmp_path / "ds"
    a = _frame(10)
    lds.save(a, "qa", message="a", store=root)
    b = a[a["example_id"] != "ex0"].copy()
    b.loc[b["example_id"] == "ex3", "expected_output"] = "better answer"
    b.loc[b["example_id"] == "ex4", "labels"] = pd.Series([{"pass_fail": "fail", "note": "x"}], index=b.index[b["example_id"] == "ex4"])
    b.loc[b["example_id"] == "ex5", "tags"] = pd.Series([["seed", "hard"]], index=b.index[b["example_id"] == "ex5"])
    b = pd.concat([b, _frame(2, start=100)], ignore_index=True)
    lds.save(b, "qa", message="b", store=root, tags=["candidate"])
    d = lds.diff("qa", 0, "candidate", store=root)
    assert d.added["example_id"].tolist() == ["ex100", "ex101"]
    assert d.removed["example_id"].tolist() == ["ex0"]
    ch = dict(zip(d.changed["example_id"], d.changed["changed_columns"]))
    assert ch == {"ex3": ["expected_output"], "ex4": ["labels"], "ex5": ["tags"]}
    assert d.unchanged == 6
    det = d.detail("ex3")
    assert det.to_dict("records") == [{"column": "expected_output", "before": "answer 3", "after": "better answer"}]
    assert "1 removed" in d.summary() and "3 changed" in d._repr_html_()
    # a dict with the same content in another key order is not a change
    c = b.copy()
    c["labels"] = c["labels"].map(lambda x: dict(reversed(list(x.items()))) if isinstance(x, dict) else x)
    lds.save(c, "qa", message="reordered", store=root)
    assert len(lds.diff("qa", 1, 2, store=root).changed) == 0
    # schema change: a column added in the newer version
    e = c.assign(difficulty="hard")
    lds.save(e, "qa", message="difficulty", store=root)
    d2 = lds.diff("qa", 2, 3, store=root)
    assert len(d2.changed) == len(e) and set(d2.column_counts().index) == {"difficulty"}


def test_older_schema_versions_load(tmp_path, monkeypatch):
    from deltalake import write_deltalake

    from llmops_nb.datasets import _migrations

    root = tmp_path / "ds"
    # a Delta table written by another tool: no llmops_nb metadata (schema version 0)
    write_deltalake(str(root / "legacy"), pa.table({"id": [1, 2], "question": ["q1", "q2"], "answer": ["a1", "a2"],
                                                     "expected": ["e1", "e2"]}))
    df = lds.load("legacy", store=root, as_="pandas")
    assert df["example_id"].tolist() == ["1", "2"] and df["input_text"].tolist() == ["q1", "q2"]
    assert df["output_text"].tolist() == ["a1", "a2"] and df["expected_output"].tolist() == ["e1", "e2"]
    assert lds.history("legacy", store=root)["schema_version"].tolist() == [0]
    # a version saved now, read by a next library whose schema 2 renamed a column
    lds.save(_frame(3), "qa", message="v1 layout", store=root)
    monkeypatch.setattr(_migrations, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(_migrations.MIGRATIONS, 1, lambda t: t.rename_columns(["priority_v2" if c == "priority" else c for c in t.column_names]))
    up = lds.load("qa", store=root, as_="pandas")
    assert "priority_v2" in up.columns and "priority" not in up.columns
    monkeypatch.setattr(_migrations, "SCHEMA_VERSION", 1)
    monkeypatch.setitem(_migrations.MIGRATIONS, 1, None)
    # and a version from a newer library is refused with the fix
    lds.save(_frame(3), "new", message="x", store=root)
    monkeypatch.setattr(_migrations, "SCHEMA_VERSION", 0)
    with pytest.raises(lds.DatasetError, match="upgrade llmops_nb"):
        lds.load("new", store=root)


def test_exports_redact_by_default(tmp_path, capsys):
    import datasets

    root = tmp_path / "ds"
    f = _frame(4)
    f.loc[0, "input_text"] = "my email is ann.lee@corp.io"
    f["input_messages"] = [[{"role": "system", "content": "be nice"}, {"role": "user", "content": t}] for t in f["input_text"]]
    lds.save(f, "qa", message="m", store=root)
    out = tmp_path / "out"
    r = lds.export("qa", "jsonl", out / "qa.jsonl", store=root)
    printed = capsys.readouterr().out
    assert "PII redaction: 2 spans redacted in 1 rows (email 2)" in printed
    rows = [json.loads(x) for x in (out / "qa.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and rows[0]["input_text"] == "my email is [EMAIL]"
    assert rows[0]["labels"] == {"pass_fail": True} and r.redacted
    raw = lds.export("qa", "jsonl", out / "raw.jsonl", store=root, redact=False)
    assert "ann.lee@corp.io" in (out / "raw.jsonl").read_text() and "OFF" in raw.summary()
    lds.export("qa", "openai_chat", out / "chat.jsonl", store=root, verbose=False)
    chat = [json.loads(x) for x in (out / "chat.jsonl").read_text().splitlines()]
    assert list(chat[0]) == ["messages"]
    assert [m["role"] for m in chat[0]["messages"]] == ["system", "user", "assistant"]
    assert chat[0]["messages"][1]["content"] == "my email is [EMAIL]" and chat[0]["messages"][2]["content"] == "answer 0"
    lds.export("qa", "parquet", out / "qa.parquet", store=root, verbose=False)
    assert len(pd.read_parquet(out / "qa.parquet")) == 4
    lds.export("qa", "csv", out / "qa.csv", store=root, verbose=False)
    csv = pd.read_csv(out / "qa.csv")
    assert len(csv) == 4 and json.loads(csv.loc[0, "labels"]) == {"pass_fail": True}
    lds.export("qa", "hf", out / "hf", store=root, verbose=False)
    back = datasets.load_from_disk(str(out / "hf"))
    assert sum(len(d) for d in back.values()) == 4
    test_only = lds.export("qa", "jsonl", out / "t.jsonl", store=root, split="test", verbose=False)
    assert test_only.n_rows == (f["split"] == "test").sum()
    with pytest.raises(lds.DatasetError, match="unknown export format"):
        lds.export("qa", "xml", out / "x", store=root)


def test_cli_list_history_diff_export(tmp_path, capsys):
    from llmops_nb.cli import main

    root = str(tmp_path / "ds")
    lds.save(_frame(3), "qa", message="first", store=root, author="ana")
    lds.save(_frame(4), "qa", message="second", store=root, author="ana")
    assert main(["datasets", "--storage", root, "list"]) == 0
    out = capsys.readouterr().out
    assert "qa" in out and "second" in out
    assert main(["datasets", "--storage", root, "history", "qa"]) == 0
    out = capsys.readouterr().out
    assert "first" in out and "second" in out
    assert main(["datasets", "--storage", root, "diff", "qa", "0", "1"]) == 0
    out = capsys.readouterr().out
    assert "1 added" in out and "ex3" in out
    dest = tmp_path / "e.jsonl"
    assert main(["datasets", "--storage", root, "export", "qa", "--version", "0", "--format", "jsonl", "--out", str(dest)]) == 0
    out = capsys.readouterr().out
    assert "PII redaction" in out and len(dest.read_text().splitlines()) == 3
    assert main(["datasets", "--storage", root, "cleanup", "qa", "--dry-run"]) == 0
    assert "0 unreferenced files" in capsys.readouterr().out


def test_cli_diff_of_a_missing_version_or_tag_is_a_clear_error(tmp_path, capsys):
    from llmops_nb.cli import main

    root = str(tmp_path / "ds")
    lds.save(_frame(3), "qa", message="first", store=root)
    lds.save(_frame(4), "qa", message="second", store=root, tags=["gold"])
    assert main(["datasets", "--store", root, "diff", "qa", "0", "7"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1  # one line, no traceback
    assert "llmops-nb datasets diff: error:" in err and "has no version 7" in err  # the version asked for
    assert "versions are 0..1" in err and "llmops-nb datasets history qa" in err  # the ones there are, the fix
    assert main(["datasets", "--store", root, "diff", "qa", "silver"]) == 2
    err = capsys.readouterr().err
    assert "no tag 'silver'" in err and "'gold': 1" in err and "Traceback" not in err
    assert main(["datasets", "--store", root, "diff", "nope", "0"]) == 2
    err = capsys.readouterr().err
    assert "no dataset 'nope'" in err and "['qa']" in err and "Traceback" not in err
    assert main(["datasets", "--store", root, "diff", "qa", "0", "gold"]) == 0  # a tag still works


def test_tag_takes_the_dataset_lock_like_every_write(tmp_path):
    import threading

    from llmops_nb.datasets._location import _lock, resolve_storage

    root = tmp_path / "ds"
    lds.save(_frame(3), "qa", message="first", store=root)
    held = _lock("qa", resolve_storage(root))  # another writer (a save) holds the lock
    held.acquire()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (lds.tag("qa", 0, "gold", store=root), done.set()))
    try:
        worker.start()
        assert not done.wait(1.5)  # the tag move waits for the lock
        assert lds.tags("qa", store=root) == {}
    finally:
        held.release()
    worker.join(60)
    assert done.is_set() and lds.tags("qa", store=root) == {"gold": 0}


class _FakeHfApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self.files: dict[str, bytes] = {}

    def create_repo(self, repo_id, **kw):
        self.calls.append(("create_repo", {"repo_id": repo_id, **kw}))
        return f"https://hub.local/datasets/{repo_id}"

    def upload_folder(self, **kw):
        from pathlib import Path

        self.calls.append(("upload_folder", kw))
        root = Path(kw["folder_path"])
        self.files = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

        class Info:
            oid = "abc123"
            commit_url = f"https://hub.local/datasets/{kw['repo_id']}/commit/abc123"

        return Info()

    def create_tag(self, repo_id, **kw):
        self.calls.append(("create_tag", {"repo_id": repo_id, **kw}))


def test_push_to_hub_builds_one_commit_with_the_version_message(tmp_path):
    import io

    root = tmp_path / "ds"
    f = _frame(6)
    f.loc[1, "input_text"] = "call me at +44 20 7946 0958"
    lds.save(f, "qa", message="curated billing failures", store=root, tags=["gold"])
    api = _FakeHfApi()
    res = lds.push_to_hub("qa", "me/qa-tests", tag="gold", store=root, api=api)
    names = [c[0] for c in api.calls]
    assert names == ["create_repo", "upload_folder", "create_tag"]
    assert api.calls[0][1]["repo_type"] == "dataset" and api.calls[0][1]["private"] is True
    up = api.calls[1][1]
    assert up["commit_message"] == "curated billing failures" and up["repo_id"] == "me/qa-tests"
    assert api.calls[2][1]["tag"] == "qa-v0" and api.calls[2][1]["revision"] == "abc123"
    assert set(api.files) == {"README.md", "llmops_nb.json", "data/train-00000-of-00001.parquet", "data/test-00000-of-00001.parquet"}
    card = api.files["README.md"].decode()
    assert "path: data/test-*.parquet" in card and "curated billing failures" in card
    parts = [pd.read_parquet(io.BytesIO(api.files[k])) for k in api.files if k.endswith(".parquet")]
    allrows = pd.concat(parts)
    assert len(allrows) == 6 and "[PHONE]" in " ".join(allrows["input_text"])
    meta = json.loads(api.files["llmops_nb.json"])
    assert meta["version"] == 0 and meta["redacted_spans"] == 1 and res.commit_oid == "abc123"
