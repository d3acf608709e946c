"""Execute a notebook with parameters and write one self-contained, offline HTML report."""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["render_report", "render_demo_report", "export_html", "Report", "REPORT_TEMPLATE_DIR",
           "find_external_references", "NOTEBOOKS_DIR"]

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
"""The project's notebooks (present in a source checkout)."""

REPORT_TEMPLATE_DIR = Path(__file__).parent / "templates"
_WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_EXTERNAL = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*["'](?:https?:)?//[^"']+["']""", re.I)


@dataclass(frozen=True)
class Report:
    """A rendered report: where it is, how big, and what went into it.

    Example:
        >>> rep = lo.render_report("notebooks/02_error_analysis.ipynb", "report.html")  # doctest: +SKIP
        >>> rep.n_figures  # doctest: +SKIP
        6
    """

    path: Path
    notebook: Path
    parameters: dict[str, Any]
    size_bytes: int
    n_figures: int
    n_widgets_snapshotted: int

    def _repr_html_(self) -> str:
        return (
            f"<div>Report <a href='{self.path}' target='_blank'><code>{self.path}</code></a>: "
            f"{self.size_bytes / 1e6:.1f} MB, {self.n_figures} figures, from <code>{self.notebook.name}</code></div>"
        )

    def __str__(self) -> str:
        return f"{self.path} ({self.size_bytes / 1e6:.1f} MB, {self.n_figures} figures)"


def _snapshot_widgets(nb: Any) -> int:
    """Replace live widget views by their static HTML snapshot (the text/html the object also
    published), and drop the saved widget state so no widget manager is loaded from a CDN."""
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data")
            if not data or _WIDGET_MIME not in data:
                continue
            del data[_WIDGET_MIME]
            n += 1
            if "text/html" not in data:
                text = data.get("text/plain", "")
                if isinstance(text, list):
                    text = "".join(text)
                import html

                data["text/html"] = (
                    "<div class='llmops-widget-snapshot' style='border:1px dashed #bbb;padding:6px;color:#666'>"
                    f"Interactive widget (open the notebook to use it): <code>{html.escape(text)}</code></div>"
                )
    nb.metadata.pop("widgets", None)
    return n


_PLOTLY_MATHJAX = re.compile(r"""<script src="https://cdnjs\.cloudflare\.com/ajax/libs/mathjax/[^"]*"></script>""")


