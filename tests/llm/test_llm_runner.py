"""The runner's pieces: pacing, Retry-After, the cache key, mock calls, the ledger."""

from __future__ import annotations

import asyncio

import pytest

from llmops_nb.llm import CallCache, LLMCall, Runner, run_calls, run_sync
from llmops_nb.llm._runner import _Pacer, _retry_after, _retryable


def test_pacer_spaces_requests_to_the_limit():
    import time

    async def go():
        p = _Pacer(600)  # 600 per minute -> one every 0.1 s, no burst
        t0 = time.monotonic()
        for _ in range(3):
            await p.acquire()
        return t0, p

    t0, p = asyncio.run(go())
    # three grants were scheduled at t0, t0 + 0.1 and t0 + 0.2; the next slot is t0 + 0.3
    assert p.next == pytest.approx(t0 + 0.3, abs=0.02)
    before = p.next
    p.adjust(5)  # a call that used 5 more units than estimated pushes the schedule back
    assert p.next - before == pytest.approx(0.5)


def test_retry_after_and_retryable():
    class Resp:
        headers = {"retry-after": "3"}

    class E(Exception):
        status_code = 429
        response = Resp()

    assert _retry_after(E()) == 3.0 and _retryable(E())

    class Ms(Exception):
        status_code = 503
        headers = {"retry-after-ms": "250"}

    assert _retry_after(Ms()) == 0.25 and _retryable(Ms())

    class Bad(Exception):
        status_code = 401

    assert not _retryable(Bad()) and _retryable(TimeoutError())


def test_cache_key_ignores_transport_settings():
    a = LLMCall("openai/m", [{"role": "user", "content": "hi"}], {"temperature": 0, "api_key": "k1", "api_base": "x"})
    b = LLMCall("openai/m", [{"role": "user", "content": "hi"}], {"temperature": 0, "api_key": "k2", "timeout": 5})
    c = LLMCall("openai/m", [{"role": "user", "content": "hi"}], {"temperature": 1})
    d = LLMCall("openai/other", [{"role": "user", "content": "hi"}], {"temperature": 0})
    assert a.cache_key() == b.cache_key() != c.cache_key() != d.cache_key()


def test_cache_persists(tmp_path):
    c = CallCache(tmp_path / "c.sqlite")
    c.put("k", "m", {"text": "hello", "cost_usd": 0.1})
    assert c.get("k")["text"] == "hello"  # buffered answers are visible at once
    c.flush()
    assert CallCache(tmp_path / "c.sqlite").get("k")["text"] == "hello" and len(c) == 1
    c.clear()
    assert c.get("k") is None


def test_run_calls_with_mock_response_and_ledger():
    calls = [LLMCall("openai/gpt-4o-mini", [{"role": "user", "content": f"q{i}"}], {"mock_response": f"a{i}"})
             for i in range(5)]
    r = Runner(concurrency=2, cache=False)
    out = r.run(calls, progress=False)
    assert [x.text for x in out] == [f"a{i}" for i in range(5)] and all(x.ok for x in out)
    assert all(x.cost_usd == 0.0 for x in out)  # mock usage is never priced
    led = r.ledger().set_index("model").loc["openai/gpt-4o-mini"]
    assert led["calls"] == 5 and led["errors"] == 0
    assert run_calls([], cache=False) == []


def test_non_retryable_error_is_reported_not_raised():
    r = Runner(cache=False, max_retries=3)
    out = r.run([LLMCall("openai/gpt-4o-mini", [{"role": "user", "content": "x"}],
                         {"mock_response": Exception("boom"), "api_key": "x"})], progress=False)
    assert out[0].error and out[0].attempts >= 1


def test_run_sync_inside_a_running_loop():
    async def inner():
        async def two():
            return 2

        return run_sync(two())

    assert asyncio.run(inner()) == 2


def test_cost_comes_from_litellm_once_and_an_unpriced_model_is_not_repriced(monkeypatch):
    import warnings

    import litellm

    from llmops_nb.llm import _runner
    from llmops_nb.testing import FakeLLMServer

    lookups: list[str] = []
    real = _runner._cost
    monkeypatch.setattr(_runner, "_cost", lambda model, *a, **k: lookups.append(model) or real(model, *a, **k))
    with FakeLLMServer(responder=lambda req: "fine") as srv:
        kw = {"api_base": srv.url, "api_key": "x"}
        r = Runner(cache=False, concurrency=2)
        priced = r.run([LLMCall("openai/gpt-4o-mini", [{"role": "user", "content": f"q{i}"}], dict(kw)) for i in range(3)])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            unpriced = r.run([LLMCall("openai/no-such-price", [{"role": "user", "content": f"q{i}"}], dict(kw))
                              for i in range(3)])
    # the priced answers carry litellm's price of their own usage, computed once (by litellm)
    for res in priced:
        a, b = litellm.cost_per_token(model="openai/gpt-4o-mini", prompt_tokens=res.prompt_tokens,
                                      completion_tokens=res.completion_tokens)
        assert res.cost_usd == pytest.approx(a + b) and res.cost_usd > 0
    assert "openai/gpt-4o-mini" not in lookups
    # an unpriced model: cost None, one warning, looked up until found unpriced, then never again
    assert all(res.cost_usd is None and res.ok for res in unpriced)
    assert lookups.count("openai/no-such-price") == 1
    assert sum("no price" in str(w.message) for w in caught) == 1


def test_an_empty_call_cache_passed_in_is_used(tmp_path):
    # an empty CallCache has len 0: it must still count as a cache, not as "no cache"
    from llmops_nb.llm import CallCache, LLMCall, Runner

    cache = CallCache(tmp_path / "c.sqlite")
    r = Runner(cache=cache)
    assert r.cache is cache
    call = LLMCall("openai/gpt-4o-mini", [{"role": "user", "content": "hi"}])
    cache.put(call.cache_key(), call.model, {"text": "cached answer"})
    assert r.run([call])[0].text == "cached answer"
