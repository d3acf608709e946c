"""After an LLMConfigError the runner leaves no task behind: every task it started has finished,
its exception retrieved, so asyncio never reports "Task exception was never retrieved" (in the
loop's exception handler, or in the ``asyncio`` log once the tasks are garbage collected)."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path

import pytest

from llmops_nb.llm import LLMConfigError, Runner


def test_tasks_failing_together_are_all_retrieved_in_the_loop():
    started: list[asyncio.Task] = []

    async def main() -> list[dict]:
        loop = asyncio.get_running_loop()
        seen: list[dict] = []
        loop.set_exception_handler(lambda _loop, ctx: seen.append(ctx))

        async def fail_at_once(i: int) -> None:  # every item fails in the same turn of the loop
            started.append(asyncio.current_task())
            raise LLMConfigError(f"model 'm': no API key (item {i})", model="m")

        with pytest.raises(LLMConfigError, match=r"item 0\)"):  # the first item's error, as before
            await Runner(cache=False).amap(fail_at_once, list(range(12)))
        assert len(started) == 12 and all(t.done() for t in started)
        started.clear()  # drop the tasks: asyncio reports unretrieved exceptions when they are collected
        gc.collect()
        await asyncio.sleep(0)
        return seen

    seen = asyncio.run(main())
    assert [c.get("message") for c in seen] == []


_STOPPED_RUNNER = """
import sys
sys.path.insert(0, sys.argv[1])
from _judge_helpers import FAKE_MODEL, register_price, responder
from llmops_nb.llm import LLMCall, LLMConfigError, Runner
from llmops_nb.testing import FakeLLMServer, FaultConfig

register_price()
with FakeLLMServer(responder=responder, faults=FaultConfig(rate_401=1.0)) as srv:
    calls = [LLMCall(model=FAKE_MODEL, messages=[{"role": "user", "content": f"q{i}"}],
                     params={"api_base": srv.url, "api_key": "sk-wrong"}) for i in range(30)]
    runner = Runner(concurrency=8, cache=False)
    for _ in range(2):  # the second run: the runner is stopped, every call raises at once
        try:
            runner.run(calls, progress=False)
        except LLMConfigError as e:
            print("LLMConfigError", "refused" in str(e))
    print("asked", len(srv.requests))
del runner  # the stored error's traceback keeps the last run's tasks alive until here
import gc
gc.collect()
print("collected", file=sys.stderr)
"""


def test_a_stopped_runner_leaves_no_unretrieved_task_exceptions():
    # in a fresh interpreter: asyncio logs an unretrieved task exception on stderr whenever the
    # task is collected, at the latest when the interpreter exits
    import subprocess

    helpers = str(Path(__file__).resolve().parents[1] / "evals")
    p = subprocess.run([sys.executable, "-c", _STOPPED_RUNNER, helpers], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.count("LLMConfigError True") == 2
    asked = int(p.stdout.split("asked ")[1])
    assert 0 < asked <= 8  # only the calls of the first run already in flight asked
    assert "collected" in p.stderr and "never retrieved" not in p.stderr, p.stderr[-2000:]
