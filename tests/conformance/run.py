"""The conformance matrix: real producers write traces, ``read_traces`` reads them, span by span.

    python tests/conformance/run.py                 # every producer (builds missing venvs)
    python tests/conformance/run.py --only openinference_openai,openai_agents
    python tests/conformance/run.py --no-install    # only producers whose venv exists
    python tests/conformance/run.py --save          # also refresh tests/loaders/data/producers/

Each producer has its own venv under ``.cache/producers/<venv>`` (their pins clash with ours
and with each other). A producer script (``producers/<name>.py``) runs the agent against a local
fake OpenAI-compatible server and writes its truth and its exported payloads; this side reads
each payload (and what ``llmops-nb collect`` received, for OTLP producers) and compares.
Prints: producer, version, spans produced, spans read, fields that differ. Exit status 1 when a
producer that ran has a difference or failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
DATA = ROOT / "tests" / "loaders" / "data" / "producers"
VENVS = Path(os.environ.get("LLMOPS_NB_PRODUCER_VENVS") or ROOT / ".cache" / "producers")

from _compare import Comparison, compare  # noqa: E402
from _scenario import Scenario  # noqa: E402

_OTEL = ["opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http"]


@dataclass(frozen=True)
class Producer:
    name: str
    venv: str
    packages: tuple[str, ...]
    otlp: bool = False           # sends OTLP to a collector too
    ingest: bool = False          # posts to a local ingest endpoint (recorded as payload files)
    env: dict[str, str] = field(default_factory=dict)
    script: str = ""
    ci: bool = False              # installed and run by .ci/run

    @property
    def script_path(self) -> Path:
        return HERE / "producers" / f"{self.script or self.name}.py"


PRODUCERS: list[Producer] = [
    Producer("openinference_openai", "otel", ("openai", *_OTEL, "openinference-instrumentation-openai"), otlp=True, ci=True),
    Producer("openinference_litellm", "otel", ("litellm", *_OTEL, "openinference-instrumentation-litellm"), otlp=True),
    Producer("openinference_langchain", "otel", ("langchain-openai", "numpy", *_OTEL, "openinference-instrumentation-langchain"),
             otlp=True),
    Producer("otel_genai_events", "otel", ("openai", *_OTEL, "opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai==0.4b0",
                                       "httpx"), otlp=True,
             env={"GENAI_CONVENTION": "events"}, script="otel_genai", ci=True),
    Producer("otel_genai_json", "otel", ("openai", *_OTEL, "opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai==0.4b0",
                                       "httpx"), otlp=True,
             env={"GENAI_CONVENTION": "json"}, script="otel_genai", ci=True),
    Producer("openai_agents", "agents", ("openai-agents",), ingest=True, ci=True),
    # traceloop-sdk depends on ~40 unpinned instrumentations (pip backtracks for many minutes here):
    # its OpenAI instrumentation and the SDK's own needs are installed, the SDK itself without deps.
    Producer("traceloop", "traceloop", ("openai", *_OTEL, "opentelemetry-exporter-otlp-proto-grpc",
                                        "opentelemetry-instrumentation-openai==0.62.4", "opentelemetry-semantic-conventions-ai<0.6",
                                        "opentelemetry-instrumentation-threading", "opentelemetry-instrumentation-logging",
                                        "colorama", "cuid", "deprecated", "jinja2", "tenacity", "pydantic", "aiohttp", "httpx",
                                        ";", "--no-deps", "traceloop-sdk==0.62.4"), otlp=True, script="openllmetry"),
    Producer("pydantic_ai", "pydantic-ai", ("pydantic-ai-slim[openai]", *_OTEL), otlp=True, script="pydanticai_agent"),
    Producer("langsmith", "langsmith", ("langsmith", "openai"), ingest=True, script="langsmith_sdk"),
    Producer("mlflow", "mlflow", ("mlflow", "openai", "orjson"), script="mlflow_tracing"),
    Producer("inspect_ai", "inspect", ("inspect-ai", "openai"), script="inspect_mockllm"),
    Producer("langfuse", "langfuse", ("langfuse>=3,<4", "openai"), otlp=True, script="langfuse_v3"),
    Producer("google_adk", "adk", ("google-adk", "litellm", "opentelemetry-sdk==1.44.0", "opentelemetry-exporter-otlp-proto-http==1.44.0"),
             otlp=True, script="google_adk"),
]
BY_NAME = {p.name: p for p in PRODUCERS}


def venv_python(p: Producer) -> Path:
    return VENVS / p.venv / "bin" / "python"


def ensure_venv(p: Producer, install: bool) -> str | None:
    """Create the producer's venv / install its packages; returns an error text or None."""
    py = venv_python(p)
    stamp = VENVS / p.venv / f".installed-{p.name}"
    if stamp.exists():
        return None
    if not install:
        return "venv not built (run without --no-install)"
    VENVS.mkdir(parents=True, exist_ok=True)
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENVS / p.venv)], check=True)
    groups: list[list[str]] = [[]]
    for a in p.packages:  # ";" separates pip invocations
        if a == ";":
            groups.append([])
        else:
            groups[-1].append(a)
    for group in groups:
        r = subprocess.run(["nice", str(py), "-m", "pip", "install", "-q", *group], capture_output=True, text=True)
        if r.returncode != 0:
            tail = "\n".join(line for line in (r.stderr or r.stdout).splitlines() if "is ignored" not in line)[-1500:]
            return f"pip install failed: {tail}"
    stamp.write_text(" ".join(p.packages))
    return None


