"""Online evaluation end to end: the simulated app's traffic reaches the store through the OTLP
collector in three daily windows, a regression is planted in the third, and three monitor
passes evaluate only new samples; exactly one alert fires, in the third pass, delivered to a
local webhook receiver. A pass killed part-way and resumed ends in the same state."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import httpx
import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.demo import generate, write_otlp
from llmops_nb.monitor import load_config, read_monitor, run_monitor, sample_rate

DAYS = ["2026-03-02", "2026-03-03", "2026-03-04"]
N_PER_DAY = 160
REGRESSION = {"wrong_language": (1.0, 1.0)}  # every non-English question answered in English


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *a: object) -> None:
        pass


@pytest.fixture()
def webhook():
    class Hook(_Hook):
        received: list[dict] = []

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook", Hook.received
    srv.shutdown()


def _send_window(col, tmp: Path, day: int) -> set[str]:
    """The simulated app's traffic of one day, exported as OTLP/JSON to the collector."""
    data = generate(N_PER_DAY, seed=10 + day, start=DAYS[day], days=1, rates=REGRESSION if day == 2 else None)
    files = write_otlp(data, tmp / f"otlp{day}")
    for f in files:
        for line in f.read_bytes().splitlines():
            if line.strip():
                r = httpx.post(col.endpoint, content=line, headers={"Content-Type": "application/json"}, timeout=120)
                assert r.status_code == 200, r.text
    assert col.flush(60)
    return set(data.spans["trace_id"])


def _config(store: Path, hook: str, **over) -> dict:
    cfg = {
        "name": "prod",
        "store": str(store),
        "sampling": {"rate": 0.5, "always": ["has_error == 1"], "slices": {"language=fr": 1.0}},
        "evaluators": ["language_match"],
        "budget": {"traces_per_run": 400, "traces_per_day": 5000},
        "freq": "1D",
        "slos": {"pass_rate:language_match": ">= 0.9"},
        "significant_only": True,
        "notify": [{"webhook": hook}, {"file": str(store / "alerts.jsonl")}],
        "drift": {"reference_days": 1, "windows": ["1D"]},
        "chunk": 25,
    }
    cfg.update(over)
    return cfg


def _final_state(store: Path) -> dict:
    st = lo.Store(store)
    res = st.read("results")
    res = res[res["run_id"].str.startswith("monitor:prod:")]
    ov = read_monitor(st, "prod")
    state = st.get_state("monitor/prod")
    from llmops_nb.monitor._online import _register

    _register(st)
    ledger = st.read("monitor_samples").sort_values("trace_id")
    return {
        "results": sorted(zip(res["trace_id"], res["evaluator"], res["run_id"], res["passed"].astype(str))),
        "ledger": list(zip(ledger["trace_id"], ledger["run_id"], ledger["sampled"], ledger["reason"])),
        "alerts": state["alerts"],
        "events": [e["event_id"] for e in state["alert_history"]],
        "watermark": state["watermark"],
        "outbox": state["outbox"],
        "timeseries": ov.timeseries.round(9).to_dict("list"),
    }


def test_three_windows_one_alert_in_the_third_run(tmp_path, webhook):
    hook, received = webhook
    store = tmp_path / "store"
    cfg = _config(store, hook)
    runs, windows = [], []
    with lo.tracing.Collector(lo.Store(store), port=0) as col:
        for day in range(3):
            windows.append(_send_window(col, tmp_path, day))
            runs.append(run_monitor(cfg))
    st = lo.Store(store)
    res = st.read("results")
    # each run considered exactly the traces of its own window, and evaluated only new samples
    from llmops_nb.monitor._online import _register

    _register(st)
    ledger = st.read("monitor_samples")
    for k, run in enumerate(runs):
        mine = ledger[ledger["run_id"] == run.run_id]
        assert set(mine["trace_id"]) == windows[k]
        evaluated = set(res[res["run_id"] == run.run_id]["trace_id"])
        assert evaluated == set(mine[mine["sampled"]]["trace_id"])
        assert run.considered == N_PER_DAY and run.evaluated == len(evaluated) > 0
        # deterministic sampling: a consistent hash of the trace id, with the always-rule and the slice
        traces = st.traces(trace_id=list(windows[k]))
        errs = set(traces[traces["has_error"]]["trace_id"])
        fr = {t for t, m in zip(traces["trace_id"], traces["metadata"]) if (m or {}).get("language") == "fr"}
        expect = {t for t in windows[k] if sample_rate(t) < 0.5} | errs | fr
        assert evaluated == expect
    assert len(res) == res["result_id"].nunique()
    assert res.groupby(["trace_id", "evaluator"]).size().max() == 1  # nothing evaluated twice
    # exactly one alert, fired by the third run, delivered once to the webhook
    assert [len(r.fired) for r in runs] == [0, 0, 1]
    assert len(received) == 1
    body = received[0]
    assert body["event"] == "firing" and body["metric"] == "pass_rate:language_match"
    assert body["run_id"] == runs[2].run_id and body["period"].startswith(DAYS[2])
    assert body["value"] < 0.9 and body["ci_high"] < 0.9 and "misses target >= 0.9" in body["text"]
    assert [json.loads(x)["event_id"] for x in (store / "alerts.jsonl").read_text().splitlines()] == [body["event_id"]]
    # the overview notebook's reader sees the time series, the alert and drift
    ov = read_monitor(store, "prod")
    assert len(ov.timeseries) == 3 and ov.active["pass_rate:language_match|"]["status"] == "firing"
    assert set(ov.drift["feature"]) == {"input_length", "language", "topics", "embedding_centroid"}
    assert len(ov.runs) == 3 and not ov.runs["resumed"].any()
    # a fourth pass with no new traffic evaluates nothing and fires nothing again
    again = run_monitor(cfg)
    assert again.considered == 0 and again.fired == [] and len(received) == 1


