"""The runner under attack: a run killed mid-way and resumed pays no answer twice; moving a judge
to another ``api_base`` is the same evaluation (no new rows, no new calls); a provider error
that echoes the key (``Authorization: Bearer sk-...``) reaches no result row, log record or
exception in clear."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import llmops_nb as lo
from llmops_nb.evals import LLMJudge
from llmops_nb.llm import LLMCall, Runner
from llmops_nb.testing import FakeLLMServer

MODEL = "openai/llmops-resume-judge"
N = 60


def _verdict(req: dict) -> str:
    text = req["messages"][-1]["content"]
    return json.dumps({"reasoning": "checked", "answer": "pass" if "ok" in text.split("<output>")[-1] else "fail"})


def _item(req: dict) -> str:
    """The item a judge request is about (its question)."""
    text = req["messages"][-1]["content"]
    return text[text.index("question "):].split("?")[0]


RUN = textwrap.dedent("""
    import sys
    import llmops_nb as lo
    from llmops_nb.evals import LLMJudge
    from llmops_nb.llm import Runner
    url, store, cache, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    spans = lo.read_traces([{"trace_id": f"t{i:04d}", "span_id": f"s{i:04d}", "kind": "llm",
                             "input_text": f"question {i}?", "output_text": f"answer {i} {'ok' if i % 3 else 'no'}"}
                            for i in range(n)], format="records")
    judge = LLMJudge("Does the answer say ok?", model="MODEL_NAME", api_base=url, api_key="sk-resume-test-0001")
    import litellm
    litellm.register_model({"MODEL_NAME": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
                                           "litellm_provider": "openai", "mode": "chat", "max_tokens": 4096}})
    res = lo.evaluate(spans, judge, store=lo.Store(store), run_id="run-resume", runner=Runner(concurrency=4, cache=cache),
                      progress=False)
    print("DONE", len(res))
