"""engine="ray": the heavy verbs on a two-node Ray cluster on loopback give what one process gives.

One cluster (``ray.cluster_utils.Cluster``: a head and a worker node, one CPU each, 128 MB
object stores, no dashboard) serves the whole module. Judges call a local fake server that
counts every request and its arrival time.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray")

import llmops_nb as lo  # noqa: E402
from llmops_nb.analysis import LiteLLMEmbedder, embed_texts  # noqa: E402
from llmops_nb.evals import Evaluator, IsJSON, LLMJudge, Regex  # noqa: E402
from llmops_nb.loaders import LoadError  # noqa: E402
from llmops_nb.testing import FakeLLMServer  # noqa: E402

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures"
MODEL = "openai/llmops-ray-judge"
# columns that differ between any two runs (when, how long, which run): everything else must match
RUN_COLUMNS = ["run_id", "result_id", "created_at", "latency_ms"]


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the test's own evaluators
    # both nodes on this machine (Ray binds them to its own address; nothing leaves the host).
    # Ray gives a starting node 30 s to register: on a machine busy with other work that can pass,
    # so a failed start is tried once more
    node = {"num_cpus": 1, "object_store_memory": 128 * 2**20}
    for attempt in (1, 2):
        c = Cluster()
        try:
            c.add_node(**node, include_dashboard=False)
            c.add_node(**node)
            break
        except Exception:
            c.shutdown()
            if attempt == 2:
                raise
    eng = lo.engine("ray", address=c.address, log_to_driver=False)
    try:
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        yield eng
    finally:
        lo.engine("local")
        ray.shutdown()
        c.shutdown()


def _responder(req: dict) -> str:
    text = req["messages"][-1]["content"]
    out = text.split("<output>")[-1]
    return json.dumps({"reasoning": f"read {len(text)} chars", "answer": "pass" if "ok" in out.lower() else "fail"})


def _spans(n: int) -> pd.DataFrame:
    recs = [{"trace_id": f"t{i:04d}", "span_id": f"s{i:04d}", "kind": "llm", "input_text": f"question {i}?",
             "output_text": f"answer {i} {'ok' if i % 3 else 'wrong'}", "model": ["a", "b", "c"][i % 3],
             "metadata": {"tenant": ["acme", "globex"][i % 2]}} for i in range(n)]
    return lo.read_traces(recs, format="records")


def _same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    cols = [c for c in a.columns if c not in RUN_COLUMNS]
    a = a.sort_values(keys).reset_index(drop=True)[cols]
    b = b.sort_values(keys).reset_index(drop=True)[cols]
    pd.testing.assert_frame_equal(a, b)


def _judge(srv: FakeLLMServer, **kw) -> LLMJudge:
    return LLMJudge("Does the answer say ok?", model=MODEL, api_base=srv.url, api_key="x", **kw)


# ---------------------------------------------------------------- engine selection
def test_engine_names_are_checked_and_the_context_manager_restores():
    with pytest.raises(ValueError, match="valid: \\['local', 'ray'\\]"):
        lo.engine("spark")
    from llmops_nb.engines import current_engine, resolve_engine

    before = current_engine()
    with lo.engine("local") as e:
        assert current_engine() is e
    assert current_engine().name == before.name
    assert resolve_engine("local").name == "local"


def test_missing_ray_names_the_pip_command(monkeypatch):
    from llmops_nb.engines import Engine

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r'pip install "llmops-nb\[ray\]"'):
        Engine("ray").connect()


# ---------------------------------------------------------------- read_traces
def test_read_on_ray_is_the_local_frame(cluster, tmp_path):
    files = sorted((FIXTURES / "langfuse").glob("*.trace.json"))
    if not files:
        pytest.skip("shared fixtures are absent")
    local = lo.read_traces(files, engine="local")
    on_ray = lo.read_traces(files, engine=cluster)
    assert len(on_ray) > 40 and on_ray["trace_id"].nunique() > 10
    pd.testing.assert_frame_equal(local, on_ray)
    # skipped records: the same report, in the same (file) order
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"trace_id": "x", "span_id": "y", "kind": "llm"}\n{not json\n')
    srcs = [*files[:3], bad, *files[3:6]]
    (lf, lr), (rf, rr) = (lo.read_traces(srcs, errors="skip", engine=e) for e in ("local", cluster))
    pd.testing.assert_frame_equal(lf, rf)
    pd.testing.assert_frame_equal(lr, rr)
    assert str(bad) in set(rr["file"])
    # errors="raise": the LoadError names the failing file, as in one process
    with pytest.raises(LoadError, match="broken.jsonl"):
        lo.read_traces(srcs, engine=cluster)


# ---------------------------------------------------------------- evaluate
def test_the_limiter_gives_every_worker_slots_of_one_pace(cluster):
    from llmops_nb.engines import rate_limiter

    @ray.remote
    def ask(limiter, n):
        for _ in range(n):
            time.sleep(ray.get(limiter.reserve.remote("rpm", "m-test", 1, 600)))
        return ray.get_runtime_context().get_node_id()

    lim = rate_limiter(cluster)
    nodes = ray.get([ask.options(scheduling_strategy="SPREAD").remote(lim, 10) for _ in range(2)])
    slots = np.asarray(ray.get(lim.slots.remote("rpm", "m-test")))
    # 20 slots granted to workers on both nodes, 0.1 s apart (600 a minute), none closer
    assert len(set(nodes)) == 2 and len(slots) == 20
    assert np.diff(slots).min() >= 0.1 - 1e-9, np.diff(slots).min()


def test_evaluate_with_a_judge_keeps_one_cluster_wide_rate(cluster, tmp_path):
    import litellm

    litellm.register_model({MODEL: {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6,
                                    "litellm_provider": "openai", "mode": "chat", "max_tokens": 4096}})
    spans = _spans(36)
    rpm = 300  # 5 a second for the whole cluster: two workers, each with 8 calls in flight
    with FakeLLMServer(responder=_responder) as srv:
        evs = [_judge(srv), IsJSON(), Regex("ok")]
        res = lo.evaluate(spans, evs, engine=cluster, requests_per_minute=rpm, concurrency=8, cache=False,
                          progress=False)
        times = np.sort(np.asarray(srv.request_times))
        assert srv.calls == len(times) == 36
        local = lo.evaluate(spans, evs, engine="local", cache=False, progress=False)
    _same(local, res, ["evaluator", "span_id"])
    assert len(res) == 3 * 36 and res["error"].isna().all()
    assert res.loc[res.evaluator == "llm_judge", "cost_usd"].gt(0).all()  # priced on the workers too
    # counted where the requests arrive: the run as a whole at or under rpm, and any 10
    # consecutive requests at least 9 slots (60 / rpm s each) apart, give or take 0.5 s of arrival
    # jitter (the time from a slot to the server's socket is a few ms here, more on a busy
    # machine). Two workers each pacing alone would send 10 requests in 4.5 slots (0.9 s).
    slot = 60 / rpm
    gaps = np.round(np.diff(times), 3).tolist()
    assert (times[-1] - times[0]) >= (len(times) - 1) * slot - 0.5, gaps
    span10 = times[9:] - times[:-9]
    assert span10.min() >= 9 * slot - 0.5, (span10.min(), gaps)


def test_budget_usd_is_one_budget_for_the_whole_cluster(cluster):
    import litellm

    from llmops_nb.llm import Runner

    litellm.register_model({MODEL: {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6,
                                    "litellm_provider": "openai", "mode": "chat", "max_tokens": 4096}})
    spans = _spans(24)
    with FakeLLMServer(responder=_responder) as srv:
        full = lo.evaluate(spans, _judge(srv), engine="local", cache=False, progress=False)
        costs = full["cost_usd"].astype(float)
        lo_c, hi_c = costs.min(), costs.max()
        budget = 10.5 * costs.mean()  # about ten calls of 24
        before = srv.calls
        local = lo.evaluate(spans, _judge(srv), engine="local", budget_usd=budget, concurrency=2, cache=False,
                            progress=False)
        local_paid = int(local["error"].isna().sum())
        before = srv.calls
        runner = Runner(concurrency=2, cache=False, budget_usd=budget)
        res = lo.evaluate(spans, _judge(srv), engine=cluster, runner=runner, progress=False)
        calls = srv.calls - before
    paid, unpaid = res[res["error"].isna()], res[res["error"].notna()]
    # every item has its row, never a crashed run: the paid ones judged, the others the local
    # path's "budget exhausted" error row
    assert sorted(res["span_id"]) == sorted(spans["span_id"])
    assert len(unpaid) > 0 and unpaid["error"].str.startswith("budget exhausted").all(), unpaid["error"].tolist()
    assert unpaid["value"].isna().all() and (unpaid["cost_usd"].fillna(0) == 0).all()
    assert calls == len(paid)  # each call the server saw is a paid row; none was made past the budget
    # the tolerance, the local runner's: a call is let through while the spend plus the expected
    # cost (the mean paid cost, or the token estimate before any is paid) of every call in flight
    # in the cluster (2 workers x concurrency 2) stays within the budget, so the spend passes it
    # only by what those in-flight calls cost above their reservation: at most 4 x (max - min)
    in_flight = 2 * 2
    tolerance = in_flight * (hi_c - lo_c)
    total = float(paid["cost_usd"].sum())
    assert total <= budget + tolerance + 1e-12, (total, budget, tolerance)
    assert calls <= int((budget + tolerance) // lo_c), (calls, budget, lo_c)
    # one budget, not one per worker (two workers each spending budget_usd alone would pay ~21),
    # and the cluster pays about what one process pays: it differs only by calls in flight
    assert local_paid - in_flight <= calls <= local_paid + in_flight, (calls, local_paid)
    # the driver's runner shows the cluster's spend, as after a local run
    assert runner.spent_usd == pytest.approx(total, rel=1e-9) and runner.budget_stopped


@dataclass
class _PausingJudge(LLMJudge):
    """A judge that, on its first attempt at ``pause_at``, reports its worker's pid and waits
    (its own call answered and cached) until the test kills it."""

    pause_at: str = ""
    marker_dir: str = ""

    async def evaluate(self, row):  # type: ignore[override]
        out = await super().evaluate(row)
        d = Path(self.marker_dir)
        if row["span_id"] == self.pause_at and not (d / "killed").exists():
            (d / "pid").write_text(str(os.getpid()))
            while True:
                await asyncio.sleep(0.05)
        return out


def test_a_worker_killed_mid_evaluate_loses_no_row_and_pays_no_call_twice(cluster, tmp_path):
    spans = _spans(24)
    store = lo.Store(tmp_path / "store")
    marks = tmp_path / "marks"
    marks.mkdir()
    with FakeLLMServer(responder=_responder) as srv:
        judge = _PausingJudge("Does the answer say ok?", model=MODEL, api_base=srv.url, api_key="x",
                              pause_at="s0004", marker_dir=str(marks))
        box: dict = {}

        def run() -> None:
            try:
                box["res"] = lo.evaluate(spans, judge, engine=cluster, store=store, concurrency=1,
                                         run_id="killed-run", progress=False)
            except BaseException as e:  # noqa: BLE001 - reported by the test
                box["err"] = e

        t = threading.Thread(target=run)
        t.start()
        deadline = time.time() + 60
        while not (marks / "pid").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert (marks / "pid").exists(), "the judge never reached the row where it pauses"
        # kill when no call is in flight anywhere (every request answered, none for a second):
        # a call in flight when its worker dies is lost with it, so its retry must ask again
        while time.time() < deadline and (len(srv.requests) != srv.calls or time.time() - srv.request_times[-1] < 1.0):
            time.sleep(0.05)
        answered_before_kill = srv.calls
        (marks / "killed").write_text("1")
        os.kill(int((marks / "pid").read_text()), signal.SIGKILL)
        t.join(120)
        assert not t.is_alive()
        assert "err" not in box, box.get("err")
        res = box["res"]
        # every row, once, none an error; and each prompt reached the server exactly once
        assert sorted(res["span_id"]) == sorted(spans["span_id"])
        assert res["error"].isna().all()
        prompts = [r["messages"][-1]["content"] for r in srv.requests]
        asked = [p.split("<input>")[1].split("</input>")[0].strip() for p in prompts]
        assert len(prompts) == len(set(prompts)) == 24 == srv.calls, [(a, i) for i, a in enumerate(asked) if asked.count(a) > 1]
        assert answered_before_kill >= 5  # the killed task had paid for rows s0000..s0004
        local = lo.evaluate(spans, judge, engine="local", cache=False, progress=False)
    # the same rows and values; the retried batch's answers came from the cache, so cost nothing
    replayed = res["cost_usd"].eq(0.0)
    assert "s0004" in set(res.loc[replayed, "span_id"])
    _same(local.drop(columns="cost_usd"), res.drop(columns="cost_usd"), ["evaluator", "span_id"])
    stored = store.results()
    stored = stored[stored["run_id"] == "killed-run"]
    assert len(stored) == 24 and stored["result_id"].is_unique


@dataclass
class _MarkingJudge(LLMJudge):
    """A judge that, on its first attempt at ``stall_at``, writes its worker's pid before the call
    (which the server then holds until the test has killed that worker)."""

    stall_at: str = ""
    marker_dir: str = ""

    async def evaluate(self, row):  # type: ignore[override]
        d = Path(self.marker_dir)
        if row["span_id"] == self.stall_at and not (d / "pid").exists():
            (d / "pid").write_text(str(os.getpid()))
        return await super().evaluate(row)


def test_a_worker_killed_mid_call_leaks_no_budget_and_pays_no_answer_twice(cluster, tmp_path):
    import litellm

    from llmops_nb.llm import Runner

    litellm.register_model({MODEL: {"input_cost_per_token": 1e-6, "output_cost_per_token": 4e-6,
                                    "litellm_provider": "openai", "mode": "chat", "max_tokens": 4096}})
    spans = _spans(24)
    marks = tmp_path / "marks"
    marks.mkdir()
    target = "question 10?"  # span s0010: its call is in flight when its worker dies

    async def responder(req: dict) -> str:
        if target in req["messages"][-1]["content"] and not (marks / "answered").exists():
            (marks / "answered").write_text("1")
            deadline = time.time() + 60
            while not (marks / "killed").exists() and time.time() < deadline:
                await asyncio.sleep(0.05)
        return _responder(req)

    with FakeLLMServer(responder=responder) as srv:
        judge = _MarkingJudge("Does the answer say ok?", model=MODEL, api_base=srv.url, api_key="x",
                              stall_at="s0010", marker_dir=str(marks))
        budget = 1.0
        runner = Runner(concurrency=1, budget_usd=budget, cache=tmp_path / "cache.sqlite")
        box: dict = {}

        def run() -> None:
            try:
                box["res"] = lo.evaluate(spans, judge, engine=cluster, runner=runner, progress=False)
            except BaseException as e:  # noqa: BLE001 - reported by the test
                box["err"] = e

        t = threading.Thread(target=run)
        t.start()
        deadline = time.time() + 60
        while not (marks / "answered").exists() and time.time() < deadline:  # the call reached the server
            time.sleep(0.05)
        assert (marks / "pid").exists() and (marks / "answered").exists(), "the stalled call never came"
        os.kill(int((marks / "pid").read_text()), signal.SIGKILL)
        (marks / "killed").write_text("1")
        t.join(120)
        assert not t.is_alive()
        assert "err" not in box, box.get("err")
        res = box["res"]
        asked = [r["messages"][-1]["content"].split("<input>")[1].split("</input>")[0].strip() for r in srv.requests]
        local = lo.evaluate(spans, judge, engine="local", cache=False, progress=False)  # stalls no more
    # every row, once, none an error
    assert sorted(res["span_id"]) == sorted(spans["span_id"]) and res["error"].isna().all()
    _same(local.drop(columns="cost_usd"), res.drop(columns="cost_usd"), ["evaluator", "span_id"])
    # at the server: the call lost with its worker asked again by the retry, every other prompt
    # once (the killed batch's earlier answers came from the shared cache)
    counts = pd.Series(asked).value_counts()
    assert counts[target] == 2 and counts.drop(target).eq(1).all() and len(counts) == 24, counts.to_dict()
    # the budget: no lease left behind; the lost call counted as spent at its expected cost; every
    # answered call paid once, so the spend is what one process paid plus the lost call
    st = runner.budget_state
    assert st is not None
    assert st["leases"] == 0 and st["reserved_usd"] == 0.0, st
    assert st["lost_calls"] == 1 and st["lost_usd"] > 0 and st["paid_calls"] == 24, st
    paid_once = float(local["cost_usd"].sum())
    assert st["spent_usd"] == pytest.approx(paid_once + st["lost_usd"], rel=1e-9), (st, paid_once)
    assert st["spent_usd"] + st["remaining_usd"] == pytest.approx(budget, rel=1e-12)
    assert runner.spent_usd == st["spent_usd"] and not runner.budget_stopped


# ---------------------------------------------------------------- embeddings and slices
def test_embeddings_and_clusters_on_ray_are_the_local_ones(cluster, tmp_path):
    texts = [f"{w} order {i % 7}" for i, w in enumerate(["refund", "late", "broken", "hello", "thanks"] * 12)]
    with FakeLLMServer() as srv:
        emb = LiteLLMEmbedder("openai/fake-embed", api_base=srv.url, api_key="x", batch_size=8)
        local = embed_texts(texts, emb, cache=False, engine="local")
        n_local = len(srv.requests)
        on_ray = embed_texts(texts, emb, cache=False, engine=cluster)
        assert len(srv.requests) > n_local  # the workers called the server
        np.testing.assert_array_equal(local, on_ray)
        df = pd.DataFrame({"trace_id": [f"t{i}" for i in range(len(texts))], "output_text": texts})
        a = lo.cluster(df, embedder=emb, n_clusters=3, cache=False, engine="local")
        b = lo.cluster(df, embedder=emb, n_clusters=3, cache=False, engine=cluster)
        pd.testing.assert_frame_equal(a.frame, b.frame)
        pd.testing.assert_frame_equal(a.summary, b.summary)
        t1 = lo.topics(df, text="output_text", embedder=emb, levels=1, n_topics=3, cache=False, engine="local")
        t2 = lo.topics(df, text="output_text", embedder=emb, levels=1, n_topics=3, cache=False, engine=cluster)
        pd.testing.assert_frame_equal(t1.summary, t2.summary)
        # the cache is filled from the Ray batches: a second run embeds nothing
        np.testing.assert_array_equal(embed_texts(texts, emb, cache_dir=tmp_path, engine=cluster), local)
        n = len(srv.requests)
        np.testing.assert_array_equal(embed_texts(texts, emb, cache_dir=tmp_path, engine=cluster), local)
        assert len(srv.requests) == n


def test_find_slices_on_ray_is_the_local_table(cluster, monkeypatch):
    import llmops_nb.engines as engines

    rng = np.random.default_rng(3)
    n = 3000
    region = {"acme": "us", "globex": "eu", "initech": "apac"}  # the same rows as tenant: merged slices
    df = pd.DataFrame({
        "trace_id": [f"t{i}" for i in range(n)],
        "metadata": [{"tenant": t, "channel": c, "region": region[t]}
                     for t, c in zip(rng.choice(["acme", "globex", "initech"], n), rng.choice(["email", "chat"], n))],
        "latency_ms": rng.gamma(2.0, 300.0, n),
        "tools": [list(rng.choice(["search", "lookup", "refund"], rng.integers(0, 3), replace=False)) for _ in range(n)],
    })
    tenant = df["metadata"].map(lambda m: m["tenant"])
    chat_refund = (df["metadata"].map(lambda m: m["channel"]) == "chat") & df["tools"].map(lambda t: "refund" in t)
    df["failed"] = rng.random(n) < np.where(tenant == "acme", 0.3, 0.08) + np.where(chat_refund, 0.3, 0.0)
    local = lo.find_slices(df, outcome="failed", columns="all", engine="local")
    ran: list = []
    real = engines.run_tasks

    def spy(eng, fn, calls, **kw):
        ran.append((kw["desc"], len(calls), [type(c[0]).__name__ for c in calls]))
        return real(eng, fn, calls, **kw)

    monkeypatch.setattr(engines, "run_tasks", spy)
    on_ray = lo.find_slices(df, outcome="failed", columns="all", engine=cluster)
    # the rows went to the cluster as blocks (object refs, one per CPU), counted and searched there
    assert [(d, k) for d, k, _ in ran] == [("find_slices counts", 2), ("find_slices examples", 2)]
    assert all(t == ["ObjectRef", "ObjectRef"] for _, _, t in ran)
    pd.testing.assert_frame_equal(pd.DataFrame(local), pd.DataFrame(on_ray))
    assert local.attrs == on_ray.attrs
    top = on_ray.iloc[0]
    assert top["slice"] in ("tenant = acme", "region = us") and len(top["same_as"]) == 1 and on_ray.attrs["n_merged"] > 0
    assert (on_ray["order"] == 2).any() and on_ray["column"].eq("tool").any()


def test_a_failing_item_is_named(cluster):
    from llmops_nb.engines import EngineError, run_tasks

    with pytest.raises(EngineError, match=r"demo: item 'b' failed on the Ray cluster: ZeroDivisionError"):
        run_tasks(cluster, _divide, [(1, 1), (1, 0), (2, 1)], labels=["item 'a'", "item 'b'", "item 'c'"], desc="demo")


def _divide(a: int, b: int) -> float:
    return a / b


def _only_here(pid: int) -> _HereOnly:
    if os.getpid() != pid:
        raise RuntimeError("the model files are not on this node")
    return _HereOnly()


class _HereOnly:
    """A resource that loads in this process only (unpickling it on a Ray worker fails)."""

    def __reduce__(self):
        return (_only_here, (os.getpid(),))


@dataclass
class _FlakyCheck(Evaluator):
    """Fails on one item (a row-level failure: a failure row, as in one process)."""

    bad: str = "s0005"
    resource: object = None

    def evaluate(self, row):
        if row["span_id"] == self.bad:
            raise ValueError(f"cannot check {row['span_id']}")
        return True


def test_failures_name_the_item_and_the_evaluator(cluster):
    spans = _spans(12)
    # an item that fails: its failure row names the item, the same row as in one process
    local = lo.evaluate(spans, _FlakyCheck(), engine="local", cache=False, progress=False)
    on_ray = lo.evaluate(spans, _FlakyCheck(), engine=cluster, cache=False, progress=False)
    _same(local, on_ray, ["evaluator", "span_id"])
    bad = on_ray[on_ray["error"].notna()]
    assert bad["span_id"].tolist() == ["s0005"] and "cannot check s0005" in bad["error"].iloc[0]
    # a batch that fails on its worker: the error names the evaluator, the rows and their first trace
    from llmops_nb.engines import EngineError

    with pytest.raises(EngineError, match=r"evaluate: evaluator '_flaky_check' on rows 0-\d+ \(first trace_id 't0000'\)"
                                          r" failed on the Ray cluster: .*the model files are not on this node"):
        lo.evaluate(spans, _FlakyCheck(resource=_HereOnly()), engine=cluster, cache=False, progress=False)


def test_distributed_work_shows_a_progress_bar(cluster, monkeypatch):
    from llmops_nb.engines import _ray as ray_engine
    from llmops_nb.engines import run_tasks
    from llmops_nb.llm import progress_bar

    bars: list = []

    class Bar:
        def __init__(self, total, desc, progress):
            self.total, self.desc, self.progress, self.n, self.closed = total, desc, progress, 0, False
            bars.append(self)

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    monkeypatch.setattr(ray_engine, "progress_bar", Bar)
    assert run_tasks(cluster, _divide, [(1, 1), (4, 2), (9, 3)], labels=["a", "b", "c"], desc="demo",
                     weights=[5, 10, 20], progress=True) == [1.0, 2.0, 3.0]
    assert [(b.total, b.desc, b.n, b.closed) for b in bars] == [(35, "demo on Ray", 35, True)]
    lo.evaluate(_spans(30), Regex("ok"), engine=cluster, cache=False, progress=True)
    assert (bars[-1].total, bars[-1].n, bars[-1].desc) == (30, 30, "evaluate on Ray")  # rows, as batches finish
    # the bar itself: tqdm.auto (a widget in a notebook, text in a terminal)
    import tqdm.auto

    bar = progress_bar(10, "x", True)
    assert isinstance(bar, tqdm.auto.tqdm)
    bar.close()


def test_address_none_never_joins_a_cluster_started_elsewhere(monkeypatch):
    from llmops_nb.engines import Engine, EngineError
    from llmops_nb.engines import _ray as ray_engine

    seen: list = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda address=None, **kw: seen.append(address))
    monkeypatch.setattr(ray_engine, "_CONNECTED", [])
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    e = Engine("ray")
    e.connect()
    # Ray's own address=None joins the cluster recorded in /tmp/ray (any `ray start` or test
    # cluster on the machine): "local" starts one of this process's own
    assert seen[-1] == "local" and e.started
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    e = Engine("ray")
    e.connect()
    assert seen[-1] == "10.0.0.5:6379" and not e.started  # joined, so never shut down by us
    for addr in ("auto", "ray://head:10001", "10.0.0.7:6379"):
        Engine("ray", address=addr).connect()
        assert seen[-1] == addr
    # connected already: another address is an error, not a silent reuse of the first
    monkeypatch.setattr(ray, "is_initialized", lambda: True)
    with pytest.raises(EngineError, match=r"address='ray://other:10001': this process is already connected to Ray at "
                                          r"'10.0.0.7:6379'; run lo.engine\('local'\) and ray.shutdown\(\) first"):
        Engine("ray", address="ray://other:10001").connect()
    Engine("ray").connect()  # no address: the connection this process has
    Engine("ray", address="10.0.0.7:6379").connect()


def test_the_readme_ray_block_runs_on_the_cluster(cluster, tmp_path, monkeypatch):
    """The README's "On a Ray cluster" block (marked ``elsewhere=`` this file: the README test's
    offline guard refuses the connections Ray's own processes make)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    mark = "<!-- readme-test: elsewhere=tests/engines/test_engines_ray.py -->\n```python\n"
    assert readme.count(mark) == 1
    code = readme.split(mark, 1)[1].split("\n```", 1)[0]
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code, "README.md (On a Ray cluster)", "exec"), ns)  # noqa: S102 - the README's own code
    assert len(ns["spans"]) > 200 and len(ns["results"]) == 2 * len(ns["traces"])
    assert ns["slices"].attrs["n"] == len(ns["traces"])
    # it ran on the cluster the fixture started (lo.engine("ray") joined it) and then went back
    from llmops_nb.engines import current_engine

    assert current_engine().name == "local"
    assert ray.is_initialized()


