"""Phoenix and MLflow, the real servers from PyPI, each in its own venv under .cache/
(set up by benchmarks/setup_peers.sh): start the server on 127.0.0.1, send traces with the
backend's own client, pull them, compare span by span with the backend's own export.

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
    finally:
        _stop(proc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