def _drop_cdn_mathjax(nb: Any) -> None:
    """Plotly's notebook renderer adds a MathJax <script> from a CDN to every figure; a report
    must not fetch anything, and figures render without it (only LaTeX labels need it)."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            html = data.get("text/html")
            if html is None:
                continue
            text = "".join(html) if isinstance(html, list) else html
            if "mathjax" in text:
                data["text/html"] = _PLOTLY_MATHJAX.sub("", text)


_PLOTLY_MIME = "application/vnd.plotly.v1+json"


def _figures_from_json(nb: Any) -> int:
    """Draw every plotly figure from its JSON with the one plotly.js of the report.

    Plotly's notebook renderer puts plotly.js into an output each time it is activated and
    one script per figure; a report instead carries plotly.js once (gzipped, see
    :func:`_plotly_loader`) and each figure as a JSON block that the loader draws. Returns the
    number of figures."""
    n = 0
    for cell in nb.cells:
        keep = []
        for out in cell.get("outputs", []):
            data = out.get("data") or {}
            if _PLOTLY_MIME in data:
                fig = data.pop(_PLOTLY_MIME)
                fig = json.loads(fig) if isinstance(fig, str) else fig
                height = (fig.get("layout") or {}).get("height") or 450
                blob = json.dumps(fig, separators=(",", ":"), default=str).replace("</", "<\\/")
                data["text/html"] = (
                    f"<div class='llmops-plotly' id='llmops-fig-{n}' style='min-height:{int(height)}px'>"
                    "<div class='llmops-plotly-wait' style='color:#888;font:12px sans-serif'>drawing the figure...</div></div>"
                    f"<script type='application/json' id='llmops-fig-{n}-json'>{blob}</script>")
                data.pop("text/plain", None)
                n += 1
            else:
                html = data.get("text/html")
                text = "".join(html) if isinstance(html, list) else (html or "")
                if "plotly.js v" in text or "window.PlotlyConfig" in text:
                    continue  # the renderer's own copy of plotly.js: the report has one
            keep.append(out)
        if "outputs" in cell:
            cell["outputs"] = keep
    return n


def _plotly_loader() -> str:
    """One copy of plotly.js, gzipped and base64-encoded (about 1.9 MB instead of 4.8 MB), that
    the browser unpacks with its built-in DecompressionStream, then draws the figures."""
    import base64
    import gzip

    from plotly.offline import get_plotlyjs

    packed = base64.b64encode(gzip.compress(get_plotlyjs().encode("utf-8"), 9)).decode("ascii")
    return (
        f"<script type='application/octet-stream' id='llmops-plotlyjs-gz'>{packed}</script>\n"
        "<script>\n(async () => {\n"
        "  const figs = Array.from(document.querySelectorAll('.llmops-plotly'));\n"
        "  if (!figs.length) return;\n"
        "  try {\n"
        "    if (!window.Plotly) {\n"
        "      const b64 = document.getElementById('llmops-plotlyjs-gz').textContent;\n"
        "      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));\n"
        "      const code = await new Response(new Blob([bytes]).stream()"
        ".pipeThrough(new DecompressionStream('gzip'))).text();\n"
        "      const s = document.createElement('script');\n"
        "      s.textContent = code;\n"
        "      document.head.appendChild(s);\n"
        "    }\n"
        "    for (const div of figs) {\n"
        "      const fig = JSON.parse(document.getElementById(div.id + '-json').textContent);\n"
        "      div.replaceChildren();\n"
        "      await window.Plotly.newPlot(div, fig.data || [], fig.layout || {}, "
        "Object.assign({responsive: true, displaylogo: false}, fig.config || {}));\n"
        "    }\n"
        "  } catch (err) {\n"
        "    for (const div of figs) div.textContent = 'This browser could not draw the figure (' + err + '); "
        "reports need Chrome 80+, Firefox 113+ or Safari 16.4+.';\n"
        "  }\n"
        "})();\n</script>\n"
    )


def find_external_references(html_text: str) -> list[str]:
    """Tags in an HTML report that would fetch from another host (should be empty).

    Example:
        >>> find_external_references('<script src="https://cdn.plot.ly/x.js"></script>')
        ['<script src="https://cdn.plot.ly/x.js"']
    """
    return _EXTERNAL.findall(html_text)


def export_html(nb: Any, output: str | os.PathLike[str], *, title: str | None = None, parameters: Mapping[str, Any] | None = None) -> Report:
    """Write an executed notebook (a path or a nbformat node) as one offline HTML file.

    Plotly figures are drawn from their JSON by one embedded, gzipped copy of plotly.js
    (whatever the notebook's renderer embedded is dropped); tables stay HTML; widgets become
    static snapshots. No CDN script is referenced.

    Example:
        >>> rep = export_html("executed.ipynb", "report.html", title="Error analysis")  # doctest: +SKIP
        >>> rep.path.name  # doctest: +SKIP
        'report.html'
    """
    import nbformat
    from nbconvert import HTMLExporter

    src = Path(nb) if isinstance(nb, (str, os.PathLike)) else Path(title or "notebook.ipynb")
    node = nbformat.read(str(nb), as_version=4) if isinstance(nb, (str, os.PathLike)) else copy.deepcopy(nb)
    n_widgets = _snapshot_widgets(node)
    _drop_cdn_mathjax(node)
    n_figs = _figures_from_json(node)
    exporter = HTMLExporter(template_name="llmops_report", extra_template_basedirs=[str(REPORT_TEMPLATE_DIR)])
    exporter.require_js_url = ""
    exporter.mathjax_url = ""
    resources = {
        "llmops_report": {
            "title": title or src.stem,
            "executed_at": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "parameters": json.dumps(dict(parameters or {}), default=str) if parameters else "",
        }
    }
    body, _ = exporter.from_notebook_node(node, resources=resources)
    if n_figs:
        at = body.rfind("</body>")
        body = body[:at] + _plotly_loader() + body[at:] if at >= 0 else body + _plotly_loader()
    ext = find_external_references(body)
    if ext:
        raise RuntimeError(
            f"the report would load {len(ext)} resource(s) from the network, e.g. {ext[0]!r}; "
            "set plotly's renderer to 'plotly_mimetype+notebook' (not 'notebook_connected') in the notebook"
        )
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(body, encoding="utf-8")
    return Report(out, src, dict(parameters or {}), out.stat().st_size, n_figs, n_widgets)


def _kernel_config() -> Any:
    """Run the report's kernel over IPC (unix sockets in Jupyter's runtime folder): nothing
    listens on a TCP port, and the kernel has no "running over TCP without encryption"
    warning to print on the terminal. The kernel's own log shows only critical messages:
    jupyter_client interrupts a kernel (SIGINT) before asking it to shut down, and a kernel
    still in a message handler then logs "KeyboardInterrupt caught in kernel." on the terminal
    (a race, seen on busy machines). A cell's errors still stop the report and are reported."""
    from traitlets.config import Config

    cfg = Config()
    if os.name == "posix":
        cfg.KernelManager.transport = "ipc"
    cfg.NotebookClient.extra_arguments = ["--IPKernelApp.log_level=CRITICAL"]
    return cfg


