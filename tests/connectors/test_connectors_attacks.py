"""Connectors under attack: servers that echo credentials in every shape (scrubbed everywhere a
pull writes), page bombs (``totalPages=1e9``), pages that repeat forever and cursor cycles
(A -> B -> A) stop cleanly with the pages before them stored."""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote, unquote, unquote_plus

import pytest
from connector_fakes import SECRETS

import llmops_nb as lo
from llmops_nb.connectors import PullError, Retry, Secret, scrub

FAST = Retry(max_attempts=3, base_delay=0.01, max_delay=0.02, timeout_s=10)
FRAG = 6


# ------------------------------------------------------------------ an independent leak finder

def fragments(secret: str) -> set[str]:
    return {secret[i:i + FRAG] for i in range(len(secret) - FRAG + 1)}


def _b64_decodings(run: str) -> list[str]:
    out = []
    std = run.rstrip("=").replace("-", "+").replace("_", "/")
    for off in range(4):
        c = std[off:]
        c = c[: len(c) - len(c) % 4]
        if len(c) >= 8:
            with contextlib.suppress(ValueError):
                out.append(base64.b64decode(c).decode("latin-1"))
    return out


def leaks(text: str, secrets: list[str]) -> list[str]:
    """Every fragment (6+ characters) of a secret found in ``text`` raw, URL-decoded, or
    base64-decoded (any run, any alignment, also after URL-decoding)."""
    frags = set().union(*(fragments(s) for s in secrets))
    views = {text, unquote(text), unquote_plus(text)}
    for v in list(views):
        for m in re.finditer(r"[A-Za-z0-9+/_-]{8,}=*", v):
            views.update(_b64_decodings(m.group()))
    found = []
    for v in views:
        found += [v[i:i + FRAG] for i in range(len(v) - FRAG + 1) if v[i:i + FRAG] in frags]
    return sorted(set(found))


def written_texts(root: Path) -> dict[str, str]:
    """Every file under ``root`` as text: raw bytes, gunzipped, Parquet and Arrow read back."""
    import pyarrow.parquet as pq

    out = {}
    for p in root.rglob("*"):
        if not p.is_file():
            continue
        data = p.read_bytes()
        texts = [data.decode("latin-1")]
        if data[:2] == b"\x1f\x8b":
            texts.append(gzip.decompress(data).decode("latin-1"))
        if p.suffix == ".parquet" or data[:4] == b"PAR1":
            texts.append(json.dumps(pq.read_table(p).to_pylist(), default=str))
        out[str(p)] = "\n".join(texts)
    return out


# ------------------------------------------------------------------ the scrubber alone

ODD = "sk-lf-Ech0/p@ss+w0rd=x&9!Q"  # a secret with characters URL-encoding changes


def test_scrub_every_shape_and_every_cut():
    pk, sk = "pk-lf-SHAPES-PUBLIC-5e21", ODD
    Secret(pk), Secret(sk)
    token = base64.b64encode(f"{pk}:{sk}".encode()).decode()
    shapes = [
        f"Basic {token}", token, f"auth:{token}", quote(token, safe=""), quote(f"Basic {token}"),
        sk, quote(sk, safe=""), quote_plus_(sk), base64.b64encode(sk.encode()).decode(),
        base64.urlsafe_b64encode(sk.encode()).decode(), f"Bearer {sk}", f'{{"Authorization": "Basic {token}"}}',
    ]
    for shape in shapes:
        for cut in range(FRAG, len(shape) + 1):  # every truncation of every shape
            text = f"HTTP 401: invalid credentials: {shape[:cut]} (see docs)"
            clean = scrub(text)
            assert not leaks(clean, [pk, sk]), (shape, cut, clean)
            assert clean.startswith("HTTP 401: invalid credentials:") and clean.endswith("(see docs)")
    # text around a secret survives: only the secret goes
    assert scrub(f"token={sk}&page=2") == "token=***&page=2"
    assert scrub("page 2 of https://cloud.langfuse.com/api/public/traces") == \
        "page 2 of https://cloud.langfuse.com/api/public/traces"


def quote_plus_(s: str) -> str:
    from urllib.parse import quote_plus

    return quote_plus(s)


