"""The package's layout rules, checked by walking its imports (see CONTRIBUTING.md):

- no module imports a private module or private name (``_x``) of another area; the root's own
  private helpers (``llmops_nb._optional``, ``_compat``, ``_secrets``) are shared by every area;
- data flows one way: no area imports an area on its right (by ``import`` or ``import_module``);
- every public callable (each area's ``__all__``) has a docstring with an example.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import llmops_nb

PKG = Path(llmops_nb.__file__).resolve().parent

# the flow, left to right, one rank per stage: an area may import areas of its own stage or to its left
RANK: dict[str, int] = {
    # the base: the table vocabulary, statistics, rules, the LLM runner, shared helpers
    "schema": 0, "stats": 0, "rules": 0, "pii": 0, "hashing": 0, "llm": 0, "_optional": 0, "_compat": 0, "_secrets": 0,
    "testing": 0, "widgets": 0, "engines": 0,  # engines: where the heavy verbs run (this process, Ray)
    "traces": 1, "sessions": 1,  # tables derived from spans
    "store": 2,
    "results": 3,  # every view of the results table
    "loaders": 4,  # spans in from files (and the mappers of platforms' scores: loaders.scores)
    "tracing": 5, "capture": 5,  # spans in from live code and OTLP traffic (capture: the deprecated alias)
    "connectors": 6,  # spans and scores in from platforms' APIs (mapped by loaders), scores pushed back
    "evals": 7,
    "monitor": 8,
    "analysis": 9,
    "annotation": 10, "annotate": 10,
    "datasets": 11,
    "prompts": 12,
    "experiments": 13, "views": 13,  # views link analysis, annotation, datasets and experiments
    "report": 14,
    "demo": 15,
    "cli": 16,
}
SHARED_PRIVATE = {"_optional", "_compat", "_secrets"}
_MODULE_TEXT = re.compile(r"llmops_nb(\.\w+)+")


def _area(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every llmops_nb import in a file, string imports included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module.startswith("llmops_nb"):
            out.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name, []) for a in node.names if a.name.startswith("llmops_nb")]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_TEXT.fullmatch(node.value):
            first = node.value.split(".")[1]
            if first in RANK or (PKG / first).is_dir():  # a module path, not a key like "llmops_nb.author"
                out.append((node.lineno, node.value, []))
    return out


def _files() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "metrics" not in p.relative_to(PKG).parts[:1])


def test_loaders_tracing_and_connectors_are_stages_of_their_own():
    # loaders map every payload (platforms' scores too: loaders.scores); tracing and connectors
    # build on them, so the flow test checks the imports between the three
    assert RANK["loaders"] < RANK["tracing"] < RANK["connectors"] < RANK["evals"]


def test_every_area_has_a_rank():
    areas = {_area(p) for p in _files()} - {"__init__"}
    assert areas <= set(RANK), f"give these areas a place in the flow: {sorted(areas - set(RANK))}"


def test_no_private_name_is_imported_across_areas():
    bad = []
    for path in _files():
        area = _area(path)
        if area in ("__init__", "cli"):  # the lazy root and the command table of each area's _cli
            continue
        for line, module, names in _imports(path):
            parts = module.split(".")[1:]
            if not parts or parts[0] == area:
                continue
            if parts[0] in SHARED_PRIVATE and len(parts) == 1:
                continue
            private = [p for p in parts if p.startswith("_")] + [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} imports {module} {names or ''}")
    assert not bad, "private names imported across areas (export them publicly instead):\n" + "\n".join(bad)


def test_no_import_runs_against_the_flow():
    bad = []
    for path in _files():
        area = _area(path)
        if area == "__init__":
            continue
        for line, module, _ in _imports(path):
            parts = module.split(".")[1:]
            if not parts or parts[0] == area or parts[0] not in RANK:
                continue
            if RANK[parts[0]] > RANK[area]:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} ({area}) imports {module} (to its right)")
    assert not bad, "imports against the flow:\n" + "\n".join(bad)


def _public_callables() -> list[tuple[str, object]]:
    mods = ["llmops_nb"] + [f"llmops_nb.{m.name}" for m in pkgutil.iter_modules(llmops_nb.__path__)
                            if not m.name.startswith("_") and m.name not in ("annotate", "capture", "widgets", "metrics")]
    seen: set[int] = set()
    out = []
    for name in mods:
        mod = importlib.import_module(name)
        for attr in getattr(mod, "__all__", []):
            obj = getattr(mod, attr)
            if callable(obj) and id(obj) not in seen:
                seen.add(id(obj))
                out.append((f"{name}.{attr}", obj))
    return out


def test_every_public_callable_has_a_docstring_with_an_example():
    missing = [name for name, obj in _public_callables() if ">>>" not in (inspect.getdoc(obj) or "")]
    assert not missing, f"{len(missing)} public callables lack a docstring example:\n" + "\n".join(missing)


@pytest.mark.parametrize("name", ["annotate", "capture"])
def test_verbs_are_functions(name):
    assert inspect.isfunction(getattr(llmops_nb, name))
