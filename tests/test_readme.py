"""README.md is executable: every fenced ``python`` and ``bash`` block runs, top to bottom, in a
fresh empty folder, as a newcomer pasting them into one notebook and one terminal would.

Python blocks run in one Jupyter kernel (so top-level ``await`` works and names carry from a
block to the next, as in a notebook); bash blocks run in ``bash -e`` in the same folder. No
block reaches the network: the kernel and the shell run with a guard that refuses every
connection off 127.0.0.1.

A block that needs a real backend or key is marked by an HTML comment on the line before it,
``<!-- readme-test: WORD[=VALUE] ... -->``, and runs against the local fakes instead:

- ``fake=llm``: litellm's OpenAI provider goes to ``llmops_nb.testing.FakeLLMServer``
  (``OPENAI_API_BASE``, a dummy ``OPENAI_API_KEY``), which answers judge prompts as a judge.
- ``fake=backends``: Langfuse, LangSmith and Datadog go to the fake read APIs of
  ``tests/connectors`` (serving the shared fixtures), with their credentials set.
- ``fake=s3``: ``s3://`` goes to moto's server on 127.0.0.1, with the block's bucket created.
- ``background``: each command is a server: started, sent one OTLP export, stopped with Ctrl-C.
- ``make=dry-run``: ``make TARGET`` lines are checked with ``make -n`` in the repository
  (``make test`` runs this very test; ``make demo`` runs ``llmops-nb demo run``, run below).
- ``exit=0,1``: the exit codes the block may end with (a gate that fails exits 1, as documented).
- ``needs=pyspark,java``: optional tools the block uses (importable modules or commands); the block
  is skipped, and says so, when one is missing (Spark needs ``pip install pyspark`` and a JVM).
- ``elsewhere=tests/x.py``: the block needs what the guard refuses (a Ray runtime's processes talk
  over this machine's own network address); the named test file runs it, so it is skipped here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fixture_paths import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARK = re.compile(r"^<!--\s*readme-test:(.*?)-->\s*$")

# refuses every connection that is not to the loopback interface (imported at interpreter start)
_GUARD = '''
import socket as _s
_connect = _s.socket.connect
def _local_only(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and self.family in (_s.AF_INET, _s.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
        raise OSError(f"readme test: network access to {address!r} refused (offline)")
    return _connect(self, address)
_s.socket.connect = _local_only
_connect_ex = _s.socket.connect_ex
def _local_only_ex(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and self.family in (_s.AF_INET, _s.AF_INET6) and host not in ("127.0.0.1", "::1", "localhost"):
        return 111
    return _connect_ex(self, address)
_s.socket.connect_ex = _local_only_ex
'''


@dataclass
class Block:
    lang: str
    code: str
    line: int  # 1-based line of the opening fence
    marks: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"README.md:{self.line} ({self.lang})"


def readme_blocks(text: str | None = None) -> list[Block]:
    """The fenced python and bash blocks of the README, with the marks before them."""
    lines = (README.read_text() if text is None else text).splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        marks: dict[str, str] = {}
        k = start - 1
        while k >= 0 and _MARK.match(lines[k]):
            for word in _MARK.match(lines[k]).group(1).split():  # type: ignore[union-attr]
                key, _, val = word.partition("=")
                marks[key] = val
            k -= 1
        if lang in ("python", "bash"):
            out.append(Block(lang, "\n".join(lines[start + 1:j]), start + 1, marks))
        i = j + 1
    return out


def _judge_answer(req: dict) -> str:
    """A fake model: answers a judge prompt in its format (pass, an integer, the first label),
    and anything else with a short support reply."""
    system = str((req.get("messages") or [{}])[0].get("content") or "")
    if "is an integer from" in system:
        return json.dumps({"reasoning": "fake judge", "answer": 4})
    labels = re.search(r'is exactly one of: "([^"]+)"', system)
    if labels:
        return json.dumps({"reasoning": "fake judge", "answer": labels.group(1)})
    if '"answer"' in system:
        return json.dumps({"reasoning": "fake judge", "answer": "pass"})
    return "Thanks for reaching out: your order shipped yesterday and arrives within 3 days."


class Fakes:
    """The local stand-ins for real services, started on first use, and the env for each."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self._llm = None
        self._backends = None
        self._s3: subprocess.Popen | None = None
        self._s3_env: dict[str, str] = {}

    def env(self, marks: dict[str, str], code: str) -> dict[str, str]:
        fake = marks.get("fake", "")
        env: dict[str, str] = {}
        if fake == "llm":
            if self._llm is None:
                from llmops_nb.testing import FakeLLMServer

                self._llm = FakeLLMServer(responder=_judge_answer).start()
            env.update(OPENAI_API_BASE=self._llm.url, OPENAI_BASE_URL=self._llm.url, OPENAI_API_KEY="sk-fake-readme")
        elif fake == "backends":
            if self._backends is None:
                spec = importlib.util.spec_from_file_location("_readme_connectors", ROOT / "tests" / "connectors" / "connector_fakes.py")
                mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
                spec.loader.exec_module(mod)  # type: ignore[union-attr]
                mod.fixture_dir("langfuse")  # skips when the shared fixtures are absent
                self._backends = mod.FakeBackends().start()
                self._secrets = mod.SECRETS
            url = self._backends.url
            env.update(self._secrets)
            env.update(LANGFUSE_HOST=url, LANGSMITH_ENDPOINT=url)
        elif fake == "s3":
            env.update(self._start_s3(code))
        elif fake:
            raise AssertionError(f"unknown fake {fake!r} in a readme-test mark; known: llm, backends, s3")
        return env

    def _start_s3(self, code: str) -> dict[str, str]:
        if self._s3 is None:
            boto3 = pytest.importorskip("boto3")
            exe = BIN / "moto_server"
            if not exe.exists():
                pytest.skip("moto_server is not installed (pip install 'moto[server]')")
            port = free_port()
            self._s3 = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
            endpoint = f"http://127.0.0.1:{port}"
            self._s3_env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true"}
            client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                                  aws_secret_access_key="testing", region_name="us-east-1")
            deadline = time.time() + 30
            for bucket in sorted(set(re.findall(r"s3://([a-z0-9.\-]+)", code))):
                while True:
                    try:
                        client.create_bucket(Bucket=bucket)
                        break
                    except Exception:
                        if time.time() > deadline:
                            raise
                        time.sleep(0.2)
        return dict(self._s3_env)

    def stop(self) -> None:
        if self._llm is not None:
            self._llm.stop()
        if self._backends is not None:
            self._backends.stop()
        if self._s3 is not None:
            self._s3.terminate()
            self._s3.wait(10)


