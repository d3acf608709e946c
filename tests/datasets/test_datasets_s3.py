"""The same API on S3-compatible object storage: moto's server on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from moto_s3 import moto_s3

from llmops_nb import datasets as lds


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with moto_s3(tmp_path_factory.mktemp("moto"), "llmops-test") as (client, env):
        yield {"client": client, "env": env, "url": "s3://llmops-test/teams/qa"}


def test_s3_save_load_history_tag_diff_list(s3):
    url = s3["url"]
    a = pd.DataFrame({"example_id": ["a", "b"], "input_text": ["x", "y"], "labels": [{"ok": True}, None]})
    v0 = lds.save(a, "remote", message="first", store=url, author="ana", tags=["gold"])
    b = pd.DataFrame({"example_id": ["b", "c"], "input_text": ["Y", "z"], "labels": [None, {"ok": False}]})
    v1 = lds.save(b, "remote", message="second", store=url, author="bo")
    assert (v0.version, v1.version) == (0, 1) and v1.uri == "s3://llmops-test/teams/qa/remote"
    keys = [o["Key"] for o in s3["client"].list_objects_v2(Bucket="llmops-test", Prefix="teams/qa/remote/")["Contents"]]
    assert any("_delta_log/00000000000000000001.json" in k for k in keys)
    assert lds.history("remote", store=url)["message"].tolist() == ["second", "first"]
    assert lds.load("remote", tag="gold", store=url, as_="pandas")["input_text"].tolist() == ["x", "y"]
    assert lds.load("remote", store=url, as_="pandas").loc[1, "labels"] == {"ok": False}
    lds.tag("remote", 1, "gold", store=url)
    assert lds.tags("remote", store=url) == {"gold": 1}
    d = lds.diff("remote", 0, 1, store=url)
    assert (d.added["example_id"].tolist(), d.removed["example_id"].tolist(), d.changed["example_id"].tolist()) == (["c"], ["a"], ["b"])
    lds.save(a, "other", message="m", store=url)
    assert lds.list(store=url)["name"].tolist() == ["other", "remote"]
    ds = lds.load("remote", store=url)
    assert ds.num_rows == 2
    # saving to shared storage redacts PII by default, and says so
    pii = pd.DataFrame({"example_id": ["p"], "input_text": ["reach me at ann.lee@corp.io"]})
    v = lds.save(pii, "pii", message="m", store=url)
    assert v.redacted and v.redacted_spans == 1
    assert lds.load("pii", store=url, as_="pandas").loc[0, "input_text"] == "reach me at [EMAIL]"
    assert lds.history("pii", store=url).shape[0] == 1


def test_s3_two_writers_conflict_is_retried_not_mixed(s3):
    url = s3["url"]
    writer = str(Path(__file__).with_name("_writer.py"))
    env = dict(os.environ, **s3["env"])
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    procs = [subprocess.Popen([sys.executable, writer, url, "race", who, "4", "200"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for who in ("A", "B")]
    outs = [p.communicate(timeout=120) for p in procs]
    ok = 0
    for p, (_, err) in zip(procs, outs):
        # a writer either finished all its saves, or stopped on the clear conflict error
        assert p.returncode == 0 or "DatasetConflictError" in err, err
        ok += p.returncode == 0
    h = lds.history("race", store=url)
    # with whole-write retries both writers normally land every version
    assert ok == 2 and len(h) == 8
    for rec in h.itertuples(index=False):
        df = lds.load("race", rec.version, store=url, as_="pandas")
        assert len(set(df["writer"])) == 1 and len(set(df["round"])) == 1
        assert rec.message == f"{df['writer'].iloc[0]}-{df['round'].iloc[0]}"
