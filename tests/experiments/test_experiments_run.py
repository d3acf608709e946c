"""Experiments end to end: two prompt versions against a local OpenAI-compatible server,
judged through litellm; stored, reproducible, compared, gated."""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb import prompts
from llmops_nb.evals import Correctness, ExactMatch, LLMJudge
from llmops_nb.experiments import (
    compare,
    gate_experiments,
    load_experiment,
    reproduce,
    run_experiment,
)
from llmops_nb.testing import FakeLLMServer

N = 60


def _dataset() -> pd.DataFrame:
    rows = []
    for i in range(N):
        a, b = 3 + (i * 7) % 41, 2 + (i * 11) % 37
        rows.append({"example_id": f"q{i:03d}", "input": f"What is {a} plus {b}?", "expected": f"The answer is {a + b}.", "a": a, "b": b})
    return pd.DataFrame(rows)


def _tag(text: str, tag: str) -> str:
    m = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", text, re.S)
    return m.group(1).strip() if m else ""


def _responder(req: dict) -> str:
    msgs = req["messages"]
    user = msgs[-1]["content"]
    if user.startswith("Criterion: correctness"):
        ok = _tag(user, "reference") == _tag(user, "output")
        return '{"reasoning": "compared with the reference", "answer": "%s"}' % ("pass" if ok else "fail")
    system = msgs[0]["content"] if msgs[0]["role"] == "system" else ""
    a, b = map(int, re.findall(r"\d+", user)[:2])
    if "v2" in system and (a * b) % 4 == 0:  # the planted regression of prompt v2
        return f"The answer is {a + b + 1}."
    return f"The answer is {a + b}."


@pytest.fixture(scope="module")
def server():
    with FakeLLMServer(responder=_responder) as srv:
        import litellm

        litellm.register_model({"openai/fake-small": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6,
                                                      "litellm_provider": "openai", "mode": "chat"}})
        yield srv


@pytest.fixture
def setup(tmp_path, server):
    st = lo.Store(tmp_path / "store")
    cache = tmp_path / "cache.sqlite"
    prompts.save("adder", [{"role": "system", "content": "You add numbers (v1). Answer with the number only."},
                           {"role": "user", "content": "{{ input }}"}], model="openai/fake-small", message="v1", store=st)
    prompts.save("adder", [{"role": "system", "content": "You add numbers (v2). Be brief."},
                           {"role": "user", "content": "{{ input }}"}], model="openai/fake-small", message="v2", store=st)
    conn = {"api_base": server.url, "api_key": "x"}
    judge = Correctness(model="openai/fake-small", api_base=server.url, api_key="x", name="correctness")
    return st, cache, conn, judge


def _run(st, cache, conn, judge, version: int):
    return run_experiment(_dataset(), prompt=f"adder@{version}", model_params=conn, store=st, cache=cache,
                          evaluators=[ExactMatch(name="exact"), judge], name=f"adder-v{version}", progress=False)


def test_two_prompt_versions_compared_and_gated(setup, server):
    st, cache, conn, judge = setup
    v1 = _run(st, cache, conn, judge, 1)
    v2 = _run(st, cache, conn, judge, 2)
    assert len(v1.outputs) == N and v1.outputs["error"].isna().all()
    # every run is a trace in the store, tagged with the experiment
    spans = st.spans(trace_id=list(v1.outputs["trace_id"]))
    assert set(spans["trace_id"]) == set(v1.outputs["trace_id"])
    assert {"chain", "llm"} <= set(spans["kind"])
    llm = spans[spans["kind"] == "llm"]
    assert (llm["cost_usd"] > 0).all()
    # cost equals litellm's price map for the tokens the server reported
    exp_cost = (v1.outputs["prompt_tokens"] * 1e-6 + v1.outputs["completion_tokens"] * 2e-6).sum()
    assert v1.outputs["cost_usd"].sum() == pytest.approx(exp_cost)
    s1 = v1.summary().set_index("metric")["value"]
    assert s1["exact"] == 1.0 and s1["correctness"] == 1.0
    planted = sum((r.a * r.b) % 4 == 0 for r in _dataset().itertuples())
    s2 = v2.summary().set_index("metric")["value"]
    assert s2["exact"] == pytest.approx(1 - planted / N)

    cmp = compare(v1, v2)
    assert set(cmp.significant_regressions) >= {"exact", "correctness"}
    assert len(cmp.regressions[cmp.regressions["evaluator"] == "exact"]) == planted
    assert len(cmp.fixes) == 0
    gate = gate_experiments(v1, v2, ["exact", "correctness", "cost_increase <= 50%"])
    assert not gate.passed
    same = gate_experiments(v1, v1, ["exact", "correctness"])
    assert same.passed