def _base_env(tmp: Path) -> dict[str, str]:
    """The environment of a newcomer's shell: the venv on PATH, no store or dataset folder set,
    no provider keys, and the offline guard."""
    guard = tmp.parent / "_readme_guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(_GUARD)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMOPS_NB_", "OPENAI_", "ANTHROPIC_", "LANGFUSE_", "LANGSMITH_", "LANGCHAIN_", "DD_",
                                "PHOENIX_", "AWS_", "PYTEST_"))}
    env.pop("LITELLM_LOCAL_MODEL_COST_MAP", None)  # make test sets it; a newcomer does not
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(guard)
    env["MPLBACKEND"] = "Agg"
    return env


def _run_bash(block: Block, tmp: Path, env: dict[str, str]) -> None:
    if block.marks.get("make") == "dry-run":
        targets = [ln.split("#")[0].split()[1:] for ln in block.code.splitlines() if ln.strip().startswith("make ")]
        for t in targets:
            r = subprocess.run(["make", "-n", "-C", str(ROOT), *t], capture_output=True, text=True, env=env, timeout=60)
            assert r.returncode == 0, f"{block}: make -n {' '.join(t)} failed:\n{r.stderr}"
        return
    if "background" in block.marks:
        for ln in block.code.splitlines():
            cmd = ln.split("#")[0].strip()
            if cmd:
                _run_server(block, cmd, tmp, env)
        return
    r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block.code], cwd=tmp, env=env, capture_output=True,
                       text=True, timeout=900)
    allowed = {int(c) for c in block.marks.get("exit", "0").split(",")}
    assert r.returncode in allowed, f"{block} failed (exit {r.returncode}):\n{block.code}\n--- stdout\n{r.stdout[-3000:]}\n--- stderr\n{r.stderr[-3000:]}"


def _run_server(block: Block, cmd: str, tmp: Path, env: dict[str, str]) -> None:
    """Start a server command, send it one OTLP/JSON export at the port it was given, Ctrl-C it."""
    port = int(re.search(r"--port\s+(\d+)", cmd).group(1))  # type: ignore[union-attr]
    free = free_port()
    cmd = cmd.replace(f"--port {port}", f"--port {free}")
    proc = subprocess.Popen(["bash", "-c", f"exec {cmd}"], cwd=tmp, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        body = json.dumps({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [{
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "readme",
            "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": "1700000001000000000"}]}]}]}).encode()
        deadline = time.time() + 60
        while True:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{free}/v1/traces", data=body,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=5) as resp:
                    assert resp.status == 200
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"{block}: {cmd!r} did not answer:\n{proc.stdout.read() if proc.stdout else ''}") from None
                time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, f"{block}: {cmd!r} exited {proc.returncode} after Ctrl-C:\n{out[-2000:]}"


