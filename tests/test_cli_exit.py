"""The console script ends the process itself once Python's shutdown steps ran (llmops_nb.cli.run):
its exit code is the command's, output piped to a file is complete, atexit handlers and
non-daemon threads still run, and usage errors keep argparse's exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, *argv: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "entry.py"
    script.write_text(code + f"\nimport sys\nsys.argv = ['llmops-nb', *{list(argv)!r}]\nfrom llmops_nb.cli import run\nrun()\n")
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_console_script_is_run() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["llmops-nb"] == "llmops_nb.cli:run"


def test_exit_code_output_atexit_and_threads(tmp_path: Path) -> None:
    marker, thread_marker = tmp_path / "atexit.txt", tmp_path / "thread.txt"
    setup = f"""
import atexit, threading, time
atexit.register(lambda: open({str(marker)!r}, "w").write("ran"))
def late():
    time.sleep(0.5)
    open({str(thread_marker)!r}, "w").write("done")
threading.Thread(target=late).start()
"""
    done = _run(setup, "--version", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("llmops-nb ")
    assert marker.read_text() == "ran"
    assert thread_marker.read_text() == "done"


def test_usage_error_keeps_its_code(tmp_path: Path) -> None:
    done = _run("", "gate", "--rule", "correctness >= 0.9", tmp_path=tmp_path)
    assert done.returncode == 2
    unknown = _run("", "no-such-command", tmp_path=tmp_path)
    assert unknown.returncode == 2
    assert "invalid choice" in unknown.stderr


def test_large_output_is_complete_through_a_pipe(tmp_path: Path) -> None:
    setup = "import llmops_nb.cli as cli\ncli.main = lambda argv=None: print('x' * 1_000_000) or 3\n"
    done = _run(setup, tmp_path=tmp_path)
    assert done.returncode == 3
    assert done.stdout == "x" * 1_000_000 + "\n"


def test_an_uncaught_error_prints_its_traceback(tmp_path: Path) -> None:
    setup = "import llmops_nb.cli as cli\ndef boom(argv=None):\n    raise RuntimeError('bad thing')\ncli.main = boom\n"
    done = _run(setup, tmp_path=tmp_path)
    assert done.returncode == 1
    assert "RuntimeError: bad thing" in done.stderr
