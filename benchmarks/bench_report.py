"""Report benchmark: the size of the offline HTML report of notebooks/02_error_analysis.ipynb
(target < 3 MB) and the seconds it takes, beside a baseline measured in the same run: nbconvert's
own HTML export (lab template) of the same executed notebook, which carries the plotly.js that
the notebook renderer embedded, as it is, plus one script per figure.

It also prints what the terminal showed while the report ran (target: only the report's path)
and whether the executed notebook stayed beside the HTML (only with --keep-executed).

Run: .venv/bin/python benchmarks/bench_report.py [--traces 1000]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
for _k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_k, "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=int, default=1000)
    args = ap.parse_args()
    nb = ROOT / "notebooks" / "02_error_analysis.ipynb"
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        out = Path(tmp) / "out" / "report.html"
        cmd = [sys.executable, "-m", "llmops_nb.cli", "report", str(nb), "-p", "n_traces", str(args.traces),
               "-p", "store_path", str(Path(tmp) / "store"), "-o", str(out)]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        took = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
        size = out.stat().st_size
        kept = sorted(p.name for p in out.parent.iterdir())
        # again with --keep-executed: the executed notebook for the baseline
        r = subprocess.run(cmd + ["--keep-executed"], capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        executed = out.with_suffix(".executed.ipynb")

        import nbformat
        from nbconvert import HTMLExporter

        t1 = time.perf_counter()
        body, _ = HTMLExporter(template_name="lab").from_notebook_node(nbformat.read(executed, as_version=4))
        base_took = time.perf_counter() - t1
        base = len(body.encode("utf-8"))
        n_plotlyjs = len(re.findall(r"plotly\.js v\d", body))
    print(f"notebook 02 report, {args.traces} traces: {size / 1e6:.2f} MB (target < 3 MB), "
          f"rendered in {took:.0f} s")
    print(f"  baseline, nbconvert lab export of the same executed notebook: {base / 1e6:.2f} MB "
          f"({n_plotlyjs} plotly.js copies, export {base_took:.1f} s)")
    print(f"  terminal while rendering: {lines}")
    print(f"  folder without --keep-executed: {kept}")


if __name__ == "__main__":
    main()
