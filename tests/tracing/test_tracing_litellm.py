"""User code under ``capture`` with litellm against a local OpenAI-compatible server: nested
spans, messages, tool calls, tokens, cost from litellm's price map, streaming, errors."""

from __future__ import annotations

import asyncio

import orjson
import pytest

import llmops_nb as lo


def _by_name(df):
    return {r["name"]: r for r in df.to_dict("records")}


def test_nested_spans_tokens_and_cost(store, llm_kwargs, price):
    import litellm

    MODEL, IN_COST, OUT_COST = price["model"], price["in"], price["out"]

    @lo.span("retriever", name="search_docs")
    def search(query: str) -> list[dict]:
        return [{"id": "kb-1", "content": "Orders ship in 2 days.", "score": 0.91, "metadata": {"src": "faq"}}]

    @lo.span("tool")
    def lookup_order(order_id: str) -> dict:
        return {"order_id": order_id, "status": "shipped"}

    @lo.span("agent", name="support_agent", session_id="chat-7", user_id="u-42", metadata={"tenant": "acme"})
    def agent(question: str) -> str:
        docs = search(question)
        first = litellm.completion(messages=[{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": f"TOOL {question}"}], **llm_kwargs)
        call = first.choices[0].message.tool_calls[0]
        result = lookup_order(**orjson.loads(call.function.arguments))
        second = litellm.completion(messages=[
            {"role": "user", "content": question},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": orjson.dumps(result).decode()},
            {"role": "user", "content": f"Context: {docs[0]['content']} Answer now."},
        ], temperature=0.2, **llm_kwargs)
        return second.choices[0].message.content

    with lo.capture(store, tags=["test"]) as cap:
        answer = agent("Where is my order A17?")
    assert answer == "Your order A17 has shipped."

    spans = store.spans()
    assert len(spans) == 5 and spans["trace_id"].nunique() == 1
    assert cap.trace_ids == [spans["trace_id"].iloc[0]]
    s = _by_name(spans)
    root = s["support_agent"]
    assert root["kind"] == "agent" and root["parent_span_id"] is None and root["status"] == "ok"
    assert root["input_text"] == "Where is my order A17?" and root["output_text"] == answer
    for name in ("search_docs", "lookup_order"):
        assert s[name]["parent_span_id"] == root["span_id"]
    llm = spans[spans["kind"] == "llm"].sort_values("start_time").to_dict("records")
    assert len(llm) == 2 and all(r["parent_span_id"] == root["span_id"] for r in llm)
    # every span carries the session, user, tags and metadata of its outer contexts
    assert set(spans["session_id"]) == {"chat-7"} and set(spans["user_id"]) == {"u-42"}
    assert all(list(t) == ["test"] for t in spans["tags"])
    assert all(m["tenant"] == "acme" for m in spans["metadata"])

    # the LLM spans: model, provider, messages, tool calls, tokens, cost from the price map
    first, second = llm
    assert first["model"] == MODEL and first["provider"] == "openai" and first["status"] == "ok"
    assert [m["role"] for m in first["input_messages"]] == ["system", "user"]
    call = first["output_messages"][0]["tool_calls"][0]
    assert call["name"] == "lookup_order" and orjson.loads(call["arguments"]) == {"order_id": "A17"}
    assert (first["prompt_tokens"], first["completion_tokens"], first["total_tokens"]) == (31, 9, 40)
    assert first["cost_usd"] == pytest.approx(31 * IN_COST + 9 * OUT_COST, rel=1e-9)
    assert [m["role"] for m in second["input_messages"]] == ["user", "assistant", "tool", "user"]
    assert second["input_messages"][1]["tool_calls"][0]["id"] == "call_1"
    assert second["input_messages"][2]["tool_call_id"] == "call_1"
    assert second["output_text"] == answer
    assert (second["prompt_tokens"], second["completion_tokens"]) == (17, 5)
    assert second["cost_usd"] == pytest.approx(17 * IN_COST + 5 * OUT_COST, rel=1e-9)
    assert orjson.loads(second["attributes"]["llm.invocation_parameters"])["temperature"] == 0.2
    assert "test-key" not in orjson.dumps(spans["attributes"].tolist()).decode()  # no secrets recorded
    assert all(r["latency_ms"] > 0 for r in llm)

    # the user steps: tool arguments and result, retrieved documents
    tool = s["lookup_order"]
    assert tool["kind"] == "tool" and tool["tool_name"] == "lookup_order"
    assert orjson.loads(tool["tool_arguments"]) == {"order_id": "A17"}
    assert orjson.loads(tool["tool_result"]) == {"order_id": "A17", "status": "shipped"}
    doc = s["search_docs"]["documents"][0]
    assert (doc["id"], doc["content"], doc["score"]) == ("kb-1", "Orders ship in 2 days.", 0.91)
    assert orjson.loads(doc["metadata"]) == {"src": "faq"}

    # the trace roll-up sees the cost of both calls
    tr = cap.traces().iloc[0]
    assert tr["n_llm"] == 2 and tr["cost_usd"] == pytest.approx(first["cost_usd"] + second["cost_usd"])
    # one flush at exit: one store segment, not one per span
    assert len(store.files("spans")) == 1


def test_streaming_sync_and_async(store, llm_kwargs, price):
    import litellm

    IN_COST, OUT_COST = price["in"], price["out"]
    msgs = [{"role": "user", "content": "hello"}]

    async def astream():
        resp = await litellm.acompletion(messages=msgs, stream=True, stream_options={"include_usage": True}, **llm_kwargs)
        return "".join([c.choices[0].delta.content or "" async for c in resp if c.choices])

    with lo.capture(store):
        with lo.span("chain", name="sync-stream"):
            resp = litellm.completion(messages=msgs, stream=True, stream_options={"include_usage": True}, **llm_kwargs)
            assert isinstance(resp, litellm.CustomStreamWrapper)  # the wrapper keeps litellm's type
            text = "".join(c.choices[0].delta.content or "" for c in resp if c.choices)
            no_usage = litellm.completion(messages=msgs, stream=True, **llm_kwargs)
            text2 = "".join(c.choices[0].delta.content or "" for c in no_usage)
        atext = asyncio.run(astream())
    assert text == text2 == atext == "Your order A17 has shipped."
    llm = store.spans(kind="llm").sort_values("start_time").to_dict("records")
    assert [r["name"] for r in llm] == ["litellm.completion", "litellm.completion", "litellm.acompletion"]
    for r in llm:
        assert r["status"] == "ok" and r["output_text"] == text
        assert r["attributes"]["llmops.stream"] is True and r["attributes"]["llmops.stream_chunks"] > 3
        assert r["attributes"]["llmops.time_to_first_token_ms"] <= r["latency_ms"]
    exact, estimated, a = llm
    # with include_usage the server's usage is recorded exactly, and priced
    assert (exact["prompt_tokens"], exact["completion_tokens"]) == (17, 5)
    assert exact["cost_usd"] == pytest.approx(17 * IN_COST + 5 * OUT_COST)
    assert (a["prompt_tokens"], a["completion_tokens"]) == (17, 5)
    # without it litellm estimates the usage, and the span says so
    assert estimated["attributes"].get("llmops.usage_estimated") is True
    assert "llmops.usage_estimated" not in exact["attributes"]
    sync_root = store.spans(kind="chain").iloc[0]
    assert exact["parent_span_id"] == estimated["parent_span_id"] == sync_root["span_id"]


def test_errors_are_recorded_and_raised(store, llm_server, llm_kwargs):
    import litellm

    from llmops_nb.testing import FaultConfig

    llm_server.faults = FaultConfig(plan=["500"])

    @lo.span("chain", name="fragile")
    def fragile() -> str:
        return litellm.completion(messages=[{"role": "user", "content": "hi"}], num_retries=0, max_retries=0, **llm_kwargs)

    try:
        with lo.capture(store), pytest.raises(litellm.InternalServerError):
            fragile()
    finally:
        llm_server.faults = FaultConfig()
    spans = _by_name(store.spans())
    llm, chain = spans["litellm.completion"], spans["fragile"]
    assert llm["status"] == "error" and "InternalServerError" in llm["error_message"]
    assert chain["status"] == "error" and "InternalServerError" in chain["error_message"]
    assert llm["parent_span_id"] == chain["span_id"] and llm["prompt_tokens"] is None


def test_a_span_that_cannot_start_never_breaks_the_call(store, llm_kwargs, monkeypatch):
    import litellm

    from llmops_nb.tracing import _patch

    def broken(*args, **kwargs):
        raise RuntimeError("recording broke")

    monkeypatch.setattr(_patch, "start_llm_span", broken)

    async def both() -> tuple[str, str]:
        sync = litellm.completion(messages=[{"role": "user", "content": "echo:a"}], **llm_kwargs)
        other = await litellm.acompletion(messages=[{"role": "user", "content": "echo:b"}], **llm_kwargs)
        return sync.choices[0].message.content, other.choices[0].message.content

    with lo.capture(store), lo.span("chain", name="outer"):
        answers = asyncio.run(both())
    assert answers == ("answer to a", "answer to b")  # the calls answered as without a capture
    assert store.spans()["name"].tolist() == ["outer"]  # and nothing half-recorded


def test_user_step_error_and_handle(store):
    with lo.capture(store):
        with pytest.raises(KeyError), lo.span("tool", name="refund") as s:
            s.set_input({"order_id": "B2", "amount": 10})
            raise KeyError("B2")
        with lo.span("guardrail", name="pii_check") as g:
            g.record_error("PII found in the answer")
    s = _by_name(store.spans())
    assert s["refund"]["status"] == "error" and s["refund"]["error_message"].startswith("KeyError")
    assert orjson.loads(s["refund"]["tool_arguments"]) == {"order_id": "B2", "amount": 10}
    assert s["pii_check"]["kind"] == "guardrail" and s["pii_check"]["error_message"] == "PII found in the answer"
    assert s["refund"]["trace_id"] != s["pii_check"]["trace_id"]  # two root spans, two traces


def test_embeddings_and_unpriced_models(store, llm_server):
    import litellm

    kw = {"api_base": llm_server.url, "api_key": "x"}

    async def aemb():
        return await litellm.aembedding(model="openai/text-embedding-3-small", input="one two three", **kw)

    with lo.capture(store):
        litellm.embedding(model="openai/text-embedding-3-small", input=["a b", "c"], **kw)
        asyncio.run(aemb())
        litellm.completion(model="openai/not-a-priced-model-xyz", messages=[{"role": "user", "content": "hi"}], **kw)
    emb = store.spans(kind="embedding").sort_values("start_time").to_dict("records")
    assert [r["name"] for r in emb] == ["litellm.embedding", "litellm.aembedding"]
    price = litellm.model_cost["text-embedding-3-small"]["input_cost_per_token"]
    for r, tokens in zip(emb, (3, 3)):
        assert r["model"] == "text-embedding-3-small" and r["provider"] == "openai"
        assert r["prompt_tokens"] == tokens and r["cost_usd"] == pytest.approx(tokens * price)
    assert orjson.loads(emb[0]["input_text"]) == ["a b", "c"] and emb[1]["input_text"] == "one two three"
    unpriced = store.spans(kind="llm").iloc[0]
    assert unpriced["model"] == "not-a-priced-model-xyz" and unpriced["prompt_tokens"] == 17
    assert unpriced["cost_usd"] is None or unpriced["cost_usd"] != unpriced["cost_usd"]  # None / NaN


def test_start_stop_restores_litellm_and_records_nothing_after(store, llm_kwargs):
    import litellm

    original = litellm.completion
    cap = lo.capture(store, session_id="nb").start()
    try:
        assert litellm.completion is not original
        litellm.completion(messages=[{"role": "user", "content": "echo:1"}], **llm_kwargs)  # "cell" 2
    finally:
        cap.stop()
    assert litellm.completion is original
    # litellm's callback lists are left as they were
    from llmops_nb.tracing import _callbacks

    for name in _callbacks._CALLBACK_LISTS:
        assert _callbacks._CALLBACK not in (getattr(litellm, name, None) or [])
    litellm.completion(messages=[{"role": "user", "content": "echo:2"}], **llm_kwargs)
    spans = store.spans()
    assert len(spans) == 1
    assert spans.iloc[0]["session_id"] == "nb" and spans.iloc[0]["input_text"] == "echo:1"
    assert cap.n_spans == 1


def test_extra_exporter_gets_the_same_spans(store, llm_kwargs):
    import litellm
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    mem = InMemorySpanExporter()
    with lo.capture(store, exporter=mem), lo.span("chain", name="outer"):
        litellm.completion(messages=[{"role": "user", "content": "echo:x"}], **llm_kwargs)
    got = {format(s.context.span_id, "016x") for s in mem.get_finished_spans()}
    assert got == set(store.spans()["span_id"]) and len(got) == 2


def test_user_global_tracer_provider_untouched(store):
    from opentelemetry import trace

    before = trace.get_tracer_provider()
    with lo.capture(store):
        assert trace.get_tracer_provider() is before
    assert trace.get_tracer_provider() is before


def test_generator_steps_cover_their_iteration(store, llm_kwargs):
    """A decorated (async) generator's span covers its whole iteration; the LLM stream inside
    nests under it, and the caller's context between items is not the generator's."""
    import litellm
    from opentelemetry import trace

    @lo.span("chain", name="stream_answer")
    def stream_answer(question: str):
        resp = litellm.completion(messages=[{"role": "user", "content": question}], stream=True, **llm_kwargs)
        for chunk in resp:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    @lo.span("chain", name="astream_answer")
    async def astream_answer(question: str):
        resp = await litellm.acompletion(messages=[{"role": "user", "content": question}], stream=True, **llm_kwargs)
        async for chunk in resp:
            if chunk.choices and chunk.choices[0].delta.content:
                yield chunk.choices[0].delta.content

    async def consume() -> str:
        return "".join([x async for x in astream_answer("echo:async gen")])

    with lo.capture(store), lo.span("agent", name="outer") as outer:
        outer_id = outer.span_id
        parts = []
        for part in stream_answer("echo:gen"):
            # between items the caller's current span is its own, not the generator's
            assert format(trace.get_current_span().get_span_context().span_id, "016x") == outer_id
            parts.append(part)
        atext = asyncio.run(consume())
    assert "".join(parts) == "answer to gen" and atext == "answer to async gen"
    s = _by_name(store.spans())
    for gen_name, llm_text in (("stream_answer", "answer to gen"), ("astream_answer", "answer to async gen")):
        gen = s[gen_name]
        assert gen["parent_span_id"] == outer_id and gen["output_text"] == llm_text and gen["status"] == "ok"
        llm = store.spans(kind="llm")
        child = llm[llm["parent_span_id"] == gen["span_id"]]
        assert len(child) == 1 and child.iloc[0]["output_text"] == llm_text
        assert gen["end_time"] >= child.iloc[0]["end_time"]


def test_generator_closed_early(store, llm_kwargs):
    @lo.span("chain", name="numbers")
    def numbers():
        yield from range(100)

    with lo.capture(store):
        for i in numbers():
            if i == 2:
                break
    row = store.spans().iloc[0]
    assert row["attributes"]["llmops.generator_closed"] is True and row["output_text"] == "[0,1,2]"


def test_functions_imported_before_the_capture_are_recorded(store, llm_kwargs, price):
    """``from litellm import completion`` taken before the capture holds the unwrapped function;
    litellm's callback records those calls, nested under the caller's span, exactly once."""
    from litellm import acompletion as early_acompletion
    from litellm import completion as early_completion

    async def task(i: int):
        async with lo.span("agent", name=f"task-{i}"):
            await early_acompletion(messages=[{"role": "user", "content": f"echo:early-{i}"}], **llm_kwargs)

    async def main():
        await asyncio.gather(*(task(i) for i in range(5)))

    with lo.capture(store, session_id="early"):
        with lo.span("chain", name="sync-parent"):
            early_completion(messages=[{"role": "user", "content": "echo:early-sync"}], **llm_kwargs)
        asyncio.run(main())
    spans = store.spans()
    llm = spans[spans["kind"] == "llm"]
    assert len(llm) == 6
    # the sync call came through litellm's callback; the async ones through litellm's inner call
    by = {r["name"]: r["attributes"].get("llmops.captured_by") for r in llm.to_dict("records")}
    assert by == {"litellm.completion": "litellm_callback", "litellm.acompletion": None}
    parents = {r["span_id"]: r["name"] for r in spans.to_dict("records")}
    for r in llm.to_dict("records"):
        want = "sync-parent" if r["input_text"] == "echo:early-sync" else f"task-{r['input_text'].split('-')[1]}"
        assert parents[r["parent_span_id"]] == want
        assert (r["prompt_tokens"], r["completion_tokens"]) == (11, 4) and r["session_id"] == "early"
        assert r["cost_usd"] == pytest.approx(11 * price["in"] + 4 * price["out"])
        assert r["model"] == price["model"] and r["latency_ms"] > 0


def test_streamed_tool_calls_are_assembled(store, llm_kwargs):
    import litellm

    with lo.capture(store):
        resp = litellm.completion(messages=[{"role": "user", "content": "TOOL where is A17"}], stream=True,
                                  stream_options={"include_usage": True}, **llm_kwargs)
        for _ in resp:
            pass
    row = store.spans(kind="llm").iloc[0]
    call = row["output_messages"][0]["tool_calls"][0]
    assert call["name"] == "lookup_order" and orjson.loads(call["arguments"]) == {"order_id": "A17"}
    assert (row["prompt_tokens"], row["completion_tokens"]) == (31, 9)
