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
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from fixture_paths import free_port

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
        # JupyterLab's own toasts (the "Jupyter news?" question) would cover the screenshots
        page.add_style_tag(content=".Toastify { display: none !important; }")
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
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "HF_EVALUATE_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "JUPYTER_RUNTIME_DIR": str(root / ".rt"),
                "JUPYTER_CONFIG_DIR": str(root / ".cfg"), "PYTHONPATH": str(ROOT),
                "PLOTLY_RENDERER": "plotly_mimetype+notebook"})
    # user settings of this server: every cell stays rendered (no windowing, so the outputs of
    # cells scrolled out of view are still in the page) and no "Jupyter news?" toast
    settings = root / ".cfg" / "lab" / "user-settings" / "@jupyterlab"
    for ext, name, value in (("notebook-extension", "tracker", {"windowingMode": "none"}),
                             ("apputils-extension", "notification", {"fetchNews": "false"})):
        (settings / ext).mkdir(parents=True, exist_ok=True)
        (settings / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
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


WIDTHS = (1000, 1600)


def shoot(page, locator, name: str) -> list[Path]:
    """Screenshots of one output at each width in WIDTHS into tests/_artifacts/ (looked at by a
    person: the layout at a laptop's and a wide screen's notebook width)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size or {"width": 1400, "height": 1000}
    out = []
    try:
        for w in WIDTHS:
            page.set_viewport_size({"width": w, "height": 1500})  # tall: long outputs fit whole
            page.wait_for_timeout(700)  # plotly relayouts on resize (debounced)
            locator.scroll_into_view_if_needed()
            path = ARTIFACTS / f"{name}-{w}px.png"
            locator.screenshot(path=str(path))
            out.append(path)
    finally:
        page.set_viewport_size(size)
    return out


def wait_all_executed(page, timeout: float = 600_000) -> None:
    """Every code cell of the notebook on screen has run (Run All finished) and the kernel is idle."""
    page.wait_for_function(
        "() => { const w = window.jupyterapp.shell.currentWidget; if (!w || !w.content) return false;"
        " const k = w.sessionContext.session && w.sessionContext.session.kernel;"
        " const cells = w.content.widgets.filter((c) => c.model.type === 'code');"
        " return !!k && k.status === 'idle' && cells.every((c) => c.model.executionCount !== null"
        "   && !c.node.querySelector('.jp-InputArea-prompt').textContent.includes('*')); }",
        timeout=timeout)


def reveal_cells(page) -> None:
    """Scroll through the notebook: JupyterLab renders the outputs of cells out of view lazily."""
    page.evaluate(
        "async () => { const nb = window.jupyterapp.shell.currentWidget.content;"
        " for (let i = 0; i < nb.widgets.length; i++) {"
        "   await nb.scrollToItem(i, 'start'); await new Promise((r) => setTimeout(r, 300)); } }")


def notebook_errors(page) -> list[str]:
    return page.eval_on_selector_all(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                     "els => els.map((e) => e.innerText).filter((t) => /Error|Traceback/.test(t))")


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

    # restart the kernel: the old widget says so at once and refuses input (no "saving..." forever)
    lab.command(page, "kernelmenu:restart")
    lab.accept_dialog(page, 30_000)
    page.wait_for_selector(".lo-ann[data-dead='true']", timeout=15_000)
    status = page.locator(".lo-ann .lo-ann-status")
    assert "kernel restarted" in status.inner_text() and "Re-run the cell to resume" in status.inner_text()
    page.focus(".lo-ann")
    keys(page, "1", "2", "Enter", "s")
    page.wait_for_timeout(300)
    assert "saving" not in status.inner_text() and "Re-run the cell" in status.inner_text()
    assert page.locator(".lo-ann.lo-pending").count() == 0
    assert page.locator(".lo-ann .lo-act").first.is_disabled()
    assert page.get_attribute(".lo-ann", "data-item-id") == "t4"  # nothing moved
    shoot(page, widget(page), "widget-after-kernel-restart")
    # re-run: the queue resumes at t4
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
    # the kind filter offers the span kinds only, and keeps the ancestors of matches (dimmed)
    sel = page.locator(".lo-tv-bar select")
    values = sel.locator("option").evaluate_all("os => os.map((o) => o.value)")
    assert values[0] == "" and sorted(values[1:]) == sorted(set(spans["kind"].fillna("unknown")))
    leaf_kind = next(k for k in ("tool", "llm", "agent") if k in values)
    sel.select_option(leaf_kind)
    shown = live.locator("details.lo-span").evaluate_all(
        "ds => ds.filter((d) => d.style.display !== 'none').map((d) => [d.dataset.kind, d.classList.contains('lo-context')])")
    assert any(k == leaf_kind for k, _ in shown)
    assert all(k == leaf_kind or ctx for k, ctx in shown)
    n_match = int((spans["kind"] == leaf_kind).sum())
    assert sum(1 for k, ctx in shown if not ctx) == n_match
    roots = spans[spans["parent_span_id"].isna()]
    if not (roots["kind"] == leaf_kind).all():  # the root is an ancestor of every match: it stays
        assert any(ctx for _, ctx in shown)
    sel.select_option("")
    page.locator(".lo-tv-bar button", has_text="collapse all").click()
    live.locator("details.lo-span > summary").first.click()
    shoot(page, page.locator(".jp-OutputArea-output .lo-trace").first, "trace-viewer")


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


def _nb03_copy(lab, store: Path) -> str:
    """notebooks/03 as written, with its parameters cell set small (papermill style)."""
    nb = nbformat.read(ROOT / "notebooks" / "03_labels_and_judges.ipynb", as_version=4)
    params = next(c for c in nb.cells if c.cell_type == "code" and "n_labelled" in c.source)
    params.source = (f"store_path = {str(store)!r}\ngenerate_demo = True\nn_traces = 300\nseed = 0\n"
                     "judge_model = 'llmops-sim/judge'\nn_labelled = 60")
    nbformat.write(nb, lab.root / "nb03.ipynb")
    return "nb03.ipynb"


def test_notebook_03_run_all_leaves_the_human_items_and_settles_disagreements(lab, page):
    import llmops_nb as lo
    from llmops_nb.annotation import disagreements

    store = lab.root / "store-nb03"
    lab.open(page, _nb03_copy(lab, store))
    lab.run_all(page)
    wait_all_executed(page)
    assert notebook_errors(page) == []
    anns = page.locator(".lo-ann")
    assert anns.count() == 2  # your queue, then the settle queue
    mine, settle = anns.nth(0), anns.nth(1)
    left = int(mine.locator("[data-prog='left']").inner_text().split()[-1])
    assert left >= 20 and mine.get_attribute("data-item-id")  # the simulated annotators left you your items
    assert mine.get_attribute("data-dead") is None
    # the settle widget opens exactly the disagreement items
    to_settle = disagreements(lo.labels(lo.Store(store), question="correct"), "correct")
    assert len(to_settle) > 0
    assert int(settle.locator("[data-prog='left']").inner_text().split()[-1]) == len(to_settle)
    assert settle.get_attribute("data-item-id") in set(to_settle["item_id"])
    # spans by keyboard: o closes and opens the span under the cursor, j moves it; Enter on a
    # focused span opens or closes it and never submits
    mine.focus()
    first = mine.get_attribute("data-item-id")
    opened = mine.locator(".lo-ann-item details.lo-span[open]")
    n_open = opened.count()
    keys(page, "o")
    assert opened.count() == n_open - 1
    keys(page, "o", "j")
    assert opened.count() == n_open
    assert mine.locator("details.lo-span.lo-cur").get_attribute("data-span-id") == \
        mine.locator("details.lo-span").nth(1).get_attribute("data-span-id")
    second = mine.locator("details.lo-span > summary").nth(1)
    second.focus()
    was = mine.locator("details.lo-span").nth(1).get_attribute("open") is not None
    keys(page, "Enter")
    page.wait_for_timeout(300)
    assert (mine.locator("details.lo-span").nth(1).get_attribute("open") is not None) != was
    assert mine.get_attribute("data-item-id") == first and "saving" not in mine.inner_text()
    assert "done 0" in mine.inner_text()
    # the trace keeps a readable width beside the questions
    item_box = mine.locator(".lo-ann-item").bounding_box()
    panel_box = mine.locator(".lo-ann-panel").bounding_box()
    assert item_box and panel_box
    assert item_box["width"] >= 440 or panel_box["y"] >= item_box["y"] + item_box["height"] - 1  # or stacked
    # label one of yours with the keyboard: the header moves
    mine.focus()
    keys(page, "1", "Enter")
    page.wait_for_function("(first) => { const e = document.querySelectorAll('.lo-ann')[0];"
                           " return e.dataset.itemId !== first && !e.classList.contains('lo-pending'); }", arg=first)
    assert "done 1" in mine.inner_text() and f"left {left - 1}" in mine.inner_text()
    shoot(page, mine, "annotation-widget")


def test_slices_table_plot_and_cluster_map_read_well(lab, page):
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    store = lab.root / "store-analysis"
    nb = write_notebook(
        lab.root / "analysis.ipynb",
        "import plotly.io as pio, llmops_nb as lo\nfrom llmops_nb import analysis as la, demo\n"
        "pio.renderers.default = 'plotly_mimetype+notebook'\n"
        f"store = lo.Store({str(store)!r})\n"
        "demo.write_store(demo.generate(400, seed=1), store)\ndemo.register_sim_judge(store, seed=1)\n"
        "spans = store.spans()\ntraces = la.trace_features(spans)\n"
        "results = lo.evaluate(traces, [lo.evals.Helpfulness(model='llmops-sim/judge')], store=store, progress=False)\n"
        "traces['failed'] = traces.trace_id.map(la.outcome_from_results(results, 'helpfulness')).fillna(False).astype(bool)\n"
        "digest = la.trace_digest(spans)\nfail = traces[traces.failed].assign(digest=lambda d: d.trace_id.map(digest))",
        "slices = la.find_slices(traces, outcome='failed')\nslices.head(12)",
        "la.plot_slices(slices, top=15)",
        "la.cluster(fail, text='digest').plot()",
    )
    lab.open(page, nb)
    lab.run_all(page)
    wait_all_executed(page)
    assert notebook_errors(page) == []
    reveal_cells(page)
    # (the plotly renderer's output node is itself the .js-plotly-plot)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2")
    plots = page.locator(".js-plotly-plot")
    slices_plot, cmap = plots.nth(0), plots.nth(1)
    assert not [m for m in console if "Invalid color specifier" in m], console
    # the interval bars are drawn in the slice's colour (grey or red), not black
    bar_colors = slices_plot.locator("g.errorbar path").evaluate_all("ps => ps.map((p) => getComputedStyle(p).stroke)")
    assert bar_colors and set(bar_colors) <= {"rgb(127, 127, 127)", "rgb(214, 39, 40)"}, set(bar_colors)
    # the cluster map: tall enough, the legend inside the figure
    fig_box = cmap.bounding_box()
    assert fig_box is not None and fig_box["height"] >= 450
    legend = cmap.locator("g.legend")
    lb = legend.bounding_box()
    assert lb is not None
    assert lb["x"] >= fig_box["x"] - 1 and lb["x"] + lb["width"] <= fig_box["x"] + fig_box["width"] + 1
    assert lb["y"] >= fig_box["y"] - 1 and lb["y"] + lb["height"] <= fig_box["y"] + fig_box["height"] + 1
    table = page.locator(".jp-OutputArea-output:has(table)").first  # what the reader sees (it scrolls sideways)
    shoot(page, table, "slices-table")
    shoot(page, slices_plot, "slices-plot")
    shoot(page, cmap, "cluster-map")
    assert not [m for m in console if "Invalid color specifier" in m], console
