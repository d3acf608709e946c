"""The report is one offline HTML file: every figure renders with the network off, no request
leaves the machine, widgets become static snapshots."""

from __future__ import annotations

import os
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