def test_simulated_judge_finds_the_regression(setup, server):
    from llmops_nb.demo import register_sim_judge, unregister_sim_judge
    from llmops_nb.experiments import evaluate_experiment

    st, cache, conn, judge = setup
    v1 = _run(st, cache, conn, judge, 1)
    v2 = _run(st, cache, conn, judge, 2)
    outs = pd.concat([v1.outputs, v2.outputs])
    # the simulation's truth: which outputs are wrong (known, because the regression was planted)
    truth = pd.DataFrame({"trace_id": outs["trace_id"], "failed": outs["output_text"] != outs["expected"]})
    spans = st.spans(trace_id=list(outs["trace_id"]))
    register_sim_judge(truth, spans=spans, fpr=0.0, fnr=0.0, seed=0)
    try:
        # a rubric judge that quotes the question and the answer (not the reference)
        sim = LLMJudge(rubric="Is the sum stated in the output the correct sum for the question?",
                       model="llmops-sim/judge", name="sim_correctness")
        e1 = evaluate_experiment(v1, [sim], store=st, cache=False, progress=False)
        e2 = evaluate_experiment(v2, [sim], store=st, cache=False, progress=False)
    finally:
        unregister_sim_judge()
    r2 = e2.results[e2.results["evaluator"] == "sim_correctness"]
    assert r2["simulated"].all() and r2["error"].isna().all()
    assert r2["passed"].mean() == pytest.approx(e2.summary().set_index("metric").loc["exact", "value"])
    cmp = compare(e1, e2)
    assert "sim_correctness" in cmp.significant_regressions
    assert "sim_correctness" in [e["name"] for e in e2.config["evaluators"]] or any(
        e.get("params", {}).get("name") == "sim_correctness" for e in e2.config["evaluators"])


def test_stored_record_reproduces_the_results(setup, server):
    st, cache, conn, judge = setup
    v2 = _run(st, cache, conn, judge, 2)
    rec = load_experiment("adder-v2", store=st)
    assert rec.config["prompt"] == "adder@2"
    assert rec.config["model"] == "openai/fake-small"
    assert [e["name"] for e in rec.config["evaluators"]] == ["exact_match", "correctness"]
    assert rec.config["library_version"] == lo.__version__
    assert "api_key" not in str(rec.config)
    calls_before = server.calls
    again = reproduce(v2.experiment_id, dataset=_dataset(), store=st, cache=cache, model_params=conn,
                      evaluators=[ExactMatch(name="exact"), judge])
    assert server.calls == calls_before  # all from the cache
    a = v2.outputs.set_index("example_id")["output_text"]
    b = again.outputs.set_index("example_id")["output_text"]
    assert a.equals(b)
    sa = v2.summary().set_index("metric")["value"]
    sb = again.summary().set_index("metric")["value"]
    assert sa["exact"] == sb["exact"] and sa["correctness"] == sb["correctness"]


def test_resume_skips_done_examples(setup, server):
    st, cache, conn, judge = setup
    v1 = _run(st, cache, conn, judge, 1)
    n_results = len(st.results("WHERE run_id = ?", [v1.experiment_id]))
    again = _run(st, cache, conn, judge, 1)  # same experiment: nothing left to do
    assert again.experiment_id == v1.experiment_id
    assert len(again.outputs) == N
    assert len(st.results("WHERE run_id = ?", [v1.experiment_id])) == n_results


def test_dataset_version_from_versioned_storage(tmp_path, server):
    from llmops_nb import datasets as lds

    st = lo.Store(tmp_path / "s")
    prompts.save("adder", [{"role": "system", "content": "You add numbers (v1)."},
                           {"role": "user", "content": "{{ question }}"}], model="openai/fake-small", message="v1", store=st)
    data = _dataset().head(12)
    ex = lds.to_examples(data.rename(columns={"input": "input_text"}), expected="expected", id_columns=["example_id"])
    lds.save(ex, "sums", message="first 12", store=st, redact=False, verbose=False)
    exp = run_experiment("sums@0", prompt="adder@1", model_params={"api_base": server.url, "api_key": "x"},
                         store=st, cache=False, evaluators=[ExactMatch()], progress=False)
    assert exp.config["dataset"] == "sums" and exp.config["dataset_version"] == 0
    assert len(exp.outputs) == 12 and exp.outputs["error"].isna().all()
    assert exp.summary().set_index("metric").loc["exact_match", "value"] == 1.0


def test_function_task_sync_and_async(tmp_path):
    st = lo.Store(tmp_path / "s")
    data = _dataset().head(20)

    def pipeline(example, top_k=3):
        return {"output": example["expected"] if top_k >= 3 else "?"}

    async def apipeline(example, top_k=3):
        return example["expected"] if top_k >= 3 else "?"

    good = run_experiment(data, pipeline, params={"top_k": 3}, evaluators=[ExactMatch()], store=st, cache=False, progress=False)
    bad = run_experiment(data, apipeline, params={"top_k": 1}, evaluators=[ExactMatch()], store=st, cache=False, progress=False)
    assert good.summary().set_index("metric").loc["exact_match", "value"] == 1.0
    assert bad.summary().set_index("metric").loc["exact_match", "value"] == 0.0
    assert good.config["task_params"] == {"top_k": 3}
    assert "pipeline" in good.config["task"]
    cmp = compare(good, bad)
    assert cmp.significant_regressions == ["exact_match"]


def test_cli_gate_exit_codes(setup, server):
    st, cache, conn, judge = setup
    v1 = _run(st, cache, conn, judge, 1)
    v2 = _run(st, cache, conn, judge, 2)
    base = [sys.executable, "-m", "llmops_nb.cli", "gate", "--store", str(st.path), "--baseline", v1.experiment_id]
    bad = subprocess.run([*base, "--candidate", v2.experiment_id, "--rule", "exact"], capture_output=True, text=True)
    assert bad.returncode != 0, bad.stdout + bad.stderr
    assert "exact" in bad.stdout
    ok = subprocess.run([*base, "--candidate", v1.experiment_id, "--rule", "exact"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
