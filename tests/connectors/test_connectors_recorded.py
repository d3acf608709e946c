"""Langfuse, LangSmith and Datadog pulled from a local server that serves the shared fixtures
through each backend's documented API shapes, with faults; compared with read_traces of the
same fixtures."""

from __future__ import annotations

import base64
import glob
import logging

import pytest
from connector_fakes import SECRETS, fixture_dir

import llmops_nb as lo
from llmops_nb.connectors import PullError, Retry

FAST = Retry(max_attempts=6, base_delay=0.01, max_delay=0.05, timeout_s=10)
KEY = ["trace_id", "span_id"]
COLS = ["parent_span_id", "name", "kind", "status", "model", "prompt_tokens", "completion_tokens", "output_text"]


def expected(fmt: str) -> object:
    d = fixture_dir(fmt)
    # the datadog folder also holds cassettes of evaluation metrics only: read as a folder, those are skipped
    files = d if fmt == "datadog" else sorted(glob.glob(str(d / ("*.trace.json" if fmt == "langfuse" else "*.json"))))
    df = lo.read_traces(files, format=fmt)
    return df.drop_duplicates(KEY, keep="last").sort_values(KEY).reset_index(drop=True)


def same_spans(store: lo.Store, fmt: str) -> None:
    got = store.spans().sort_values(KEY).reset_index(drop=True)
    want = expected(fmt)
    assert len(got) == len(want), (len(got), len(want))
    assert not got.duplicated(KEY).any()
    assert got[KEY].values.tolist() == want[KEY].values.tolist()
    for c in COLS:
        assert got[c].astype(object).where(got[c].notna(), None).tolist() == \
            want[c].astype(object).where(want[c].notna(), None).tolist(), c


def pull(source: str, backends, store, **kw):
    kw.setdefault("retry", FAST)
    kw.setdefault("progress", False)
    kw.setdefault("page_size", 3 if source != "datadog" else 1)
    if source == "langsmith":
        kw.setdefault("project", "my-app")
    return lo.pull(source, url=backends.url, store=store, **kw)


@pytest.mark.parametrize("source", ["langfuse", "langsmith", "datadog"])
def test_pull_matches_read_traces(source, backends, store):
    r = pull(source, backends, store)
    assert r.complete and r.pages >= 2
    same_spans(store, source)
    assert r.results_stored > 0  # the scores / feedback / evaluation metrics the backend holds


def test_langfuse_scores_become_results_and_labels(backends, store):
    pull("langfuse", backends, store)
    res, labs = store.results(), store.labels()
    scores = [x for t in backends.lf for x in t["scores"]]
    auto = sorted(f"langfuse:{x['id']}" for x in scores if x.get("source") != "ANNOTATION")
    assert sorted(res["result_id"]) == auto and len(auto) > 2  # the fixtures' own scores too
    assert res.set_index("result_id").loc["langfuse:sc-1", "score"] == 0.8
    assert labs["question"].tolist() == ["correct"] and labs["annotator"].tolist() == ["alice"]
    assert labs["value"].tolist() == [True]


@pytest.mark.parametrize("source", ["langfuse", "langsmith", "datadog"])
def test_repull_is_idempotent_and_incremental(source, backends, store):
    pull(source, backends, store)
    n_spans, n_res, n_lab = len(store.spans()), len(store.results()), len(store.labels())
    r2 = pull(source, backends, store)
    assert r2.complete
    assert len(store.spans()) == n_spans and len(store.results()) == n_res and len(store.labels()) == n_lab
    same_spans(store, source)
    if source == "langfuse":
        assert r2.spans_fetched == 0  # nothing new: only the listing is read
    r3 = pull(source, backends, store, full=True)
    assert r3.complete and len(store.spans()) == n_spans


def test_langfuse_second_pull_fetches_only_new_and_updated(backends, store):
    backends.visible_lf = 8
    r1 = pull("langfuse", backends, store)
    assert r1.traces == len({t["id"] for t in backends.lf[:8]})
    backends.visible_lf = len(backends.lf)
    # one already-pulled trace is updated in the backend (its newest one, at the watermark)
    t = backends.lf[7]
    t["updatedAt"] = "2030-01-01T00:00:00.000Z"
    t["observations"][0]["name"] = "renamed-in-backend"
    r2 = pull("langfuse", backends, store)
    assert r2.traces == len({t["id"] for t in backends.lf[7:]})  # the new ones and the updated one
    got = store.spans(trace_id=t["id"])
    assert "renamed-in-backend" in set(got["name"])
    assert not store.spans().duplicated(KEY).any()
    assert len(store.spans()) == len(expected("langfuse"))


FAULTS = {
    "storm": lambda b, path: b.faults.update(storm=12),
    "500_mid_page": lambda b, path: b.faults["fail_once"].update({path: 2}),
    "dropped_connection": lambda b, path: b.faults["drop_once"].update({path: 2}),
    "repeated_items": lambda b, path: b.faults.update(repeat=True),
}
PATHS = {"langfuse": "/api/public/traces", "langsmith": "/runs/query", "datadog": "/spans/events/search"}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("source", ["langfuse", "langsmith", "datadog"])
def test_faults_lose_nothing_duplicate_nothing(source, fault, backends, store):
    FAULTS[fault](backends, PATHS[source])
    r = pull(source, backends, store, retry=Retry(max_attempts=16, base_delay=0.01, max_delay=0.05, timeout_s=10))
    assert r.complete
    same_spans(store, source)
    if fault in ("storm", "500_mid_page", "dropped_connection"):
        assert r.retries >= 1
    if fault == "storm":
        assert r.rate_limited >= 1