class Session:
    """One Jupyter kernel in the folder, like a notebook the newcomer pastes blocks into."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        import nbformat
        from nbclient import NotebookClient

        self.nb = nbformat.v4.new_notebook()
        self.client = NotebookClient(self.nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp)}})
        self._ctx = self.client.setup_kernel(env=env)
        self._ctx.__enter__()

    def run(self, code: str, where: str) -> list[str]:
        import nbformat
        from nbclient.exceptions import CellExecutionError

        cell = nbformat.v4.new_code_cell(code)
        self.nb.cells.append(cell)
        try:
            self.client.execute_cell(cell, len(self.nb.cells) - 1)
        except CellExecutionError as e:
            raise AssertionError(f"{where} raised:\n{code}\n---\n{str(e)[-6000:]}") from None
        return [o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream"]

    def set_env(self, env: dict[str, str], unset: bool = False) -> None:
        if env:
            code = (f"import os\nfor _k in {sorted(env)!r}: os.environ.pop(_k, None)" if unset
                    else f"import os\nos.environ.update({env!r})")
            self.run(code, "the test's environment set-up")

    def close(self) -> None:
        self._ctx.__exit__(None, None, None)


def test_marks_parse_and_every_block_is_found():
    text = "a\n<!-- readme-test: fake=llm background -->\n```python\nx = 1\n```\n```bash\nls\n```\n```text\nno\n```\n"
    b = readme_blocks(text)
    assert [(x.lang, x.line, x.marks) for x in b] == [("python", 3, {"fake": "llm", "background": ""}), ("bash", 6, {})]
    blocks = readme_blocks()
    assert len(blocks) >= 15 and {b.lang for b in blocks} == {"python", "bash"}
    # needs=: a block whose optional tools (module or command) are missing is skipped
    assert _missing("json,sh") == [] and _missing("no_such_module_xyz,json") == ["no_such_module_xyz"]
    spark = [b for b in blocks if "pyspark" in b.code]
    assert spark and all(b.marks.get("needs") == "pyspark,java" for b in spark)


def _missing(needs: str) -> list[str]:
    """The optional tools of a ``needs=`` mark that are neither an importable module nor a command."""
    return [n for n in needs.split(",") if n and importlib.util.find_spec(n) is None and shutil.which(n) is None]


def _run_blocks(blocks: list[Block], tmp: Path) -> None:
    env = _base_env(tmp)
    fakes = Fakes(tmp)
    session = Session(tmp, env)
    took = []
    try:
        for block in blocks:
            t0 = time.perf_counter()
            if block.marks.get("elsewhere"):
                took.append(f"{block}: run by {block.marks['elsewhere']}")
                continue
            missing = _missing(block.marks.get("needs", ""))
            if missing:
                took.append(f"{block}: skipped, needs {', '.join(missing)}")
                continue
            extra = fakes.env(block.marks, block.code)
            if block.lang == "python":
                session.set_env(extra)
                session.run(block.code, str(block))
                session.set_env(extra, unset=True)
            else:
                _run_bash(block, tmp, {**env, **extra})
            took.append(f"{block}: {time.perf_counter() - t0:.1f} s")
    finally:
        session.close()
        fakes.stop()
        print("\n".join(took))


@pytest.mark.slow
def test_every_readme_block_runs_top_to_bottom_in_a_fresh_folder(tmp_path):
    work = tmp_path / "newcomer"
    work.mkdir()
    _run_blocks(readme_blocks(), work)


def test_quickstart_runs_offline_in_a_fresh_folder(tmp_path):
    """The Quickstart alone, as written, in an empty folder with no key and no network: it makes the
    simulated traces and judge, says so, and every judge result is marked simulated."""
    blocks = readme_blocks()
    quick = [b for b in blocks if b.lang == "python"][0]
    heading = [ln for ln in README.read_text().splitlines()[:quick.line] if ln.startswith("## ")][-1]
    assert heading == "## Quickstart", f"the first python block is under {heading!r}, not the Quickstart"
    assert not quick.marks, "the Quickstart needs no fake: it runs offline as written"
    work = tmp_path / "fresh"
    work.mkdir()
    env = _base_env(work)
    session = Session(work, env)
    try:
        session.run(quick.code, str(quick))
        out = "".join(session.run(
            "import llmops_nb as lo\n"
            "print('simulated', bool(results.loc[results.judge_model.notna(), 'simulated'].all()),"
            " int(results.judge_model.notna().sum()), int(results.error.notna().sum()))\n"
            "print('store', lo.Store().path)", "the check"))
    finally:
        session.close()
    assert (work / ".llmops").is_dir(), "the Quickstart's store is the fresh folder's ./.llmops"
    m = re.search(r"simulated (\w+) (\d+) (\d+)", out)
    assert m and m.group(1) == "True" and int(m.group(2)) > 0 and m.group(3) == "0", out
    assert shutil.which("llmops-nb", path=str(BIN))
