"""The annotation session: durable decisions, resume, undo, edits, leases, queues, labels()."""

from __future__ import annotations

import multiprocessing as mp
import time

import pandas as pd
import pytest

import llmops_nb as lo
from llmops_nb.annotation import Question, Schema, Session, as_schema, leases

SCHEMA = Schema([
    Question("correct", "pass_fail"),
    Question("mode", "categorical", options=["billing", "tools", "language"], multi=True, required=True),
    Question("quality", "ordinal", rubric={"1": "useless", "5": "perfect"}),
    Question("note", "text"),
])


def _frame(n: int = 12) -> pd.DataFrame:
    return pd.DataFrame({
        "trace_id": [f"t{i:03d}" for i in range(n)],
        "input_text": [f"question {i}" for i in range(n)],
        "category": ["billing", "shipping", "returns"] * (n // 3) + ["billing"] * (n % 3),
        "score": [i / max(n - 1, 1) for i in range(n)],
        "passed": [i % 2 == 0 for i in range(n)],
    })


def _session(store, annotator="alice", **kw) -> Session:
    return Session(_frame(kw.pop("n", 12)), schema=kw.pop("schema", SCHEMA), store=store, annotator=annotator, **kw)


def test_each_decision_is_in_the_store_before_the_next_item(store):
    s = _session(store)
    first = s.current
    s.submit(first, {"correct": True, "mode": ["tools", "billing"], "quality": 4})
    hist = lo.labels(store, history=True)
    assert len(hist) == 3 and set(hist["item_id"]) == {first}
    row = hist.set_index("question")
    assert row.loc["mode", "value"] == ["billing", "tools"]  # schema order
    assert row.loc["quality", "value"] == 4 and row.loc["correct", "value"] is True
    assert set(hist["annotator"]) == {"alice"} and set(hist["schema_version"]) == {SCHEMA.version}
    assert set(hist["action"]) == {"set"} and hist["created_at"].notna().all()
    assert s.current != first


def test_required_answers_and_valid_options(store):
    s = _session(store)
    with pytest.raises(ValueError, match="mode"):
        s.submit(s.current, {"correct": True, "quality": 3})
    with pytest.raises(ValueError, match="valid"):
        s.submit(s.current, {"correct": True, "mode": ["nope"], "quality": 3})
    assert store.count("labels") == 0


def test_resume_after_restart_loses_nothing_acknowledged(store):
    s = _session(store)
    done = []
    for _ in range(4):
        done.append(s.current)
        s.submit(s.current, {"correct": True, "mode": ["tools"], "quality": 5})
    skipped = s.current
    s.skip(skipped)
    nxt = s.current
    del s  # the kernel dies
    s2 = _session(store)
    assert s2.current == nxt
    assert s2.progress() == {"done": 4, "skipped": 1, "flagged": 0, "by_others": 0, "left": 7, "total": 12,
                             "annotator": "alice", "queue": "random"}
    assert set(lo.labels(store, question="correct")["item_id"]) == set(done)


def test_undo_and_edit_are_appended_with_previous_values(store):
    s = _session(store)
    a = s.current
    s.submit(a, {"correct": True, "mode": ["tools"], "quality": 2, "note": "first"})
    b = s.current
    s.submit(b, {"correct": False, "mode": ["billing"], "quality": 1})
    c = s.current
    assert s.undo() == b and s.current == b  # b is shown again
    s.submit(b, {"correct": True, "mode": ["billing"], "quality": 3})
    assert s.current == c  # back to the item we were on
    assert s.back() == b and s.back() == a
    s.submit(a, {"correct": False, "mode": ["tools"], "quality": 2, "note": "first"}, reason="misread")
    assert s.current == b  # review moves forward through history
    hist = lo.labels(store, history=True)
    undo = hist[(hist["item_id"] == b) & (hist["action"] == "undo")]
    assert set(undo["question"]) == {"correct", "mode", "quality"}
    assert dict(zip(undo["question"], undo["previous_value"]))["correct"] is False
    edit = hist[hist["action"] == "edit"]
    assert len(edit) == 1 and edit["item_id"].iloc[0] == a
    assert edit["previous_value"].iloc[0] is True and edit["value"].iloc[0] is False and edit["reason"].iloc[0] == "misread"
    cur = lo.labels(store)
    got = {(r.item_id, r.question): r.value for r in cur.itertuples()}
    assert got[(a, "correct")] is False and got[(b, "correct")] is True and got[(b, "quality")] == 3
    assert len(cur) == 7  # a: 4 answers, b: 3


def test_flag_toggles_and_counts(store):
    s = _session(store)
    a = s.current
    s.flag(a)
    assert s.progress()["flagged"] == 1 and s.current != a
    s.back()
    s.flag(a)  # unflag in review
    assert lo.labels(store, question="flag").empty
    assert len(lo.labels(store, history=True, question="flag")) == 2


def test_two_annotators_get_different_items_and_overlap_shares(store):
    a, b = _session(store, "alice"), _session(store, "bob")
    assert a.current != b.current
    ld = leases(store)
    assert set(ld["annotator"]) == {"alice", "bob"} and ld["expires_at"].gt(pd.Timestamp.now(tz="UTC")).all()
    seen_a, seen_b = set(), set()
    for _ in range(6):
        if a.current:
            seen_a.add(a.current)
            a.submit(a.current, {"correct": True, "mode": ["tools"], "quality": 3})
        if b.current:
            seen_b.add(b.current)
            b.submit(b.current, {"correct": False, "mode": ["tools"], "quality": 3})
    assert not seen_a & seen_b and len(seen_a | seen_b) == 12
    assert a.current is None and b.current is None
    # overlap=2: both see every item of a fresh store
    s2 = lo.Store(store.path.parent / "s2")
    x, y = _session(s2, "x", overlap=2, n=3), _session(s2, "y", overlap=2, n=3)
    assert x.current == y.current


def test_expired_leases_return_to_the_queue(store):
    a = _session(store, "alice", lease_s=2.0)
    held = a.current
    a_expires = leases(store)["expires_at"].max().timestamp()
    b = _session(store, "bob")
    assert b.current != held
    time.sleep(max(0.0, a_expires - time.time()) + 0.1)
    c = _session(store, "carol")
    assert c.current == held


def _worker(path: str, name: str, n: int, q) -> None:  # runs in another process
    s = Session(_frame(40), schema=as_schema("correct"), store=lo.Store(path), annotator=name)
    got = []
    for _ in range(n):
        if s.current is None:
            break
        got.append(s.current)
        s.submit(s.current, {"correct": True})
    q.put(got)


def test_leases_are_atomic_across_processes(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    ps = [ctx.Process(target=_worker, args=(str(tmp_path / "st"), f"ann{i}", 10, q)) for i in range(3)]
    for p in ps:
        p.start()
    got = [q.get(timeout=120) for _ in ps]
    for p in ps:
        p.join(60)
    flat = [i for g in got for i in g]
    assert len(flat) == 30 and len(set(flat)) == 30
    cur = lo.labels(tmp_path / "st")
    assert len(cur) == 30 and cur.groupby("item_id")["annotator"].nunique().max() == 1


def test_queue_orders(store):
    f = _frame(12)
    strat = Session(f, schema=as_schema("correct"), store=store, annotator="a", queue="stratified", by="category")
    cats = f.set_index("trace_id").loc[strat.order[:3], "category"].tolist()
    assert sorted(cats) == ["billing", "returns", "shipping"]
    unc = Session(f, schema=as_schema("correct"), store=store, annotator="b", queue="uncertainty", by="score")
    sc = f.set_index("trace_id").loc[unc.order, "score"]
    assert list((sc - 0.5).abs()) == sorted((sc - 0.5).abs())
    r1 = Session(f, schema=as_schema("correct"), store=store, annotator="c", seed=3).order
    r2 = Session(f, schema=as_schema("correct"), store=store, annotator="d", seed=3).order
    assert r1 == r2 and sorted(r1) == sorted(f["trace_id"])
    cl = Session(f.assign(cluster=[i % 4 for i in range(12)]), schema=as_schema("correct"), store=store,
                 annotator="e", queue="cluster")
    assert len({i % 4 for i in (int(t[1:]) for t in cl.order[:4])}) == 4
    with pytest.raises(ValueError, match="valid queues"):
        Session(f, schema=as_schema("correct"), store=store, annotator="f", queue="nope")


def test_disagreement_queue(store):
    f = _frame(6)
    s = Session(f, schema=as_schema("correct"), store=store, annotator="h", queue="sequential")
    for _ in range(6):
        s.submit(s.current, {"correct": True})  # the judge says passed only for even i
    d = Session(f, schema=as_schema("correct"), store=store, annotator="reviewer", queue="disagreement", by="passed")
    assert sorted(d.order) == ["t001", "t003", "t005"]


def test_labels_wide_and_join(store):
    spans = lo.read_traces([{"trace_id": f"t{i:03d}", "span_id": "r", "kind": "chain", "input_text": f"q{i}"}
                            for i in range(3)], format="records")
    store.add_spans(spans)
    s = Session(spans, schema=as_schema({"correct": "pass_fail", "mode": ["a", "b"]}), store=store, annotator="z",
                queue="sequential")
    s.submit("t000", {"correct": True, "mode": "a"})
    s.submit("t001", {"correct": False, "mode": "b"})
    w = lo.labels(store, wide=True)
    assert list(w.sort_values("item_id")["mode"]) == ["a", "b"]
    j = lo.labels(store, join="traces")
    assert "n_spans" in j.columns and set(j["input_text"]) == {"q0", "q1"}
    js = lo.labels(store, join="spans")
    assert set(js["kind"]) == {"chain"}
    assert "lo-trace" in s.item_html("t002")  # the item is shown through the trace viewer


def test_schema_validation():
    with pytest.raises(ValueError, match="reserved"):
        Question("skip")
    with pytest.raises(ValueError, match="needs options"):
        Question("c", "categorical")
    with pytest.raises(ValueError, match="valid kinds"):
        Question("c", "bogus")  # type: ignore[arg-type]
    assert Schema([Question("a")]).version != Schema([Question("b")]).version


def test_widget_protocol_acknowledges_after_writing(store):
    w = lo.annotate(_frame(5), SCHEMA, store, "alice")
    first = w.item["item_id"]
    w._on_msg(w, {"type": "submit", "seq": 1, "item_id": first,
                  "answers": {"correct": True, "mode": ["tools"], "quality": 5}}, None)
    assert w.item["ack"] == 1 and w.item["item_id"] != first and w.item["message"] == "saved"
    assert len(lo.labels(store, history=True)) == 3  # in the session log, fsynced
    assert w.flush() == 3 and store.count("labels") == 3  # moved into the labels table
    w._on_msg(w, {"type": "submit", "seq": 2, "item_id": w.item["item_id"], "answers": {}}, None)
    assert w.item["ack"] == 2 and w.item["message"].startswith("error")
    w._on_msg(w, {"type": "undo", "seq": 3}, None)
    assert w.item["item_id"] == first and w.item["progress"]["done"] == 0
    assert "AnnotationWidget(annotator='alice'" in repr(w)


def _killed_worker(path: str) -> None:  # decides twice, then the process dies without cleanup
    import os

    s = Session(_frame(5), schema=as_schema("correct"), store=lo.Store(path), annotator="kim", queue="sequential")
    s.submit("t000", {"correct": True})
    s.submit("t001", {"correct": False})
    os._exit(9)


def test_a_killed_kernel_loses_nothing_acknowledged(tmp_path):
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=_killed_worker, args=(str(tmp_path / "st"),))
    p.start()
    p.join(120)
    assert p.exitcode == 9
    store = lo.Store(tmp_path / "st")
    assert store.count("labels") == 0  # still in the dead session's log
    got = {(r.item_id, r.value) for r in lo.labels(store).itertuples()}
    assert got == {("t000", True), ("t001", False)}
    s = Session(_frame(5), schema=as_schema("correct"), store=store, annotator="kim", queue="sequential")
    assert s.current == "t002"  # resumes, and moved the dead log into the table
    assert store.count("labels") == 2
    assert len(lo.labels(store, history=True)) == 2


def test_questions_are_optional_unless_declared_required(store):
    schema = as_schema({"correct": "pass_fail", "mode": ["billing", "tools"], "note": "text"})
    assert not any(q.required for q in schema.questions)
    s = Session(_frame(4), schema=schema, store=store, annotator="alice")
    with pytest.raises(ValueError, match="at least one"):
        s.submit(s.current, {})  # an empty submit is refused: skip (s) says "not labelled"
    first = s.current
    s.submit(first, {"mode": "tools"})  # one optional answer is enough
    assert s.current != first and s.progress()["done"] == 1
    req = as_schema({"correct": {"kind": "pass_fail", "required": True}, "mode": ["billing", "tools"]})
    s2 = Session(_frame(4), schema=req, store=store, annotator="bob")
    with pytest.raises(ValueError, match="correct"):
        s2.submit(s2.current, {"mode": "tools"})


def test_progress_is_per_queue_and_schema(store):
    frame = _frame(6)
    a = Session(frame, schema=as_schema({"tone": ["polite", "rude"]}), store=store, annotator="alice", queue_name="tone")
    for _ in range(3):
        a.submit(a.current, {"tone": "polite"})
    a.skip(a.current)
    # a new queue with other questions: nothing is done there yet
    b = Session(frame, schema=as_schema("correct"), store=store, annotator="alice", queue_name="correctness")
    p = b.progress()
    assert (p["done"], p["skipped"], p["left"], p["total"]) == (0, 0, 6, 6)
    b.submit(b.current, {"correct": True})
    p = b.progress()
    assert (p["done"], p["left"]) == (1, 5)
    # the same question in a third queue: my answer is one label per item and question, so done
    c = Session(frame, schema=as_schema("correct"), store=store, annotator="alice", queue_name="again")
    assert c.progress()["done"] == 1 and c.progress()["skipped"] == 0
    # other annotators count toward the overlap of their queue only
    for _ in range(6):
        if b.current is None:
            break
        b.submit(b.current, {"correct": False})
    d = Session(frame, schema=as_schema("correct"), store=store, annotator="dora", queue_name="fresh")
    assert d.progress()["left"] == 6 and d.progress()["by_others"] == 0
    e = Session(frame, schema=as_schema("correct"), store=store, annotator="erin", queue_name="correctness")
    pe = e.progress()
    assert pe["by_others"] == 6 and pe["left"] == 0 and e.current is None
    for sess in (a, b, c, d, e):  # left, done and the bar agree: the parts add up to the total
        q = sess.progress()
        assert q["done"] + q["skipped"] + q["flagged"] + q["by_others"] + q["left"] == q["total"]


def test_by_accepts_metadata_keys(store):
    frame = _frame(9).assign(metadata=[{"category": c, "lang": "en"} for c in ["a", "b", "c"] * 3])
    for by in ("category", "metadata.category"):
        s = Session(frame.drop(columns="category"), schema=SCHEMA, store=store, annotator=f"x-{by}",
                    queue="stratified", by=by)
        cats = [frame.set_index("trace_id").loc[i, "metadata"]["category"] for i in s.order[:3]]
        assert sorted(cats) == ["a", "b", "c"]  # every stratum early
    with pytest.raises(ValueError, match=r"metadata keys: \['category', 'lang'\]"):
        Session(frame.drop(columns="category"), schema=SCHEMA, store=store, annotator="y", queue="stratified", by="tenant")
    u = Session(frame.assign(metadata=[{"p": i / 8} for i in range(9)]), schema=SCHEMA, store=store, annotator="z",
                queue="uncertainty", by="metadata.p")
    assert u.order[0] == "t004"  # p = 0.5 first


def test_the_settle_hint_opens_exactly_the_disagreement_items(store):
    from llmops_nb.annotation import disagreements

    frame = _frame(10)
    schema = as_schema("correct")
    for who, flip in (("ann-a", {1, 4}), ("ann-b", {4, 7, 8})):
        s = Session(frame, schema=schema, store=store, annotator=who, queue_name="simulated", overlap=2)
        while s.current is not None:
            i = int(s.current[1:])
            s.submit(s.current, {"correct": (i % 2 == 0) != (i in flip)})
    to_settle = disagreements(lo.labels(store, question="correct"), "correct")
    assert set(to_settle["item_id"]) == {"t001", "t007", "t008"}
    mine = Session(frame, schema=schema, store=store, annotator="you", queue_name="judge-alignment")
    assert mine.progress()["left"] == 10  # the simulated queue did not take the human's items
    settle = Session(to_settle, schema=schema, store=store, annotator="you", queue="sequential", queue_name="settle")
    assert settle.order == list(to_settle["item_id"]) and settle.progress()["left"] == 3
