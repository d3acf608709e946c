"""Phoenix and MLflow, the real servers from PyPI, each in its own venv under .cache/
(set up by benchmarks/setup_peers.sh): start the server on 127.0.0.1, send traces with the
backend's own client, pull them, compare span by span with the backend's own export; then push
results, labels and a dataset back and read them with the backend's own client.

These skip when the peer venv is absent (CI installs from scratch and does not build them:
Phoenix is about 850 MB and MLflow pins pyarrow<26, so neither can share the main venv).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

import llmops_nb as lo

ROOT = Path(__file__).resolve().parents[2]
PEERS = ROOT / "benchmarks" / "connectors_peers.py"
KEY = ["trace_id", "span_id"]
ENV = {**os.environ, "PHOENIX_TELEMETRY_ENABLED": "false", "MLFLOW_DISABLE_TELEMETRY": "true",
       "PYTHONDONTWRITEBYTECODE": "1"}

pytestmark = pytest.mark.slow


def _venv(name: str) -> Path:
    py = ROOT / ".cache" / f"{name}-venv" / "bin" / "python"
    if not py.exists():
        pytest.skip(f"the {name} peer venv {py.parent.parent} is absent; create it with `bash benchmarks/setup_peers.sh`")
    return py


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen, timeout: float = 400) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not come up in {timeout}s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _compare(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.sort_values(KEY).reset_index(drop=True)
    want = want.sort_values(KEY).reset_index(drop=True)
    assert len(got) == len(want) and not got.duplicated(KEY).any()
    assert got[KEY].values.tolist() == want[KEY].values.tolist()
    for c in got.columns:  # span by span, every column
        a = got[c].astype(object).where(got[c].notna(), None).tolist()
        b = want[c].astype(object).where(want[c].notna(), None).tolist()
        assert a == b, c


def _post(url: str, body: dict) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


def test_phoenix_real_server(tmp_path, store):
    py = _venv("phoenix")
    port = _port()
    env = {**ENV, "PHOENIX_WORKING_DIR": str(tmp_path / "phx"), "PHOENIX_HOST": "127.0.0.1",
           "PHOENIX_PORT": str(port), "PHOENIX_GRPC_PORT": str(_port())}
    proc = subprocess.Popen([str(py.parent / "phoenix"), "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{url}/healthz", proc)
        subprocess.run([str(py), str(PEERS), "phoenix-send", url, "peer", "60", "5"], env=env, check=True, timeout=600)
        r1 = lo.pull("phoenix", url=url, project="peer", store=store, page_size=100, progress=False)
        assert r1.complete and r1.spans_fetched == 300  # a backfill: bulk time windows
        # annotations held by Phoenix: one human (-> labels), one LLM (-> results)
        sid = store.spans(limit=1)["span_id"].iloc[0]
        _post(f"{url}/v1/span_annotations?sync=true", {"data": [
            {"span_id": sid, "name": "correct", "annotator_kind": "HUMAN", "result": {"label": "yes", "score": 1}},
            {"span_id": sid, "name": "relevance", "annotator_kind": "LLM", "result": {"score": 0.4}},
        ]})
        # more traces arrive: the second pull fetches only those
        subprocess.run([str(py), str(PEERS), "phoenix-send", url, "peer", "20", "5"], env=env, check=True, timeout=600)
        r2 = lo.pull("phoenix", url=url, project="peer", store=store, page_size=100, progress=False)
        assert r2.complete and r2.spans_fetched == 100
        out = tmp_path / "phoenix.parquet"
        subprocess.run([str(py), str(PEERS), "phoenix-export", url, "peer", str(out)], env=env, check=True, timeout=600)
        df = pd.read_parquet(out)
        want = lo.read_traces(df.reset_index(drop=True) if "context.span_id" in df.columns else df, format="phoenix")
        _compare(store.spans(), want)
        r3 = lo.pull("phoenix", url=url, project="peer", store=store, full=True, progress=False)
        assert r3.complete and len(store.spans()) == 400
        assert store.labels()["question"].tolist() == ["correct"]
        assert store.results()["evaluator"].tolist() == ["relevance"]
        _push_and_read_phoenix(py, url, env, tmp_path, store)
    finally:
        _stop(proc)


def test_mlflow_real_server(tmp_path, store):
    py = _venv("mlflow")
    port = _port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(py.parent / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{tmp_path}/db.sqlite",
         "--default-artifact-root", str(tmp_path / "art"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"{url}/health", proc)
        subprocess.run([str(py), str(PEERS), "mlflow-send", url, "peer", "25"], env=ENV, check=True, timeout=600)
        r = lo.pull("mlflow", url=url, project="peer", store=store, page_size=10, progress=False)
        assert r.complete and r.pages == 3 and r.spans_fetched == 75
        out = tmp_path / "mlflow.json"
        subprocess.run([str(py), str(PEERS), "mlflow-export", url, "peer", str(out)], env=ENV, check=True, timeout=600)
        want = lo.read_traces(json.loads(out.read_text()), format="mlflow")
        _compare(store.spans(), want)
        assert store.labels()[["question", "annotator"]].values.tolist() == [["correct", "alice"]]
        res = store.results()
        assert res[["evaluator", "judge_model"]].values.tolist() == [["relevance", "gpt-4o"]]
        r2 = lo.pull("mlflow", url=url, project="peer", store=store, progress=False)
        assert r2.complete and len(store.spans()) == 75
        _push_and_read_mlflow(py, url, tmp_path, store)
    finally:
        _stop(proc)


NOW = pd.Timestamp("2026-01-01", tz="UTC")


def _examples(spans: pd.DataFrame, fmt: str) -> pd.DataFrame:
    return pd.DataFrame({"example_id": ["e1", "e2"], "input_text": ["q1", "q2"], "expected_output": ["a1", "a2"],
                         "source_trace_id": spans["trace_id"].tolist()[:2], "source_span_id": spans["span_id"].tolist()[:2],
                         "source_format": [fmt, fmt]})


def _push_and_read_phoenix(py: Path, url: str, env: dict, tmp_path: Path, store: lo.Store) -> None:
    spans = store.spans()
    llm = spans[spans["kind"] == "llm"].sort_values("span_id").head(3)
    res = pd.DataFrame({"result_id": ["p0", "p1", "p2"], "run_id": "r", "trace_id": llm["trace_id"].tolist(),
                        "span_id": llm["span_id"].tolist(), "evaluator": "short_answer", "value": [True, False, True],
                        "explanation": "under 50 words", "created_at": NOW})
    sid0, tid0 = llm["span_id"].iloc[0], llm["trace_id"].iloc[0]
    labs = pd.DataFrame({"label_id": ["h1"], "trace_id": [tid0], "span_id": [sid0], "question": ["tone"],
                         "value": ["polite"], "action": ["set"], "annotator": ["alice"], "created_at": [NOW]})
    kw = dict(url=url, project="peer", store=store, progress=False)
    r = lo.push("phoenix", results=res, labels=labs, dataset=_examples(llm, "phoenix"), dataset_name="regressions", **kw)
    assert r.complete and r.created == 4 and r.dataset["created"] == 2 and r.unmapped == []
    edit = labs.assign(label_id="h2", value="curt", action="edit", created_at=NOW + pd.Timedelta(hours=1))
    r2 = lo.push("phoenix", results=res, labels=pd.concat([labs, edit]), **kw)
    assert r2.updated == 1 and r2.unchanged == 3 and r2.created == 0
    ids, out = tmp_path / "ids.json", tmp_path / "readback.json"
    ids.write_text(json.dumps(llm["span_id"].tolist()))
    subprocess.run([str(py), str(PEERS), "phoenix-readback", url, "peer", str(ids), "regressions", str(out)], env=env,
                   check=True, timeout=600)
    back = json.loads(out.read_text())
    mine = [a for a in back["annotations"] if a["name"] in ("short_answer", "tone")]
    by = {(a["span_id"], a["name"]): a for a in mine}
    assert len(by) == len(mine) == 4  # the edit updated the annotation, it did not add one
    for sid, v in zip(llm["span_id"], [True, False, True]):
        a = by[(sid, "short_answer")]
        assert a["annotator_kind"] == "CODE" and a["result"]["label"] == ("pass" if v else "fail")
        assert a["result"]["score"] == float(v) and a["result"]["explanation"] == "under 50 words"
    tone = by[(sid0, "tone")]
    assert tone["annotator_kind"] == "HUMAN" and tone["result"]["label"] == "curt"
    assert sorted(str(e["output"]) for e in back["examples"]) == ["{'expected_output': 'a1'}", "{'expected_output': 'a2'}"]


def _push_and_read_mlflow(py: Path, url: str, tmp_path: Path, store: lo.Store) -> None:
    spans = store.spans()
    roots = spans[spans["parent_span_id"].isna()].sort_values("trace_id").head(2)
    chat = spans[(spans["trace_id"] == roots["trace_id"].iloc[0]) & (spans["kind"] == "llm")].iloc[0]
    tid0 = roots["trace_id"].iloc[0]
    res = pd.DataFrame({"result_id": ["m1", "m2"], "run_id": "r", "trace_id": [tid0, tid0], "span_id": [None, chat["span_id"]],
                        "evaluator": ["helpful", "fast"], "value": [0.8, True], "judge_model": ["gpt-4o-mini", None],
                        "explanation": ["clear", None], "created_at": NOW})
    labs = pd.DataFrame({"label_id": ["x1"], "trace_id": [tid0], "span_id": [None], "question": ["expected_output"],
                         "value": ["answer to result for question 0"], "action": ["set"], "annotator": ["bob"], "created_at": [NOW]})
    kw = dict(url=url, project="peer", store=store, progress=False)
    r = lo.push("mlflow", results=res, labels=labs, dataset=_examples(roots, "mlflow"), dataset_name="regressions", **kw)
    assert r.complete and r.created == 3 and r.dataset["created"] == 2 and r.dataset["unlinked"] == 0
    rerun = res.assign(value=[0.9, True], created_at=NOW + pd.Timedelta(hours=1))
    r2 = lo.push("mlflow", results=rerun, labels=labs, **kw)
    assert r2.updated == 1 and r2.unchanged == 2  # PATCH on the real server
    out = tmp_path / "readback.json"
    subprocess.run([str(py), str(PEERS), "mlflow-readback", url, "peer", "regressions", str(out)], env=ENV, check=True,
                   timeout=600)
    back = json.loads(out.read_text())
    mine = {a["assessment_name"]: a for a in back["assessments"] if a["assessment_name"] in ("helpful", "fast", "expected_output")}
    tr0 = roots["metadata"].iloc[0]["mlflow_trace_id"]
    assert {a["trace_id"] for a in mine.values()} == {tr0}
    assert mine["helpful"]["feedback"]["value"] == 0.9 and mine["helpful"]["source"]["source_type"] == "LLM_JUDGE"
    assert mine["helpful"]["rationale"] == "clear" and not mine["helpful"].get("span_id")
    assert mine["fast"]["span_id"] == chat["span_id"] and mine["fast"]["source"]["source_type"] == "CODE"
    assert mine["expected_output"]["expectation"]["value"] == "answer to result for question 0"
    assert mine["expected_output"]["source"] == {"source_type": "HUMAN", "source_id": "bob"}
    if back["datasets_api"]:  # MLflow >= 3.4: the evaluation dataset, read with mlflow.genai.datasets
        assert sorted(rec["expectations"]["expected_output"] for rec in back["records"]) == ["a1", "a2"]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
