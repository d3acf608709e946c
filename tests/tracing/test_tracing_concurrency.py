"""Capture under asyncio concurrency and inside a running event loop (as in Jupyter): every
LLM span lands in its own task's trace, under its own parent, with its own session."""

from __future__ import annotations

import asyncio
import threading

import orjson

import llmops_nb as lo


def test_50_concurrent_tasks_no_span_in_the_wrong_trace(store, llm_kwargs):
    import litellm

    @lo.span("tool", name="lookup")
    async def lookup(i: int) -> dict:
        await asyncio.sleep(0.001 * (i % 7))
        return {"task": i}

    @lo.span("agent", name="task")
    async def task(i: int) -> str:
        with lo.tracing.attributes(session_id=f"session-{i}", user_id=f"user-{i % 5}"):
            await asyncio.sleep(0.001 * ((50 - i) % 5))  # interleave the tasks
            await lookup(i)
            resp = await litellm.acompletion(messages=[{"role": "user", "content": f"echo:task-{i}"}], **llm_kwargs)
            return resp.choices[0].message.content

    async def main() -> list[str]:
        return await asyncio.gather(*(task(i) for i in range(50)))

    with lo.capture(store) as cap:
        answers = asyncio.run(main())
    assert answers == [f"answer to task-{i}" for i in range(50)]

    spans = store.spans()
    assert len(spans) == 150 and spans["trace_id"].nunique() == 50 and len(cap.trace_ids) == 50
    for _trace_id, g in spans.groupby("trace_id"):
        rows = {r["kind"]: r for r in g.to_dict("records")}
        assert len(g) == 3 and set(rows) == {"agent", "tool", "llm"}
        root, tool, llm = rows["agent"], rows["tool"], rows["llm"]
        i = orjson.loads(root["input_text"])["i"]
        assert root["parent_span_id"] is None
        assert tool["parent_span_id"] == root["span_id"] and llm["parent_span_id"] == root["span_id"]
        # the LLM call in this trace is the one this task made, with this task's session
        assert llm["input_text"] == f"echo:task-{i}" and llm["output_text"] == f"answer to task-{i}"
        assert tool["tool_result"] == f'{{"task":{i}}}'
        assert llm["session_id"] == tool["session_id"] == f"session-{i}"
        assert llm["user_id"] == f"user-{i % 5}"
        assert (llm["prompt_tokens"], llm["completion_tokens"]) == (11, 4)


def test_inside_a_running_event_loop(store, llm_kwargs):
    """Jupyter runs cells inside a running loop: capture, spans, sync and async calls work there."""
    import litellm

    async def cell() -> None:
        assert asyncio.get_running_loop().is_running()
        with lo.capture(store):
            async with lo.span("chain", name="in-loop"):
                litellm.completion(messages=[{"role": "user", "content": "echo:sync"}], **llm_kwargs)
                await litellm.acompletion(messages=[{"role": "user", "content": "echo:async"}], **llm_kwargs)

    asyncio.run(cell())
    spans = store.spans()
    root = spans[spans["kind"] == "chain"].iloc[0]
    llm = spans[spans["kind"] == "llm"]
    assert len(llm) == 2 and set(llm["parent_span_id"]) == {root["span_id"]}
    assert set(llm["input_text"]) == {"echo:sync", "echo:async"}


def test_calls_from_other_threads_are_recorded(store, llm_kwargs):
    """A capture started with start() (one notebook cell) records calls from any thread."""
    import litellm

    cap = lo.capture(store).start()
    try:
        threads = [threading.Thread(target=litellm.completion,
                                    kwargs={"messages": [{"role": "user", "content": f"echo:t{i}"}], **llm_kwargs})
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        cap.stop()
    spans = store.spans()
    assert sorted(spans["input_text"]) == [f"echo:t{i}" for i in range(4)]
    assert spans["trace_id"].nunique() == 4  # no parent: each call is its own trace
