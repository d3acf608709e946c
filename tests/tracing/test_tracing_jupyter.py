"""Capture in a real Jupyter kernel: started in one cell, top-level ``await`` in the kernel's
running event loop in the next cells, stopped in a later cell."""

from __future__ import annotations

import orjson
import pytest

import llmops_nb as lo


@pytest.mark.slow
def test_capture_across_notebook_cells(tmp_path, llm_kwargs):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    store_path = tmp_path / "nb-store"
    cells = [
        f"""import os, asyncio, litellm
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import llmops_nb as lo
kw = {llm_kwargs!r}
cap = lo.capture({str(store_path)!r}, session_id="notebook").start()""",
        """@lo.span("agent", name="ask")
async def ask(i):
    r = await litellm.acompletion(messages=[{"role": "user", "content": f"echo:cell-{i}"}], **kw)
    return r.choices[0].message.content
answers = await asyncio.gather(*(ask(i) for i in range(3)))   # top-level await: the kernel's loop
answers""",
        """with lo.span("chain", name="sync-cell"):
    litellm.completion(messages=[{"role": "user", "content": "echo:sync"}], **kw)""",
        "cap.stop()\nprint(cap.n_spans)",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    out = nb.cells[3].outputs[0]["text"].strip()
    assert out == "8"
    spans = lo.Store(store_path).spans()
    assert len(spans) == 8 and set(spans["session_id"]) == {"notebook"}
    roots = {r["span_id"]: r for r in spans.to_dict("records") if r["parent_span_id"] is None}
    llm = spans[spans["kind"] == "llm"]
    for r in llm.to_dict("records"):
        parent = roots[r["parent_span_id"]]
        if parent["name"] == "ask":
            assert r["input_text"] == f"echo:cell-{orjson.loads(parent['input_text'])['i']}"
        else:
            assert parent["name"] == "sync-cell" and r["input_text"] == "echo:sync"