_KILL = textwrap.dedent("""
    import os, sys, json
    import llmops_nb.monitor._online as m
    where = sys.argv[2]
    if where == "evaluate":
        import llmops_nb.evals as ev
        real, calls = ev.evaluate, []
        def dying(*a, **k):
            out = real(*a, **k)
            calls.append(1)
            if len(calls) == 2:
                os._exit(9)
            return out
        ev.evaluate = dying
    else:
        def dying(*a, **k):
            os._exit(9)
        m.notify = dying
    m.run_monitor(json.loads(sys.argv[1]))
    raise SystemExit("the run was meant to die")
""")


@pytest.mark.parametrize("where", ["evaluate", "notify"])
def test_killed_run_resumes_to_the_same_state(tmp_path, webhook, where):
    hook, received = webhook
    store = tmp_path / "store"
    with lo.tracing.Collector(lo.Store(store), port=0) as col:
        for day in range(2):
            _send_window(col, tmp_path, day)
            run_monitor(_config(store, hook))
        _send_window(col, tmp_path, 2)
    twin = tmp_path / "twin"
    shutil.copytree(store, twin)
    # the clean third run, on a copy
    clean = run_monitor(_config(twin, hook))
    assert len(clean.fired) == 1 and len(received) == 1
    received.clear()
    # the same third run killed part-way (a hard exit, nothing cleaned up), then run again
    cfg = _config(store, hook)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    p = subprocess.run([sys.executable, "-c", _KILL, json.dumps(cfg), where], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 9, p.stderr[-2000:]
    st = lo.Store(store)
    assert st.get_state("monitor/prod")["pending"] is not None
    partial = st.read("results")
    if where == "evaluate":
        assert 0 < len(partial[partial["run_id"] == clean.run_id]) < clean.results
    resumed = run_monitor(cfg)
    assert resumed.resumed and resumed.run_id == clean.run_id
    assert len(received) == 1 and received[0]["event"] == "firing"  # delivered once, not twice
    a, b = _final_state(store), _final_state(twin)
    for k in a:
        assert a[k] == b[k], k
    assert json.loads((store / "alerts.jsonl").read_text().splitlines()[0])["event_id"] == received[0]["event_id"]


def test_config_errors_name_the_key_and_the_fix(tmp_path):
    p = tmp_path / "monitor.yaml"
    p.write_text("name: prod\nsample: {rate: 0.1}\n")
    with pytest.raises(ValueError, match="unknown key 'sample'"):
        load_config(p)
    with pytest.raises(FileNotFoundError, match="In production"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="push needs a target"):
        load_config({"push": {"project": "x"}})


def test_cli_one_pass(tmp_path):
    store = tmp_path / "s"
    st = lo.Store(store)
    st.add_spans(generate(30, seed=2).spans)
    cfg = tmp_path / "monitor.yaml"
    cfg.write_text(f"name: cli\nstore: {store}\nevaluators: [refusal]\nslos: {{error_rate: '<= 0.9'}}\n"
                   f"notify: [{{file: {tmp_path / 'a.jsonl'}}}]\n")
    from llmops_nb.cli import main

    assert main(["monitor", "run", "--config", str(cfg)]) == 0
    assert read_monitor(store, "cli").runs["considered"].tolist() == [30]
    assert main(["monitor", "run", "--config", str(cfg)]) == 0
    assert read_monitor(store, "cli").runs["considered"].tolist() == [30, 0]
    assert pd.read_parquet(store / "monitor" / "cli" / "timeseries.parquet")["n"].sum() == 30


def test_email_channel_through_a_local_smtp_server():
    """The email channel speaks SMTP to a minimal server on 127.0.0.1 (stdlib socketserver)."""
    import socketserver

    got: list[bytes] = []

    class Smtp(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self.wfile.write(b"220 localhost test\r\n")
            while line := self.rfile.readline():
                cmd = line.strip().upper()
                if cmd.startswith(b"DATA"):
                    self.wfile.write(b"354 go on\r\n")
                    body = b""
                    while (ln := self.rfile.readline()) not in (b".\r\n", b""):
                        body += ln
                    got.append(body)
                    self.wfile.write(b"250 queued\r\n")
                elif cmd.startswith(b"QUIT"):
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Smtp)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        from llmops_nb.monitor import notify

        event = {"event_id": "prod:pass_rate:x|:2026-03-04:firing", "event": "firing", "monitor": "prod",
                 "metric": "pass_rate:x", "value": 0.7, "ci_low": 0.6, "ci_high": 0.8, "target": ">= 0.9",
                 "period": "2026-03-04"}
        notify({"email": {"host": "127.0.0.1", "port": srv.server_address[1], "to": ["oncall@corp.io"]}}, event)
    finally:
        srv.shutdown()
    assert len(got) == 1
    from email import message_from_bytes, policy

    msg = message_from_bytes(got[0], policy=policy.default)
    assert msg["Subject"] == ":red_circle: [prod] pass_rate:x = 0.7 (95% CI 0.6-0.8) misses target >= 0.9 in period 2026-03-04"
    assert msg["To"] == "oncall@corp.io"
    body = msg.get_content()
    assert json.loads(body[body.index("{"):])["event_id"] == "prod:pass_rate:x|:2026-03-04:firing"