class _Ingest:
    """A local endpoint that records every POST/PATCH body (OpenAI traces ingest, LangSmith runs)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.n = 0

    def __enter__(self) -> _Ingest:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        ingest = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _record(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                ingest.n += 1
                ctype = self.headers.get("content-type", "")
                ext = ".json" if "json" in ctype else ".bin"
                name = f"{ingest.n:03d}-{self.command.lower()}{self.path.replace('/', '_')}"
                (ingest.folder / (name + ext)).write_bytes(body)
                if "multipart" in ctype:
                    (ingest.folder / (name + ".ctype")).write_text(ctype)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            do_POST = do_PATCH = do_PUT = _record

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                # LangSmith's client asks /info how to send runs: JSON {post, patch} batches
                body = {"version": "0.10.0", "batch_ingest_config": {
                    "use_multipart_endpoint": False, "size_limit": 100, "size_limit_bytes": 20_971_520,
                    "scale_up_nthreads_limit": 1, "scale_up_qsize_trigger": 1000, "scale_down_nempty_trigger": 4}} \
                    if self.path.endswith("/info") else {}
                self.wfile.write(json.dumps(body).encode())

        self.folder.mkdir(parents=True, exist_ok=True)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()


def produce(p: Producer, out: Path) -> str | None:
    """Run the producer script; returns an error text or None."""
    import llmops_nb as lo
    from llmops_nb.testing import FakeLLMServer

    out.mkdir(parents=True, exist_ok=True)
    scenario = Scenario()
    env = {**os.environ, **p.env, "OUT_DIR": str(out), "PYTHONPATH": str(HERE / "producers"),
           "OTEL_SDK_DISABLED": "false", "PYTHONDONTWRITEBYTECODE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "LANGCHAIN_TRACING_V2": "false", "LLMOPS_NB_SRC": str(ROOT)}
    for k in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(k, None)
    store_dir = out / "_store"
    with FakeLLMServer(responder=scenario) as srv:
        env["FAKE_LLM_URL"] = srv.url
        env["OPENAI_BASE_URL"] = srv.url
        env["OPENAI_API_KEY"] = "sk-conformance"
        collector = lo.tracing.Collector(lo.Store(store_dir), port=0) if p.otlp else None
        ingest = _Ingest(out / "payload" / "ingest") if p.ingest else None
        try:
            if collector is not None:
                collector.start()
                env["OTLP_ENDPOINT"] = collector.endpoint
            if ingest is not None:
                ingest.__enter__()
                env["INGEST_URL"] = ingest.url
            r = subprocess.run([str(venv_python(p)), str(p.script_path)], env=env, capture_output=True, text=True, timeout=600)
        finally:
            if collector is not None:
                collector.stop()
            if ingest is not None:
                ingest.__exit__()
    (out / "producer.log").write_text(r.stdout + "\n--- stderr ---\n" + r.stderr)
    if r.returncode != 0:
        return f"the producer failed (exit {r.returncode}): {r.stderr.strip()[-1200:]}"
    if scenario.exchanges or not (out / "exchanges.json").exists():  # Inspect's mock model writes its own
        (out / "exchanges.json").write_text(json.dumps(scenario.exchanges, indent=1, sort_keys=True))
    return None


def readings(folder: Path) -> list[tuple[str, list[Path]]]:
    """The readings of a producer's payload folder: one per payload file (or ingest folder), OTLP
    log files (``logs.*``) read together with each spans file, as a user reads them side by side."""
    base = folder / "payload"
    if not base.exists():
        return []
    entries = [f for f in sorted(base.iterdir()) if not f.name.startswith(".")]
    logs = [f for f in entries if f.is_file() and f.name.startswith("logs.")]
    return [(f.name, [f, *logs]) for f in entries if f not in logs]


def read_and_compare(folder: Path, *, with_store: bool = False) -> list[Comparison]:
    import llmops_nb as lo

    truth = json.loads((folder / "truth.json").read_text())
    exchanges = json.loads((folder / "exchanges.json").read_text())
    results = []
    for name, files in readings(folder):
        try:
            frame = lo.read_traces([str(f) for f in files])
        except Exception as e:  # a reading that fails is a row of the matrix, not a crash of it
            main = truth.get("main") or "?"
            c = Comparison(truth["producer"], name, f"{main} {(truth.get('versions') or {}).get(main, '?')}", len(truth["spans"]), 0)
            c.diffs.append(("read", name, "a frame", f"{type(e).__name__}: {e}"[:300]))
            results.append(c)
            continue
        results.append(compare(truth, exchanges, frame, name))
    if (folder / "read.trace-object.arrow").exists():  # read in the producer's own process (MLflow Trace objects)
        import pyarrow.feather as feather

        from llmops_nb.schema import SPANS, from_arrow

        frame = from_arrow(feather.read_table(str(folder / "read.trace-object.arrow")), SPANS)
        results.append(compare(truth, exchanges, frame, "Trace objects"))
    if with_store and (folder / "_store").exists():
        if any(f.name.startswith("logs.") for f in (folder / "payload").iterdir()):
            c = Comparison(truth["producer"], "llmops-nb collect", results[0].version if results else "?", len(truth["spans"]), 0)
            c.omitted.add("n/a: collect receives OTLP traces, not the OTLP logs that hold this convention's messages")
            results.append(c)
        else:
            frame = lo.Store(folder / "_store").spans()
            results.append(compare(truth, exchanges, frame, "llmops-nb collect"))
    return results


def print_matrix(rows: list[dict[str, Any]]) -> None:
    cols = ["producer", "version", "payload", "spans produced", "spans read", "fields that differ", "not recorded by producer"]
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols} if rows else {c: len(c) for c in cols}
    print(" | ".join(c.ljust(widths[c]) for c in cols))
    print("-+-".join("-" * widths[c] for c in cols))
    for r in rows:
        print(" | ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", help="comma-separated producer names")
    ap.add_argument("--ci", action="store_true", help="only the producers .ci/run runs")
    ap.add_argument("--no-install", action="store_true", help="skip producers whose venv is not built")
    ap.add_argument("--save", action="store_true", help="copy the produced traces into tests/loaders/data/producers/")
    ap.add_argument("--out", help="keep the outputs in this folder")
    ap.add_argument("--verbose", "-v", action="store_true", help="print every difference")
    a = ap.parse_args(argv)
    chosen = [BY_NAME[n] for n in a.only.split(",")] if a.only else [p for p in PRODUCERS if p.ci or not a.ci]
    base = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix="conformance-"))
    rows: list[dict[str, Any]] = []
    failed = False
    for p in chosen:
        t0 = time.time()
        err = ensure_venv(p, install=not a.no_install)
        if err is None:
            out = base / p.name
            shutil.rmtree(out, ignore_errors=True)
            err = produce(p, out)
        if err is not None:
            skipped = a.no_install and err.startswith("venv not built")
            failed |= not skipped
            rows.append({"producer": p.name, "version": "-", "payload": "-", "spans produced": "-", "spans read": "-",
                         "fields that differ": ("skipped: " if skipped else "FAILED: ") + err.splitlines()[0][:150]})
            if not skipped:
                print(f"\n{p.name}: {err}", file=sys.stderr)
            continue
        for c in read_and_compare(out, with_store=True):
            rows.append(c.row())
            failed |= bool(c.diffs)
            if a.verbose or c.diffs:
                for d in c.diffs[:40]:
                    print(f"  {p.name} [{c.payload}] {d[0]} @ {d[1]}: expected {d[2]!r}, read {d[3]!r}", file=sys.stderr)
        if a.save:
            dest = DATA / p.name
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(out, dest, ignore=shutil.ignore_patterns("_store", "producer.log", "*.db", "mlruns", "read.*"))
        print(f"# {p.name}: {time.time() - t0:.1f}s", file=sys.stderr)
    print_matrix(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
