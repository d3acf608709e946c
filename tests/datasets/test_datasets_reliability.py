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
    h = lds.history(name, storage=root)
    for rec in h.itertuples(index=False):
        df = lds.load(name, rec.version, storage=root, as_="pandas")
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
    lds.save(df, "qa", message="S-0", storage=root)
    killed_mid_save = 0
    for attempt in range(2):
        p = subprocess.Popen([sys.executable, WRITER, root, "qa", f"K{attempt}", "50", "60000"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        # wait until the child is inside a save (after at least one finished save on the first attempt)
        want = "saving 1" if attempt == 0 else "saving 0"
        deadline = time.time() + 90
        line = ""
        while time.time() < deadline:
            line = p.stdout.readline()
            if line.startswith(want) or not line:
                break
        assert line.startswith(want), p.stderr.read()
        time.sleep(0.02 + 0.05 * attempt)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        rest = p.stdout.read()
        if f"saved {want.split()[1]}" not in rest:
            killed_mid_save += 1
        h = _check_every_version_whole(root, "qa")
        assert h["version"].tolist() == list(range(len(h) - 1, -1, -1))
    assert killed_mid_save >= 1
    # leftovers of the killed writes are not part of any version; a new save still works
    v = lds.save(df.assign(round=1, input_text="after"), "qa", message="S-1", storage=root)
    assert lds.load("qa", storage=root, as_="pandas")["input_text"].tolist() == ["after"]
    assert lds.load("qa", 0, storage=root, as_="pandas")["input_text"].tolist() == ["seed"]
    assert v.version == len(lds.history("qa", storage=root)) - 1