_PROBE = """
import json, sys
import llmops_nb as lo
import ray
from llmops_nb.engines import run_tasks
def power(a, b):
    return a ** b
eng = lo.engine("ray", address=sys.argv[1])
nodes = len([n for n in ray.nodes() if n["Alive"]])
out = run_tasks(eng, power, [(2, 3), (3, 2)], labels=["a", "b"], desc="probe", progress=False)
from llmops_nb.engines import rate_limiter
waits = [ray.get(rate_limiter(eng).reserve.remote("rpm", sys.argv[1], 1, 60)) for _ in range(2)]
print(json.dumps({"nodes": nodes, "cpus": eng.cpus(), "out": out, "started": eng.started,
                  "paced": waits[0] == 0 and 0.9 < waits[1] <= 1.0}))
lo.engine("local")
"""


def _probe(address: str, env: dict) -> dict:
    import subprocess

    p = subprocess.run([sys.executable, "-c", _PROBE, address], env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_auto_and_ray_client_addresses_reach_the_cluster(cluster, tmp_path):
    """A notebook elsewhere reaches the fixture's two-node cluster through address="auto" (with
    RAY_ADDRESS) and through Ray Client ("ray://host:port")."""
    import socket
    import subprocess

    head = ray.get_runtime_context().gcs_address
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    got = _probe("auto", {**env, "RAY_ADDRESS": head})
    assert got == {"nodes": 2, "cpus": 2, "out": [8, 9], "started": False, "paced": True}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "ray.util.client.server", "--mode", "legacy", "--host",
                               "127.0.0.1", "--port", str(port), "--address", head], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        got = _probe(f"ray://127.0.0.1:{port}", env)
        assert got == {"nodes": 2, "cpus": 2, "out": [8, 9], "started": False, "paced": True}
    finally:
        server.terminate()
        server.wait(30)


