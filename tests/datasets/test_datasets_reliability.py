"""Two writers at once, a writer killed mid-save: versions stay whole and readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from llmops_nb import datasets as lds

WRITER = str(Path(__file__).with_name("_writer.py"))


def _check_every_version_whole(root, name):
    h = lds.history(name, store=root)
    for rec in h.itertuples(index=False):
        df = lds.load(name, rec.version, store=root, as_="pandas")
        assert len(df) == rec.rows
        who = set(df["writer"])
        rnd = set(df["round"])
        assert len(who) == 1 and len(rnd) == 1, f"version {rec.version} mixes writers {who} rounds {rnd}"
        assert rec.message == f"{who.pop()}-{rnd.pop()}"
    return h


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_two_writers_at_once_both_land_in_order(tmp_path):
    root = str(tmp_path / "ds")
    procs = [
        subprocess.Popen([sys.executable, WRITER, root, "qa", who, "5", "300"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=_env())
        for who in ("A", "B")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    h = _check_every_version_whole(root, "qa")
    assert len(h) == 10 and h["version"].tolist() == list(range(9, -1, -1))
    # each writer's rounds landed in its own order
    for who in ("A", "B"):
        mine = h[h["message"].str.startswith(who)].sort_values("version")
        assert mine["message"].tolist() == [f"{who}-{i}" for i in range(5)]
    # the versions each writer reported are the ones in the history
    for who, (out, _) in zip(("A", "B"), outs):
        saved = dict(line.split()[1:] for line in out.splitlines() if line.startswith("saved"))
        for i, v in saved.items():
            assert h.set_index("version").loc[int(v), "message"] == f"{who}-{i}"


def test_killed_writer_leaves_earlier_versions_intact(tmp_path):
    root = str(tmp_path / "ds")
    df = pd.DataFrame({"example_id": ["e0"], "input_text": ["seed"], "writer": ["S"], "round": [0]})
    lds.save(df, "qa", message="S-0", store=root)
    killed_while_writing = 0
    for attempt, delay in enumerate((0.0, 0.01, 0.03)):
        p = subprocess.Popen([sys.executable, WRITER, root, "qa", f"K{attempt}", "50", "60000", "announce"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        # let one save finish, then kill the child once Delta Lake is writing the next version's files
        seen_saved = False
        deadline = time.time() + 90
        line = ""
        while time.time() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            seen_saved |= line.startswith("saved 0")
            if seen_saved and line.startswith("writing"):
                break
        assert line.startswith("writing"), p.stderr.read()
        time.sleep(delay)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        if "saved 1" not in p.stdout.read():
            killed_while_writing += 1
        h = _check_every_version_whole(root, "qa")
        assert h["version"].tolist() == list(range(len(h) - 1, -1, -1))
    assert killed_while_writing >= 1
    # leftovers of the killed writes belong to no version; a new save still works
    v = lds.save(df.assign(round=1, input_text="after"), "qa", message="S-1", store=root)
    assert lds.load("qa", store=root, as_="pandas")["input_text"].tolist() == ["after"]
    assert lds.load("qa", 0, store=root, as_="pandas")["input_text"].tolist() == ["seed"]
    assert v.version == len(lds.history("qa", store=root)) - 1
    before = {r.version: lds.load("qa", r.version, store=root, as_="arrow").num_rows
              for r in lds.history("qa", store=root).itertuples()}
    lds.cleanup("qa", store=root, older_than_hours=0)
    after = {r.version: lds.load("qa", r.version, store=root, as_="arrow").num_rows
             for r in lds.history("qa", store=root).itertuples()}
    assert after == before


def test_cleanup_removes_unreferenced_files_but_never_under_a_writer(tmp_path):
    import shutil

    from filelock import FileLock

    root = tmp_path / "ds"
    for i in range(3):
        lds.save(pd.DataFrame({"example_id": ["a", "b"], "input_text": [f"x{i}", "y"]}), "qa", message=f"v{i}", store=root)
    table_dir = root / "qa"
    referenced = sorted(p.name for p in table_dir.glob("*.parquet"))
    # what a save killed after writing its data file (before its commit) leaves behind
    orphan = table_dir / "part-00000-00000000-dead-beef-0000-000000000000-c000.snappy.parquet"
    shutil.copy(table_dir / referenced[0], orphan)
    os.utime(orphan, (time.time() - 7200, time.time() - 7200))
    fresh = table_dir / "part-00000-11111111-dead-beef-0000-000000000000-c000.snappy.parquet#1"
    shutil.copy(table_dir / referenced[0], fresh)  # a staging file, as a save cut mid-write leaves it
    dry = lds.cleanup("qa", store=root, dry_run=True)
    assert sorted(dry["path"]) == sorted([orphan.name, fresh.name]) and not dry["deleted"].any()
    held = FileLock(str(root / ".locks" / "qa.lock"), timeout=0)
    held.acquire()  # a save in progress: nothing is touched, however old
    try:
        busy = lds.cleanup("qa", store=root)
        assert sorted(busy["path"]) == sorted([orphan.name, fresh.name]) and not busy["deleted"].any()
        assert busy["reason"].str.contains("lock").all() and orphan.exists() and fresh.exists()
    finally:
        held.release()
    out = lds.cleanup("qa", store=root)  # no writer: every orphan goes, young or old
    assert out.set_index("path")["deleted"].to_dict() == {orphan.name: True, fresh.name: True}
    assert not orphan.exists() and not fresh.exists()
    assert sorted(p.name for p in table_dir.glob("*.parquet")) == referenced
    for v in range(3):
        assert lds.load("qa", v, store=root, as_="pandas")["input_text"].tolist() == [f"x{v}", "y"]


def _kill_mid_write(root: Path, name: str, rows: int) -> bool:
    """Start a writer and SIGKILL it while Delta Lake writes a data file (a staging file exists)."""
    p = subprocess.Popen([sys.executable, WRITER, str(root), name, "K", "1", str(rows)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.time() + 120
    hit = False
    while p.poll() is None and time.time() < deadline:
        if any("#" in q.name for q in (root / name).glob("*")) if (root / name).is_dir() else False:
            os.kill(p.pid, signal.SIGKILL)
            hit = True
            break
        time.sleep(0.002)
    p.wait(30)
    return hit and p.returncode == -signal.SIGKILL


def test_killed_saves_leave_staging_files_that_cleanup_and_the_next_save_remove(tmp_path):
    """A save killed mid-write leaves a staging data file (``part-...parquet#1``), even on the
    first save (no version yet): cleanup removes it at once (it is not kept for an hour), and so
    does the next save; versions stay whole."""
    root = tmp_path / "ds"
    staged = []
    for _ in range(5):  # the first save of the dataset, killed while it writes
        if _kill_mid_write(root, "qa", 400_000):
            staged = [q.name for q in (root / "qa").glob("*#*")]
            break
    assert staged, "could not kill the writer while a staging file existed"
    out = lds.cleanup("qa", store=root)  # works with no version at all
    assert set(out["path"]) >= set(staged) and out["deleted"].all()
    assert not list((root / "qa").glob("*#*"))
    lds.save(pd.DataFrame({"example_id": ["a"], "input_text": ["seed"], "writer": ["S"], "round": [0]}), "qa",
             message="S-0", store=root)
    for _ in range(5):  # a later save killed mid-write: the next save removes what it left
        if _kill_mid_write(root, "qa", 400_000):
            break
    left = [q.name for q in (root / "qa").glob("*#*")]
    assert left
    lds.save(pd.DataFrame({"example_id": ["b"], "input_text": ["after"], "writer": ["S"], "round": [1]}), "qa",
             message="S-1", store=root)
    assert not list((root / "qa").glob("*#*"))
    _check_every_version_whole(str(root), "qa")
    assert lds.load("qa", store=root, as_="pandas")["input_text"].tolist() == ["after"]