def test_scrub_before_truncating_in_the_client():
    from llmops_nb.connectors._http import excerpt

    Secret(ODD)
    body = ("x" * 290 + ODD + "y" * 50).encode()
    for n in (80, 200, 295, 300):
        assert not leaks(excerpt(body, n), [ODD])


# ------------------------------------------------------------------ a pull against an echoing server

@pytest.mark.parametrize("source", ["langfuse", "langsmith", "datadog"])
def test_echoed_credentials_never_reach_any_written_file(source, backends, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", ODD)
    secrets = [*SECRETS.values(), ODD]
    log_file = tmp_path / "debug.log"
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    store = lo.Store(tmp_path / "store")
    try:
        # a good pull first (state, segments), then one against a server echoing everything
        kw = {"project": "my-app"} if source == "langsmith" else {}
        if source != "langfuse":
            r = lo.pull(source, url=backends.url, store=store, retry=FAST, progress=False, page_size=3, **kw)
            assert r.complete
        backends.faults["echo"] = True
        with pytest.raises(PullError) as ei:
            lo.pull(source, url=backends.url, store=store, retry=FAST, progress=False, page_size=3, full=True, **kw)
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
        handler.close()
    exc = ei.value
    assert "HTTP 500" in str(exc) and "headers=" in str(exc) and "***" in str(exc)  # the echo reached the message, scrubbed
    (tmp_path / "exception.txt").write_text(
        "\n".join([str(exc), repr(exc), str(exc.report), repr(exc.report), exc.report._repr_html_(),  # type: ignore[attr-defined]
                   caplog.text]))
    texts = written_texts(tmp_path)
    assert any("retrying" in t for t in texts.values())  # DEBUG/INFO log records were written
    for path, text in texts.items():
        assert not leaks(text, secrets), (path, leaks(text, secrets))


def test_request_headers_never_copied_into_messages(backends, store, monkeypatch):
    backends.faults["echo"] = True
    with pytest.raises(PullError) as ei:
        lo.pull("langsmith", url=backends.url, store=store, retry=FAST, progress=False, project="my-app")
    msg = str(ei.value)
    assert "x-api-key" in msg.lower()  # the server's echo of its headers is in the message ...
    assert SECRETS["LANGSMITH_API_KEY"] not in msg and not leaks(msg, [SECRETS["LANGSMITH_API_KEY"]])  # ... scrubbed


# ------------------------------------------------------------------ page bombs, repeats, cursor cycles

BOMB = textwrap.dedent("""
    import resource, sys, json
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a regression dies here, not the machine
    sys.path.insert(0, {tests!r})
    from connector_fakes import FakeBackends, SECRETS
    import os
    for k, v in SECRETS.items():
        os.environ[k] = v
    import llmops_nb as lo
    from llmops_nb.connectors import Retry
    b = FakeBackends().start()
    b.faults["claim_pages"] = 1e9
    r = lo.pull("langfuse", url=b.url, store={store!r}, progress=False, page_size=3,
                retry=Retry(max_attempts=2, base_delay=0.01, timeout_s=10))
    print(json.dumps({{"complete": r.complete, "requests": r.requests, "traces": r.traces,
                      "listing": b.hits["/api/public/traces"], "n": len(b.lf)}}))
    b.stop()
""")


def test_page_bomb_allocates_nothing_and_stops_at_the_first_empty_page(tmp_path):
    code = BOMB.format(tests=str(Path(__file__).parent), store=str(tmp_path / "s"))
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["complete"] and got["traces"] == len({t["id"] for t in lo_fixture_traces()})
    real_pages = -(-got["n"] // 3)
    # the pages that exist, the first empty one, and at most the prefetch window past it
    assert got["listing"] <= real_pages + 3, got


def lo_fixture_traces() -> list[dict]:
    from connector_fakes import langfuse_traces

    return langfuse_traces()


def test_a_server_repeating_one_page_is_stopped(backends, store):
    backends.faults.update(claim_pages=1e9, same_page=True)
    with pytest.raises(PullError, match="no item not already seen") as ei:
        lo.pull("langfuse", url=backends.url, store=store, retry=FAST, progress=False, page_size=3)
    assert backends.hits["/api/public/traces"] <= 10
    assert ei.value.report.pages >= 1  # type: ignore[attr-defined]  # page 1 was stored
    assert len(store.spans()) > 0


@pytest.mark.parametrize("source", ["langsmith", "datadog"])
def test_cursor_cycle_is_detected(source, backends, store):
    backends.faults["cursor_cycle"] = True
    kw = {"project": "my-app"} if source == "langsmith" else {}
    with pytest.raises(PullError, match="cycle") as ei:
        lo.pull(source, url=backends.url, store=store, retry=FAST, progress=False,
                page_size=3 if source == "langsmith" else 1, **kw)
    path = "/runs/query" if source == "langsmith" else "/api/v2/llm-obs/v1/spans/events/search"
    assert backends.hits[path] <= 5  # A -> B -> A: caught on the third page
    assert ei.value.report.pages >= 2 and len(store.spans()) > 0  # type: ignore[attr-defined]


def _serve(routes):
    """A tiny aiohttp server in a thread for the sources FakeBackends does not serve."""
    import asyncio
    import threading

    from aiohttp import web

    box = {}
    ready = threading.Event()

    def run():
        loop = asyncio.new_event_loop()
        app = web.Application()
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        box.update(loop=loop, runner=runner, port=site._server.sockets[0].getsockname()[1])
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    ready.wait(10)

    def stop():
        import asyncio as aio

        aio.run_coroutine_threadsafe(box["runner"].cleanup(), box["loop"]).result(10)
        box["loop"].call_soon_threadsafe(box["loop"].stop)
        t.join(10)

    return f"http://127.0.0.1:{box['port']}", stop


def test_phoenix_and_mlflow_cursor_cycles_are_detected(store):
    from aiohttp import web

    hits = {"phoenix": 0, "mlflow": 0}
    nxt = {None: "A", "A": "B", "B": "A"}

    def span(i):
        return {"id": f"U3Bhbjo{i}", "name": "op", "context": {"trace_id": f"{i:032x}", "span_id": f"{i:016x}"},
                "span_kind": "LLM", "parent_id": None, "start_time": "2025-01-01T00:00:00Z",
                "end_time": "2025-01-01T00:00:01Z", "status_code": "OK", "attributes": {}, "events": []}

    async def spans(request):
        hits["phoenix"] += 1
        c = request.query.get("cursor") or None
        i = hits["phoenix"]
        return web.json_response({"data": [span(i)], "next_cursor": nxt[c]})

    async def search(request):
        hits["mlflow"] += 1
        body = await request.json()
        return web.json_response({"traces": [], "next_page_token": nxt[body.get("page_token")]})

    async def not_found(request):
        return web.json_response({}, status=404)

    url, stop = _serve([("GET", "/v1/projects/{p}/spans", spans), ("GET", "/v1/projects/{p}/span_annotations", not_found),
                        ("POST", "/api/3.0/mlflow/traces/search", search)])
    try:
        with pytest.raises(PullError, match="cycle"):
            lo.pull("phoenix", url=url, store=store, retry=FAST, progress=False, filters={"span_kind": "LLM"})
        assert hits["phoenix"] <= 4
        with pytest.raises(PullError, match="cycle"):
            lo.pull("mlflow", url=url, store=store, retry=FAST, progress=False)
        assert hits["mlflow"] <= 4
    finally:
        stop()


def test_claimed_counts_are_bounded():
    from llmops_nb.connectors._base import claimed_count

    assert claimed_count(1e9) == 10**9 and claimed_count("1e400") == 2**62 and claimed_count(float("nan")) == 1
    assert claimed_count({"x": 1}) == 1 and claimed_count(-5) == 0 and claimed_count(None, 3) == 3


def test_oversized_answer_is_refused(store):
    from aiohttp import web

    async def huge(request):
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"runs": [' + b" " * (3 << 20))
        return resp

    async def sessions(request):
        return web.json_response([{"id": "p1", "name": "my-app"}])

    from llmops_nb.connectors import HttpClient

    url, stop = _serve([("GET", "/sessions", sessions), ("POST", "/runs/query", huge)])
    old = HttpClient.max_body_bytes
    HttpClient.max_body_bytes = 1 << 20  # the dataclass default, lowered for the test
    try:
        with pytest.raises(PullError, match="exceeds the 1,048,576-byte limit"):
            lo.pull("langsmith", url=url, store=store, retry=FAST, progress=False, project="my-app",
                    credentials={"LANGSMITH_API_KEY": "lsv2-oversize-test"})
    finally:
        HttpClient.max_body_bytes = old
        stop()