def test_read_to_a_parquet_spans_dataset(cluster, tmp_path):
    import pyarrow.parquet as pq

    from llmops_nb.demo import generate, write_otlp
    from llmops_nb.schema import SPANS, arrow_to_frame

    for i in range(4):  # four apps' exports: no trace spans two folders
        write_otlp(generate(40, seed=i), tmp_path / "traces" / f"app{i}")
    local = lo.read_traces(tmp_path / "traces", engine="local")
    ds = lo.read_traces(tmp_path / "traces", engine=cluster, to_parquet=tmp_path / "lake")
    assert ds.count() == len(local)
    parts = sorted((tmp_path / "lake").glob("part-*.parquet"))
    assert len(parts) >= 2  # written by several tasks
    back = arrow_to_frame(pq.read_table(parts), SPANS)
    keys = ["trace_id", "span_id"]
    pd.testing.assert_frame_equal(back.sort_values(keys).reset_index(drop=True),
                                  local.sort_values(keys).reset_index(drop=True))
    with pytest.raises(ValueError, match="already holds"):
        lo.read_traces(tmp_path / "traces", engine=cluster, to_parquet=tmp_path / "lake")
    with pytest.raises(ValueError, match="engine='ray'"):
        lo.read_traces(tmp_path / "traces", engine="local", to_parquet=tmp_path / "lake2")


