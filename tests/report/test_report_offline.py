"""The report is one offline HTML file: every figure renders with the network off, no request
leaves the machine, widgets become static snapshots."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from llmops_nb.report import find_external_references, render_report


def _notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("n_points = 10\ntitle = 'default'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# A test report"),
        params,
        nbformat.v4.new_code_cell(
            "import plotly.io as pio, plotly.express as px, pandas as pd, ipywidgets as w\n"
            "pio.renderers.default = 'plotly_mimetype+notebook'\n"
            "df = pd.DataFrame({'x': range(n_points), 'y': [i * i for i in range(n_points)]})\n"
            "df.head(3)"
        ),
        nbformat.v4.new_code_cell("px.scatter(df, x='x', y='y', title=title)"),
        nbformat.v4.new_code_cell("px.bar(df, x='x', y='y')"),
        nbformat.v4.new_code_cell("w.IntSlider(value=n_points)"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    nb = _notebook(d / "demo.ipynb")
    return render_report(nb, d / "demo.html", parameters={"n_points": 25, "title": "injected"})


def test_report_is_self_contained(report):
    html = report.path.read_text()
    assert report.n_figures == 2
    assert report.n_widgets_snapshotted == 1
    assert find_external_references(html) == []
    assert "injected" in html  # the parameter reached the notebook
    assert "cdnjs.cloudflare.com/ajax/libs/mathjax" not in html  # plotly adds it per figure; we drop it
    assert "application/vnd.jupyter.widget-view+json" not in html


def test_cli_report(tmp_path):
    nb = _notebook(tmp_path / "cli.ipynb")
    out = tmp_path / "cli.html"
    r = subprocess.run(
        [sys.executable, "-m", "llmops_nb.cli", "report", str(nb), "-p", "n_points", "7", "-o", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert out.exists() and "report:" in r.stdout


def _chromium() -> str | None:
    for c in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if c and os.path.exists(c):
            return c
    return None


def test_report_renders_offline_in_chromium(report):
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is not installed, and CI=true requires the browser tests to run")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=exe,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        ctx = browser.new_context(offline=True)
        page = ctx.new_page()

        def on_request(req):
            if not req.url.startswith(("file:", "data:", "about:", "blob:")):
                requests.append(req.url)

        page.on("request", on_request)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.path.as_uri())
        page.wait_for_function(
            f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {report.n_figures}", timeout=30000
        )
        rendered = page.evaluate("document.querySelectorAll('.js-plotly-plot').length")
        points = page.evaluate("document.querySelectorAll('.js-plotly-plot .scatterlayer .point').length")
        browser.close()
    assert rendered == report.n_figures
    assert points == 25  # the scatter drew every injected point
    assert requests == [], f"requests left the machine: {requests}"
    assert errors == []


ARTIFACTS = Path(__file__).resolve().parents[1] / "_artifacts"


def _widget_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("store_path = 'store'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import plotly.io as pio, plotly.express as px, pandas as pd, llmops_nb as lo\n"
            "pio.renderers.default = 'plotly_mimetype+notebook'\n"
            "spans = lo.read_traces([\n"
            "  {'trace_id': 't1', 'span_id': 'r', 'kind': 'agent', 'name': 'support agent',\n"
            "   'start_time': '2024-05-01T10:00:00Z', 'end_time': '2024-05-01T10:00:02Z', 'input_text': 'where is my refund?'},\n"
            "  {'trace_id': 't1', 'span_id': 'l', 'parent_span_id': 'r', 'kind': 'llm', 'name': 'answer',\n"
            "   'start_time': '2024-05-01T10:00:00.5Z', 'end_time': '2024-05-01T10:00:01.8Z',\n"
            "   'input_messages': [{'role': 'user', 'content': 'where is my refund?'}],\n"
            "   'output_messages': [{'role': 'assistant', 'content': 'It was sent on Monday.'}]}], format='records')\n"
            "px.scatter(x=[1, 2, 3], y=[3, 1, 2])"
        ),
        nbformat.v4.new_code_cell("px.bar(x=['a', 'b'], y=[1, 2])"),
        nbformat.v4.new_code_cell(
            "w = lo.annotate(spans, {'correct': 'pass_fail', 'modes': {'kind': 'categorical', 'options': ['billing', 'tone'], "
            "'multi': True}}, store_path, 'you')\nw"
        ),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


def test_report_keeps_the_executed_notebook_only_when_asked_and_stays_quiet(tmp_path):
    nb = _widget_notebook(tmp_path / "w.ipynb")
    out = tmp_path / "out" / "w.html"
    cmd = [sys.executable, "-m", "llmops_nb.cli", "report", str(nb), "-p", "store_path", str(tmp_path / "s"), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["w.html"]  # no executed notebook beside it
    noise = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip() and not ln.startswith("report:")]
    assert noise == [], noise  # no Jupyter transport or kernel warnings on the terminal
    r = subprocess.run(cmd + ["--keep-executed"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["w.executed.ipynb", "w.html"]
    html = out.read_text()
    # plotly.js embedded once (gzipped); the notebook renderer's own copy is dropped
    assert len(re.findall(r"id=.llmops-plotlyjs-gz.", html)) == 1 and "plotly.js v" not in html
    assert len(re.findall(r"class=.llmops-plotly['\"]", html)) == 2


def test_report_widget_snapshot_shows_the_trace(tmp_path):
    nb = _widget_notebook(tmp_path / "snap.ipynb")
    rep = render_report(nb, tmp_path / "snap.html", parameters={"store_path": str(tmp_path / "s")})
    html = rep.path.read_text()
    assert rep.n_widgets_snapshotted == 1
    assert "Interactive widget (open the notebook" not in html  # not a placeholder line
    assert "lo-ann-snapshot" in html and 'data-trace-id="t1"' in html
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is not installed, and CI=true requires the browser tests to run")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            ctx = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
            page = ctx.new_page()
            page.goto(rep.path.as_uri())
            snap = page.locator(".lo-ann-snapshot")
            snap.wait_for()
            assert snap.locator(".lo-trace details.lo-span").count() == 2
            assert snap.locator("summary", has_text="support agent").is_visible()
            assert snap.locator(".lo-text", has_text="where is my refund?").first.is_visible()  # the root span is open
            assert snap.locator(".lo-q-name", has_text="correct").is_visible()
            assert snap.locator(".lo-q-name", has_text="modes").is_visible()
            box = snap.locator(".lo-ann-item").bounding_box()
            assert box is not None and box["width"] >= 400 and box["height"] >= 80
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            snap.screenshot(path=str(ARTIFACTS / "report-widget-snapshot.png"))
        finally:
            browser.close()