def render_report(
    notebook: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    parameters: Mapping[str, Any] | None = None,
    kernel_name: str | None = None,
    timeout: int = 900,
    executed_notebook: str | os.PathLike[str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    keep_executed: bool = False,
) -> Report:
    """Execute ``notebook`` with ``parameters`` (papermill: injected after the cell tagged
    ``parameters``) and write one self-contained HTML file that renders offline.

    The executed notebook is kept only when asked: ``keep_executed=True`` writes it beside the
    HTML (``report.executed.ipynb``), ``executed_notebook=`` names where; otherwise it lives in
    a temporary folder that is removed.

    Example:
        >>> from llmops_nb.report import render_report
        >>> render_report("notebooks/02_error_analysis.ipynb", "report.html",
        ...               parameters={"n_traces": 500})  # doctest: +SKIP
    """
    import papermill as pm

    nb_path = Path(notebook)
    if not nb_path.exists():
        raise FileNotFoundError(f"notebook {str(nb_path)!r} does not exist")
    import tempfile

    output = Path(output) if output is not None else nb_path.with_suffix(".html")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    if executed_notebook:
        executed = Path(executed_notebook)
    elif keep_executed:
        executed = output.with_suffix(".executed.ipynb")
    else:
        tmp = tempfile.TemporaryDirectory(prefix="llmops-report-")
        executed = Path(tmp.name) / nb_path.name
    executed.parent.mkdir(parents=True, exist_ok=True)
    env_before = os.environ.get("LLMOPS_NB_REPORT")
    os.environ["LLMOPS_NB_REPORT"] = "1"
    try:
        pm.execute_notebook(
            str(nb_path),
            str(executed),
            parameters=dict(parameters or {}),
            kernel_name=kernel_name,
            execution_timeout=timeout,
            progress_bar=False,
            cwd=str(cwd) if cwd is not None else str(nb_path.parent),
            log_output=False,
            config=_kernel_config(),
        )
        return export_html(executed, output, title=nb_path.stem, parameters=parameters)
    finally:
        if env_before is None:
            os.environ.pop("LLMOPS_NB_REPORT", None)
        else:
            os.environ["LLMOPS_NB_REPORT"] = env_before
        if tmp is not None:
            tmp.cleanup()


def render_demo_report(store: Any, output: str | os.PathLike[str] | None = None, *, timeout: int = 900) -> str:
    """Render the error-analysis notebook over a store filled by ``llmops-nb demo run`` into
    ``reports/error_analysis.html``; returns a short text saying where it is and what next.

    Example:
        >>> rep = render_demo_report(".llmops", "report.html")  # doctest: +SKIP
        >>> rep.size_bytes > 0  # doctest: +SKIP
        True
    """
    import time

    nb = NOTEBOOKS_DIR / "02_error_analysis.ipynb"
    if not nb.exists():
        return f"(no report: {nb} is not here; the notebooks ship with the source checkout)"
    out = Path(output) if output is not None else Path("reports") / "error_analysis.html"
    t0 = time.perf_counter()
    rep = render_report(nb, out.resolve(), parameters={"store_path": str(Path(store.path).resolve()), "generate_demo": False},
                        timeout=timeout)
    took = time.perf_counter() - t0
    return (f"error-analysis report: {rep.path.resolve()} ({rep.size_bytes / 1e6:.1f} MB, {rep.n_figures} figures, "
            f"rendered in {took:.0f} s)\n"
            f"  open it in any browser (it works offline): file://{rep.path.resolve()}\n"
            "  explore interactively: make lab   (then open notebooks/01_quickstart.ipynb)")
