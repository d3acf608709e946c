"""The widgets in a real JupyterLab 4 driven by headless Chromium (Playwright).

One JupyterLab server for the module, started here and stopped by its PID. Screenshots of a
failing test go to tests/_artifacts/. Without /usr/bin/chromium or Playwright the tests skip,
except under CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "_artifacts"
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
FIXTURES = ROOT.parent / "shared" / "fixtures"


def _require_browser() -> None:
    why = None
    if not Path(CHROMIUM).exists():
        why = f"{CHROMIUM} is not installed (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            why = "playwright is not installed (pip install playwright; never run `playwright install`)"
    if why:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests must run in CI: {why}")
        pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path, *cells: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path.name


class Lab:
    def __init__(self, root: Path, url: str, token: str, proc: subprocess.Popen) -> None:
        self.root, self.url, self.token, self.proc = root, url, token, proc
        self._n = 0

    def open(self, page, notebook: str):
        self._n += 1
        ws = f"w{self._n}-{secrets.token_hex(3)}"
        page.goto(f"{self.url}/lab/workspaces/{ws}/tree/{notebook}?reset&token={self.token}")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
        self.accept_dialog(page)  # "Select Kernel" (the preferred kernel is preselected)
        self.wait_idle(page)
        return page

    @staticmethod
    def accept_dialog(page, timeout: float = 10_000) -> None:
        try:
            page.wait_for_selector(".jp-Dialog .jp-mod-accept", timeout=timeout)
        except Exception:  # noqa: BLE001  no dialog: nothing to accept
            return
        page.keyboard.press("Enter")
        page.wait_for_selector(".jp-Dialog", state="detached")

    @staticmethod
    def wait_idle(page, timeout: float = 90_000) -> None:
        page.wait_for_function(
            "() => { const w = window.jupyterapp.shell.currentWidget; const k = w && w.sessionContext &&"
            " w.sessionContext.session && w.sessionContext.session.kernel; return !!k && k.status === 'idle'; }",
            timeout=timeout)

    @staticmethod
    def command(page, name: str) -> None:
        # fire and forget: commands such as a restart wait on a dialog before they resolve
        page.evaluate(f"() => {{ window.jupyterapp.commands.execute({json.dumps(name)}); }}")

    def run_all(self, page) -> None:
        self.command(page, "notebook:run-all-cells")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    _require_browser()
    root = tmp_path_factory.mktemp("lab")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "HF_EVALUATE_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "JUPYTER_RUNTIME_DIR": str(root / ".rt"),
                "JUPYTER_CONFIG_DIR": str(root / ".cfg"), "PYTHONPATH": str(ROOT),
                "PLOTLY_RENDERER": "plotly_mimetype+notebook"})
    jupyter = Path(sys.executable).with_name("jupyter")
    log = open(root / "lab.log", "wb")  # noqa: SIM115  closed at teardown
    proc = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", "--allow-root", "--port", str(port), f"--ServerApp.token={token}",
         "--ip", "127.0.0.1", f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         f"--LabApp.workspaces_dir={root / '.ws'}"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                log.close()
                raise RuntimeError("JupyterLab did not start:\n" + (root / "lab.log").read_text()[-3000:]) from None
            time.sleep(0.3)
    try:
        yield Lab(root, url, token, proc)
    finally:
        # stop the server we started (and the kernels in its session) by its PID
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    failed_before = request.session.testsfailed
    yield pg
    if request.session.testsfailed > failed_before:  # this test's call failed: keep screenshots
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(ctx.pages):
            p.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{i}.png"), full_page=True)
    ctx.close()


# --------------------------------------------------------------------------- helpers

def widget(page, selector: str = ".lo-ann"):
    return page.locator(selector).last


def wait_item(page, item_id: str, mode: str | None = None) -> None:
    cond = f".lo-ann[data-item-id='{item_id}']" + (f"[data-mode='{mode}']" if mode else "")
    page.wait_for_selector(cond + ":not(.lo-pending)", timeout=60_000)


def focus_widget(page) -> None:
    # the widget focuses itself when it renders; make sure (programmatic focus, no click)
    if not page.evaluate("() => !!document.activeElement && !!document.activeElement.closest('.lo-ann')"):
        page.focus(".lo-ann")


def keys(page, *seq: str) -> None:
    for k in seq:
        page.keyboard.press(k)


def setup_cell(store: Path, annotator: str, n: int = 6, extra: str = "") -> str:
    return (
        "import llmops_nb as lo, pandas as pd\n"
        f"frame = pd.DataFrame({{'trace_id': [f't{{i}}' for i in range({n})], "
        f"'input_text': [f'question {{i}}' for i in range({n})]}})\n"
        f"w = lo.annotate(frame, {{'correct': 'pass_fail', 'mode': ['billing', 'tools', 'language']}}, "
        f"{str(store)!r}, {annotator!r}{extra})\n"
        "w"
    )


# --------------------------------------------------------------------------- tests

def test_keyboard_labelling_survives_a_kernel_restart(lab, page):
    import llmops_nb as lo

    store = lab.root / "store-keys"
    nb = write_notebook(lab.root / "keys.ipynb", setup_cell(store, "alice", extra=", queue='sequential'"))
    lab.open(page, nb)
    lab.run_all(page)
    wait_item(page, "t0")
    focus_widget(page)
    assert page.locator(".lo-ann kbd", has_text="1").count() >= 2  # keys shown on the buttons
    keys(page, "1", "2", "Enter")            # t0: pass, tools
    wait_item(page, "t1")
    keys(page, "2", "1", "Enter")            # t1: fail, billing
    wait_item(page, "t2")
    keys(page, "1", "3", "Enter")            # t2: pass, language
    wait_item(page, "t3")
    keys(page, "Backspace")                  # undo t2
    wait_item(page, "t2", "new")
    keys(page, "2", "3", "Enter")            # t2 again: fail, language
    wait_item(page, "t3")
    keys(page, "ArrowLeft")
    wait_item(page, "t2", "review")
    keys(page, "ArrowLeft")
    wait_item(page, "t1", "review")
    assert page.locator(".lo-ann .lo-q[data-question='correct'] .lo-on").inner_text().endswith("fail")
    keys(page, "1", "Enter")                 # edit t1: fail -> pass
    wait_item(page, "t2", "review")
    keys(page, "ArrowRight")
    wait_item(page, "t3", "new")
    keys(page, "s")                          # skip t3
    wait_item(page, "t4")
    assert "done 3" in widget(page).inner_text() and "skipped 1" in widget(page).inner_text()

    # restart the kernel, re-run: the queue resumes at t4
    lab.command(page, "kernelmenu:restart")
    lab.accept_dialog(page, 30_000)
    page.wait_for_timeout(500)
    lab.wait_idle(page)
    lab.run_all(page)
    wait_item(page, "t4")
    focus_widget(page)
    assert "done 3" in widget(page).inner_text()
    # the dead kernel's session log is in the labels table now (or was moved on an idle pause)
    assert lo.Store(store).count("labels") == 12
    keys(page, "2", "2", "Enter")            # t4: fail, tools
    wait_item(page, "t5")

    cur = lo.labels(store)
    got = {(r.item_id, r.question): r.value for r in cur.itertuples()}
    assert got == {
        ("t0", "correct"): True, ("t0", "mode"): "tools",
        ("t1", "correct"): True, ("t1", "mode"): "billing",
        ("t2", "correct"): False, ("t2", "mode"): "language",
        ("t3", "skip"): True,
        ("t4", "correct"): False, ("t4", "mode"): "tools",
    }
    hist = lo.labels(store, history=True)
    assert len(hist) == 14 and set(hist["annotator"]) == {"alice"}
    assert sorted(hist["action"].value_counts().items()) == [("edit", 1), ("set", 10), ("skip", 1), ("undo", 2)]
    edit = hist[hist["action"] == "edit"].iloc[0]
    assert (edit["item_id"], edit["previous_value"], edit["value"]) == ("t1", False, True)


def test_two_annotators_in_two_kernels_get_different_items(lab, browser):
    import llmops_nb as lo

    store = lab.root / "store-two"
    nb_a = write_notebook(lab.root / "alice.ipynb", setup_cell(store, "alice", n=8))
    nb_b = write_notebook(lab.root / "bob.ipynb", setup_cell(store, "bob", n=8))
    ctx = browser.new_context(viewport={"width": 1300, "height": 900})
    try:
        pa, pb = ctx.new_page(), ctx.new_page()
        for p, nb in ((pa, nb_a), (pb, nb_b)):
            p.set_default_timeout(60_000)
            lab.open(p, nb)
            lab.run_all(p)
        seen: dict[str, list[str]] = {"alice": [], "bob": []}
        for _ in range(3):
            for who, p in (("alice", pa), ("bob", pb)):
                p.wait_for_selector(".lo-ann[data-item-id]:not([data-item-id='']):not(.lo-pending)")
                p.bring_to_front()
                focus_widget(p)
                iid = p.get_attribute(".lo-ann", "data-item-id")
                seen[who].append(iid)
                keys(p, "1", "1", "Enter")
                p.wait_for_selector(f".lo-ann:not([data-item-id='{iid}']):not(.lo-pending)")
        assert not set(seen["alice"]) & set(seen["bob"]), seen
        cur = lo.labels(store, question="correct")
        assert len(cur) == 6 and cur.groupby("item_id")["annotator"].nunique().max() == 1
    except Exception:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for i, p in enumerate(ctx.pages):
            p.screenshot(path=str(ARTIFACTS / f"two-annotators-{i}.png"), full_page=True)
        raise
    finally:
        ctx.close()


def test_trace_viewer_renders_a_real_fixture_trace(lab, page):
    fx = FIXTURES / "langfuse" / "openai-agents-2025-09-30.trace.json"
    if not fx.exists():
        pytest.skip(f"fixture {fx} is absent")
    import llmops_nb as lo

    spans = lo.read_traces(fx, format="langfuse")
    tid = spans["trace_id"].iloc[0]
    nb = write_notebook(
        lab.root / "trace.ipynb",
        f"import llmops_nb as lo\nspans = lo.read_traces({str(fx)!r}, format='langfuse')\n"
        f"lo.show_trace(spans, {tid!r})",
        f"lo.show_trace(spans, {tid!r}).widget()",
    )
    lab.open(page, nb)
    lab.run_all(page)
    static = page.locator(f".jp-OutputArea-output .lo-trace[data-trace-id='{tid}']").first
    static.wait_for()
    assert static.locator("details.lo-span").count() == len(spans)
    assert static.locator(".lo-msg").count() > 0  # the chat is rendered
    # the interactive widget: collapse all, then expand all
    page.wait_for_selector(".lo-tv-bar button")
    live = page.locator(".lo-tv-bar + div .lo-trace").first
    page.locator(".lo-tv-bar button", has_text="collapse all").click()
    assert live.locator("details.lo-span[open]").count() == 0
    page.locator(".lo-tv-bar button", has_text="expand all").click()
    assert live.locator("details.lo-span[open]").count() == len(spans)
    assert page.locator("script", has_text="alert").count() == 0


def test_selection_on_the_cluster_map_reaches_python(lab, page):
    out = lab.root / "selected.json"
    nb = write_notebook(
        lab.root / "select.ipynb",
        "import json, pandas as pd, plotly.graph_objects as go, llmops_nb as lo\n"
        "texts = ['refund my order please', 'the app crashes on login', 'change my shipping address']\n"
        "df = pd.DataFrame({'trace_id': [f't{i}' for i in range(30)], "
        "'input_text': [texts[i % 3] + f' case {i}' for i in range(30)]})\n"
        "cl = lo.cluster(df, text='input_text', n_clusters=3)\n"
        "m = cl.plot()  # the cluster map (scattergl); drawn as SVG here: headless Chromium has no WebGL\n"
        "fig = go.FigureWidget([go.Scatter({k: v for k, v in t.to_plotly_json().items() if k != 'type'})\n"
        "                       for t in m.data], layout=m.layout)\n"
        "fig.update_layout(dragmode='select', width=600, height=450, margin=dict(l=40, r=10, t=40, b=40),\n"
        "                  showlegend=False)\n"
        f"OUT = {str(out)!r}\n"
        "from llmops_nb.annotation import queue_from_selection\n"
        "sel = queue_from_selection(fig, cl.frame, x='x', y='y', on_select=lambda rows: "
        "open(OUT, 'w').write(json.dumps({'ids': rows['trace_id'].tolist(), 'xrange': list(sel.selector.xrange), "
        "'yrange': list(sel.selector.yrange), 'points': cl.frame[['trace_id', 'x', 'y']].values.tolist()})))\n"
        "fig",
    )
    lab.open(page, nb)
    lab.run_all(page)
    drag = page.locator(".js-plotly-plot .nsewdrag").first
    drag.wait_for(timeout=90_000)
    box = drag.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 2, box["y"] + 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=8)
    page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2, steps=8)
    page.mouse.up()
    # one selection event calls on_select once per trace (the union so far): wait for the last
    deadline, got, inside = time.time() + 30, None, None
    while time.time() < deadline:
        if out.exists():
            try:
                got = json.loads(out.read_text())
            except ValueError:  # caught mid-write
                got = None
            if got:
                (x0, x1), (y0, y1) = sorted(got["xrange"]), sorted(got["yrange"])
                inside = {t for t, x, y in got["points"] if x0 <= x <= x1 and y0 <= y <= y1}
                if set(got["ids"]) == inside:
                    break
        time.sleep(0.2)
    assert got is not None, "the selection never reached the kernel"
    assert len(got["ids"]) >= 5 and set(got["ids"]) == inside  # exactly the points in the drawn box