def test_the_readme_estimate_is_computed_from_the_bench_output_it_shows():
    """The README's workers-and-hours table for 1 billion spans loaded, 10 million judged and 1
    billion sliced takes its per-CPU rates from the bench_ray output printed above it (one run),
    and its CPU hours are those rates' arithmetic."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("How many workers: `benchmarks/bench_ray.py`", 1)[1].split("\n## ", 1)[0]
    block = section.split("```text\n", 1)[1].split("```", 1)[0]
    assert block.startswith("$ nice .venv/bin/python benchmarks/bench_ray.py")
    row = next(line for line in block.splitlines() if line.startswith("ray, 2 worker(s)"))
    nums = [float(x.replace(",", "")) for x in row[len("ray, 2 worker(s)"):].split()]
    per_cpu = {"spans loaded": nums[1], "rows judged": nums[3], "rows sliced": nums[5]}
    # the bench's own estimate lines, printed in the same run
    for what, rate in per_cpu.items():
        m = re.search(rf"([\d,]+) {what}: [\d,]+ / \(([\d,.]+) x 3600\) = ([\d,.]+) CPUs", block)
        assert m, what
        assert float(m.group(2).replace(",", "")) == pytest.approx(rate, rel=1e-3)
        total = float(m.group(1).replace(",", ""))
        assert float(m.group(3).replace(",", "")) == pytest.approx(total / rate / 3600, abs=0.051)
    rows = [line for line in section.splitlines() if line.startswith("| 1") and "|" in line[1:]]
    assert len(rows) == 3, rows
    for line, rate, total in zip(rows, per_cpu.values(), (1e9, 1e7, 1e9)):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert float(cells[1].split()[0].replace(",", "")) == pytest.approx(rate, rel=1e-3), line
        hours = float(cells[2].rsplit("=", 1)[1].replace(",", ""))
        assert hours == pytest.approx(total / rate / 3600, abs=0.051), line
        assert int(cells[3].split()[0]) == math.ceil(round(hours, 1)), line
