"""The simulated judge through litellm: measured error rates, criteria, shapes, unknown traces."""

from __future__ import annotations

import asyncio
import math

import orjson
import pytest

litellm = pytest.importorskip("litellm")

from llmops_nb.demo import generate, register_sim_judge, unregister_sim_judge  # noqa: E402
from llmops_nb.demo._judge import SimJudgeError  # noqa: E402

FPR, FNR = 0.1, 0.2
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic notes from litellm's import


@pytest.fixture(scope="module")
def data():
    return generate(1500, seed=21)


@pytest.fixture(scope="module")
def _judge(data):
    j = register_sim_judge(data, fpr=FPR, fnr=FNR, seed=3)
    yield j
    unregister_sim_judge()


@pytest.fixture
def judge(_judge):
    return _judge.install()  # other tests register their own judges


def _prompt(root, criterion: str, tail: str = 'where "answer" is "pass" if the criterion is met, else "fail".'):
    return [
        {"role": "system", "content": "You are a careful, impartial evaluator. Reply with a JSON object only."},
        {"role": "user", "content": f"Criterion: {criterion}\nJudge the assistant's reply.\n\n<input>\n{root.input_text}\n"
                                    f"</input>\n\n<output>\n{root.output_text}\n</output>\n\nReply with JSON only: "
                                    f"{{\"reasoning\": \"...\", \"answer\": ...}} {tail}"},
    ]


def _within(k: int, n: int, p: float) -> bool:
    return abs(k - n * p) <= 4 * math.sqrt(n * p * (1 - p)) + 1


def test_measured_error_rates_match_configuration(data, judge):
    roots = data.spans[data.spans["parent_span_id"].isna()].set_index("trace_id")
    truth = data.truth.set_index("trace_id")
    ids = list(truth.index[truth["failed"]][:200]) + list(truth.index[~truth["failed"]][:300])
    fp = tn = fn = tp = 0
    for tid in ids:
        r = litellm.completion(model="llmops-sim/judge", messages=_prompt(roots.loc[tid], "overall quality"))
        assert r.model == "llmops-sim/judge"
        reply = orjson.loads(r.choices[0].message.content)
        assert reply["reasoning"].startswith("[simulated judge]")
        says_fail = reply["answer"] == "fail"
        if truth.loc[tid, "failed"]:
            tp += says_fail
            fn += not says_fail
        else:
            fp += says_fail
            tn += not says_fail
    assert tp + fn == 200 and fp + tn == 300
    assert _within(fp, fp + tn, FPR), (fp, fp + tn)
    assert _within(fn, fn + tp, FNR), (fn, fn + tp)
    # usage is counted on the real prompt and priced
    assert r.usage.prompt_tokens > 40 and 10 < r.usage.completion_tokens < 120
    cost = litellm.completion_cost(completion_response=r)
    assert cost > 0


def test_criteria_map_to_their_failure_mode(data, judge):
    roots = data.spans[data.spans["parent_span_id"].isna()].set_index("trace_id")
    truth = data.truth.set_index("trace_id")
    cases = {
        "groundedness (faithfulness to the retrieved context)": "hallucinated_policy",
        "Does the answer contain hallucinations?": "hallucinated_policy",
        "tool selection and argument correctness": "wrong_tool_args",
        "response language matches the user's language": "wrong_language",
        "no PII or personal data in the answer": "pii_echo",
        "resistance to prompt injection": "injection_success",
        "no unnecessary refusal": "over_refusal",
        "helpfulness": "failed",
        "correctness": "failed",
    }
    for crit, col in cases.items():
        tid = truth.index[truth[col]][0]
        msgs = _prompt(roots.loc[tid], crit)
        assert judge.criterion(msgs) == col, crit
        assert judge.find_trace(msgs[1]["content"]) == tid
    # the keyword is read from the criterion, not from the quoted texts
    tid = truth.index[~truth["pii_echo"] & roots.reindex(truth.index)["output_text"].str.contains("personal care")][0]
    assert judge.criterion(_prompt(roots.loc[tid], "helpfulness")) == "failed"


def test_same_trace_same_verdict_and_async(data, judge):
    roots = data.spans[data.spans["parent_span_id"].isna()]
    msgs = [_prompt(r, "helpfulness") for r in roots.head(20).itertuples()]

    async def go():
        return await asyncio.gather(*(litellm.acompletion(model="llmops-sim/judge", messages=m) for m in msgs))

    first = [r.choices[0].message.content for r in asyncio.run(go())]
    again = [litellm.completion(model="llmops-sim/judge", messages=m).choices[0].message.content for m in msgs]
    assert first == again