def test_persistent_500_stops_clearly_then_resumes(backends, store):
    backends.faults["fail_always"] = {("/api/public/traces", 3)}
    with pytest.raises(PullError) as ei:
        pull("langfuse", backends, store, retry=Retry(max_attempts=3, base_delay=0.01, max_delay=0.02))
    msg = str(ei.value)
    assert "HTTP 500" in msg and "page 3" in msg and "run the same pull again to resume" in msg
    part = ei.value.report  # type: ignore[attr-defined]
    assert part.pages == 2 and not part.complete
    stored = len(store.spans())
    assert 0 < stored < len(expected("langfuse"))
    wm = store.get_state("connectors/langfuse/default")["watermark"]
    assert wm is not None  # advanced past the two stored pages only
    backends.faults["fail_always"] = set()
    r = pull("langfuse", backends, store)
    assert r.complete and r.watermark_before == wm
    same_spans(store, "langfuse")


def test_bad_credentials_fail_clearly(backends, store, monkeypatch):
    monkeypatch.setenv("LANGSMITH_API_KEY", "wrong-key-123456")
    with pytest.raises(PullError, match="HTTP 401.*check the credentials"):
        pull("langsmith", backends, store)
    monkeypatch.delenv("LANGSMITH_API_KEY")
    monkeypatch.delenv("LANGCHAIN_API_KEY", raising=False)
    with pytest.raises(PullError, match="LANGSMITH_API_KEY"):
        pull("langsmith", backends, store)


def test_credentials_never_leak(backends, store, tmp_path, caplog, capsys, monkeypatch):
    caplog.set_level(logging.DEBUG)
    reports = []
    backends.faults.update(storm=3)
    for s in ("langfuse", "langsmith", "datadog"):
        reports.append(pull(s, backends, store))
    # a failing pull whose server echoes the (wrong) credentials back in its error body
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-WRONGSECRET-0042")
    with pytest.raises(PullError) as ei:
        pull("langfuse", backends, store, full=True)
    secrets = [*SECRETS.values(), "sk-lf-WRONGSECRET-0042"]
    tokens = [base64.b64encode(f"{SECRETS['LANGFUSE_PUBLIC_KEY']}:{s}".encode()).decode()
              for s in (SECRETS["LANGFUSE_SECRET_KEY"], "sk-lf-WRONGSECRET-0042")]
    texts = [str(ei.value), repr(ei.value), caplog.text, capsys.readouterr().out]
    texts += [str(r) + repr(r) + r._repr_html_() for r in reports]
    from llmops_nb.connectors import get_source

    texts.append(repr(get_source("langfuse")(url=backends.url)))
    blob = "\n".join(texts)
    assert "invalid credentials" in blob  # the echoed error did reach the message, scrubbed
    data = b"".join(p.read_bytes() for p in store.path.rglob("*") if p.is_file())
    for s in secrets + tokens:
        assert s not in blob, s
        assert s.encode() not in data, s


def test_cli_pull(backends, tmp_path, capsys):
    from llmops_nb.cli import main

    code = main(["pull", "datadog", "--url", backends.url, "--store", str(tmp_path / "s"), "--no-progress",
                 "--page-size", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "pulled" in out and "complete" in out
    assert len(lo.Store(tmp_path / "s").spans()) == len(expected("datadog"))
    for s in SECRETS.values():
        assert s not in out


def test_unknown_source_and_filters_are_clear():
    with pytest.raises(ValueError, match="valid sources"):
        lo.pull("nope")
    with pytest.raises(ValueError, match="llmops-nb collect"):
        lo.pull("otlp")
    with pytest.raises(ValueError, match="valid filters"):
        lo.pull("langfuse", filters={"colour": "red"})


def test_pull_inside_a_running_loop_with_progress(backends, store, capsys):
    """Notebooks run an event loop: pull then runs in a worker thread; the tqdm bar shows."""
    import asyncio

    async def in_notebook():
        return pull("langsmith", backends, store, progress=True)

    r = asyncio.run(in_notebook())
    assert r.complete and r.spans_fetched == len(expected("langsmith"))
    assert "pull langsmith" in capsys.readouterr().err


def test_credentials_as_arguments(backends, store, monkeypatch):
    for k in ("DD_API_KEY", "DD_APP_KEY"):
        monkeypatch.delenv(k)
    with pytest.raises(PullError, match="DD_API_KEY"):
        pull("datadog", backends, store)
    r = pull("datadog", backends, store, credentials={"DD_API_KEY": SECRETS["DD_API_KEY"],
                                                      "DD_APP_KEY": SECRETS["DD_APP_KEY"]})
    assert r.complete and r.spans_fetched == len(expected("datadog"))
    assert SECRETS["DD_API_KEY"] not in repr(r) + str(store.get_state("connectors/datadog/default"))