""").replace("MODEL_NAME", MODEL)


class GatedServer:
    """A FakeLLMServer whose answers stop (held, never sent) after ``gate`` of them, until opened;
    it records which item each delivered answer was for."""

    def __init__(self, gate: int) -> None:
        self.gate = gate
        self.delivered: list[str] = []
        self.opened = threading.Event()
        self.srv = FakeLLMServer(responder=self._respond, latency_ms=5)

    async def _respond(self, req: dict) -> str:
        while len(self.delivered) >= self.gate and not self.opened.is_set():
            await asyncio.sleep(0.01)
        self.delivered.append(_item(req))
        return _verdict(req)


def _cached_answers(cache: Path) -> int:
    if not cache.exists():
        return 0
    try:
        with sqlite3.connect(str(cache), timeout=5) as con:
            return int(con.execute("SELECT count(*) FROM calls").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_killed_run_resumes_without_paying_twice(tmp_path):
    import litellm

    litellm.register_model({MODEL: {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
                                     "litellm_provider": "openai", "mode": "chat", "max_tokens": 4096}})
    store, cache = tmp_path / "store", tmp_path / "cache.sqlite"
    gated = GatedServer(gate=25)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    with gated.srv as srv:
        args = [sys.executable, "-c", RUN, srv.url, str(store), str(cache), str(N)]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            deadline = time.monotonic() + 120
            while len(gated.delivered) < gated.gate and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert len(gated.delivered) == gated.gate, proc.stderr.read() if proc.poll() is not None else "timeout"
            # every answer delivered has reached the client: wait (bounded) until it is on disk
            t0 = time.monotonic()
            while _cached_answers(cache) < gated.gate and time.monotonic() - t0 < 15:
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)  # mid-run: 4 calls held in flight, the rest not begun
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
        before = list(gated.delivered)
        in_flight = {_item(r) for r in srv.requests} - set(before)
        gated.opened.set()  # the held requests now answer a dead client: never received
        time.sleep(0.3)
        gated.delivered.clear()
        out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0 and f"DONE {N}" in out.stdout, out.stderr[-2000:]
        after = list(gated.delivered)
    paid_twice = set(before) & set(after)
    assert paid_twice == set(), f"answers bought before the kill and bought again: {sorted(paid_twice)}"
    assert len(before) == gated.gate and len(set(before)) == gated.gate
    # every item ends with exactly one answer bought and delivered, and one result row
    assert Counter(before + after) == Counter({f"question {i}": 1 for i in range(N)})
    assert len(in_flight) <= 4
    res = lo.Store(store).results()
    res = res[res["run_id"] == "run-resume"]
    assert len(res) == N and res["trace_id"].is_unique and res["error"].isna().all()


def test_api_base_and_key_are_not_identity(tmp_path, monkeypatch):
    spans = lo.read_traces([{"trace_id": f"t{i}", "span_id": "s", "kind": "llm", "input_text": f"question {i}?",
                             "output_text": f"answer {i} ok"} for i in range(12)], format="records")
    store = lo.Store(tmp_path / "store")
    with FakeLLMServer(responder=_verdict) as a, FakeLLMServer(responder=_verdict) as b:
        ja = LLMJudge("Does the answer say ok?", model="openai/x", api_base=a.url, api_key="sk-first-key-000001",
                      extra={"timeout": 30})
        jb = LLMJudge("Does the answer say ok?", model="openai/x", api_base=b.url, api_key="sk-other-key-000002",
                      extra={"timeout": 5})
        assert ja.params_hash == jb.params_hash
        assert LLMCall("openai/x", [{"role": "user", "content": "q"}], {"api_base": a.url, "api_key": "k1"}).cache_key() \
            == LLMCall("openai/x", [{"role": "user", "content": "q"}], {"api_base": b.url, "api_key": "k2"}).cache_key()
        runner = Runner(concurrency=4, cache=tmp_path / "c.sqlite")
        lo.evaluate(spans, ja, store=store, run_id="r1", runner=runner, progress=False)
        lo.evaluate(spans, jb, store=store, run_id="r1", runner=Runner(concurrency=4, cache=tmp_path / "c.sqlite"),
                    progress=False)
        assert a.calls == 12 and b.calls == 0  # the answers were already paid for
    res = store.results()
    assert len(res) == 12 and res["result_id"].is_unique  # not 24
    stored = json.dumps(res["params"].tolist(), default=str)
    assert "sk-first-key" not in stored and "sk-other-key" not in stored
    # a real change of the judge is a new evaluation
    assert LLMJudge("Does the answer say ok?", model="openai/y").params_hash != ja.params_hash


class EchoServer:
    """An OpenAI-compatible endpoint answering 401 with a body that echoes the request's
    Authorization header, as some proxies and gateways do."""

    def __init__(self) -> None:
        from aiohttp import web

        async def chat(request: web.Request) -> web.Response:
            auth = request.headers.get("Authorization", "")
            body = {"error": {"message": f"Incorrect API key provided. Authorization: {auth}; "
                                         f"headers={dict(request.headers)}", "type": "invalid_request_error",
                              "code": "invalid_api_key"}}
            return web.json_response(body, status=401)

        self.app = web.Application()
        self.app.router.add_post("/v1/chat/completions", chat)

    def __enter__(self) -> EchoServer:
        from aiohttp import web

        ready = threading.Event()

        def run() -> None:
            self.loop = asyncio.new_event_loop()
            self.runner = web.AppRunner(self.app)
            self.loop.run_until_complete(self.runner.setup())
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            self.loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        ready.wait(10)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _fragments(secret: str) -> list[str]:
    return [secret[i:i + 6] for i in range(len(secret) - 5)]


def test_provider_errors_are_scrubbed_of_every_key(tmp_path, monkeypatch, caplog):
    import litellm

    key = "sk-proj-ECHOTEST-abcdefghijklmnop0123456789"
    env_key = "sk-ant-ENVTEST-zyxwvutsrqponm9876543210"
    monkeypatch.setenv("OPENAI_API_KEY", env_key)
    caplog.set_level(logging.DEBUG)
    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file)
    for name in ("", "LiteLLM"):
        logging.getLogger(name).addHandler(handler)
    old = litellm.set_verbose
    old_level = logging.getLogger("LiteLLM").level
    spans = lo.read_traces([{"trace_id": f"t{i}", "span_id": "s", "kind": "llm", "input_text": "q?",
                             "output_text": f"a {i}"} for i in range(3)], format="records")
    store = lo.Store(tmp_path / "store")
    texts = []
    try:
        logging.getLogger("LiteLLM").setLevel(logging.DEBUG)
        with EchoServer() as srv:
            # the key as an argument
            judge = LLMJudge("Is it fine?", model="openai/x", api_base=srv.url, api_key=key)
            try:
                res = lo.evaluate(spans, judge, store=store, cache=False, progress=False, max_retries=0)
                texts.append(res.to_json())
            except Exception as e:  # a fail-fast on auth errors may raise: its text must be clean too
                texts.append(f"{e!r} {e}")
            # the key from the provider's environment variable
            from llmops_nb.llm import LLMConfigError

            with pytest.raises(LLMConfigError) as err:  # an auth error stops the run (issue 14): its text is clean
                Runner(cache=False, max_retries=0).run(
                    [LLMCall("openai/x", [{"role": "user", "content": "hi"}], {"api_base": srv.url})])
            texts.append(f"{err.value!r} {err.value}")
            assert "401" in str(err.value) or "API key" in str(err.value)
    finally:
        for name in ("", "LiteLLM"):
            logging.getLogger(name).removeHandler(handler)
        handler.close()
        litellm.set_verbose = old
        logging.getLogger("LiteLLM").setLevel(old_level)  # later tests must not print litellm's debug log
    texts += [caplog.text, log_file.read_text()]
    texts += [p.read_bytes().decode("latin-1") for p in (tmp_path / "store").rglob("*") if p.is_file()]
    import pyarrow.parquet as pq

    texts += [json.dumps(pq.read_table(p).to_pylist(), default=str) for p in (tmp_path / "store").rglob("*.parquet")]
    blob = "\n".join(texts)
    assert "Incorrect API key provided" in blob  # the provider's message got through, scrubbed
    for secret in (key, env_key):
        leaked = [f for f in _fragments(secret) if f in blob]
        assert not leaked, (secret[:8], leaked)


def test_a_call_never_shows_its_key():
    call = LLMCall("openai/x", [{"role": "user", "content": "hi"}], {"api_key": "sk-repr-test-0123456789", "temperature": 0})
    assert "sk-repr" not in repr(call) and "temperature" in repr(call) and "***" in repr(call)