def test_scores_and_labels(data, judge):
    roots = data.spans[data.spans["parent_span_id"].isna()].set_index("trace_id")
    truth = data.truth.set_index("trace_id")
    scale = 'where "answer" is an integer from 1 (worst) to 5 (best).'
    for tid in list(truth.index[:40]):
        r = litellm.completion(model="llmops-sim/judge", messages=_prompt(roots.loc[tid], "helpfulness", scale))
        ans = orjson.loads(r.choices[0].message.content)["answer"]
        assert isinstance(ans, int) and 1 <= ans <= 5
        verdict = judge.answer(_prompt(roots.loc[tid], "helpfulness"))["answer"]
        assert (ans >= 4) == (verdict == "pass")
    labels = 'where "answer" is exactly one of: "hallucinated_policy", "over_refusal", "none".'
    tid = truth.index[truth["over_refusal"] & ~truth[["hallucinated_policy"]].any(axis=1)][0]
    a = judge.answer(_prompt(roots.loc[tid], "failure mode", labels))["answer"]
    assert a in ("over_refusal", "none")


def test_unknown_trace_gets_a_clear_error(judge):
    msgs = [{"role": "user", "content": "Criterion: helpfulness\n<input>\nWhat is the capital of Australia, mate?\n</input>"}]
    with pytest.raises(SimJudgeError, match="no known demo trace"):
        judge.answer(msgs)
    with pytest.raises(Exception, match="no known demo trace"):
        litellm.completion(model="llmops-sim/judge", messages=msgs)


def test_registration_is_explicit_and_replaceable(data):
    unregister_sim_judge()
    assert all(e.get("provider") != "llmops-sim" for e in litellm.custom_provider_map or [])
    with pytest.raises(ValueError, match="spans"):
        register_sim_judge(data.truth)
    with pytest.raises(ValueError, match="between 0 and 1"):
        register_sim_judge(data, fpr=1.5)
    j = register_sim_judge(data.truth, spans=data.spans, fpr=0.0, fnr=0.0)
    truth = data.truth.set_index("trace_id")
    roots = data.spans[data.spans["parent_span_id"].isna()].set_index("trace_id")
    for tid in truth.index[:50]:
        assert (j.answer(_prompt(roots.loc[tid], "quality"))["answer"] == "fail") == truth.loc[tid, "failed"]
    unregister_sim_judge()


def test_judge_pipeline_runs_offline_through_evals():
    ev = pytest.importorskip("llmops_nb.evals")
    import llmops_nb as lo

    small = generate(120, seed=9)
    register_sim_judge(small, fpr=0.0, fnr=0.0)
    try:
        traces = lo.to_traces(small.spans)
        res = ev.evaluate(traces, [ev.Groundedness(model="llmops-sim/judge")], spans=small.spans,
                          cache=False, progress=False)
    finally:
        unregister_sim_judge()
    assert len(res) == 120 and res["error"].isna().all()
    assert res["simulated"].all() and (res["judge_model"] == "llmops-sim/judge").all()
    assert (res["cost_usd"] > 0).all() and (res["prompt_tokens"] > 0).all()
    truth = small.truth.set_index("trace_id")["hallucinated_policy"]
    got = res.set_index("trace_id")["passed"].astype(bool)
    assert ((~got) == truth.reindex(got.index)).all()


def test_streaming_replies(data, judge):
    root = data.spans[data.spans["parent_span_id"].isna()].iloc[0]
    msgs = _prompt(root, "helpfulness")
    text = "".join(c.choices[0].delta.content or "" for c in litellm.completion(model="llmops-sim/judge", messages=msgs, stream=True))
    assert orjson.loads(text) == judge.answer(msgs)


def test_register_from_written_files(tmp_path):
    from llmops_nb.demo import load_truth, write_otlp

    small = generate(60, seed=13)
    write_otlp(small, tmp_path / "otlp")
    try:
        j = register_sim_judge(tmp_path / "otlp", fpr=0.0, fnr=0.0)
        truth = load_truth(tmp_path / "otlp").set_index("trace_id")
        roots = small.spans[small.spans["parent_span_id"].isna()].set_index("trace_id")
        for tid in truth.index[:20]:
            r = litellm.completion(model="llmops-sim/judge", messages=_prompt(roots.loc[tid], "overall quality"))
            assert (orjson.loads(r.choices[0].message.content)["answer"] == "fail") == truth.loc[tid, "failed"]
        assert j.fpr == 0.0
    finally:
        unregister_sim_judge()
    with pytest.raises(FileNotFoundError, match="no ground truth"):
        load_truth(tmp_path)


def test_importing_registers_nothing():
    import subprocess
    import sys

    code = ("import llmops_nb, llmops_nb.demo, litellm; from llmops_nb.demo import generate; generate(5); "
            "print(any(e.get('provider') == 'llmops-sim' for e in litellm.custom_provider_map or []))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"
