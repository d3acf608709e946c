"""Build hook: everything is declared in pyproject.toml.

- The native OTLP decoders (``llmops_nb/loaders/_otlp_pb.c`` protobuf, ``_otlp_json.c`` JSON; plain C
  on the CPython API) are built by every install that finds a C compiler (``make install``:
  ``pip install -e '.[dev]'``); they are optional: without a compiler, or when one fails to build,
  the package maps protobuf with upb and JSON with orjson in Python
  (``llmops_nb.loaders.otlp.native_available("protobuf" | "json")`` says which).
- With ``LLMOPS_NB_COMPILE=1`` the OTLP fast mapping (``llmops_nb/loaders/_otlp_fast.py``) is also
  compiled with mypyc, about 1.5x faster (``LLMOPS_NB_COMPILE=1 pip install -e '.[dev]'``; mypy comes
  as a build requirement, a C compiler must be there); without it, or when the compilation fails,
  the same module runs as plain Python."""

import os

from setuptools import Extension, setup

_HEADERS = ["llmops_nb/loaders/_native_text.h"]  # included by both (depends: rebuilt when it changes, in the sdist)
ext_modules = [Extension("llmops_nb.loaders._otlp_pb", ["llmops_nb/loaders/_otlp_pb.c"], optional=True,
                         extra_compile_args=["-O2"], depends=_HEADERS),
               Extension("llmops_nb.loaders._otlp_json", ["llmops_nb/loaders/_otlp_json.c"], optional=True,
                         extra_compile_args=["-O2"], depends=_HEADERS)]  # OTLP/JSON bytes -> map_json (orjson's path without it)
setup_requires = []
if os.environ.get("LLMOPS_NB_COMPILE") == "1":
    try:
        from mypyc.build import mypycify
    except ImportError:  # first pass of the isolated build: ask for mypy, the build proper comes back with it
        setup_requires = ["mypy>=1.10"]
    else:
        compiled = mypycify(["--ignore-missing-imports", "--follow-imports=skip", "llmops_nb/loaders/_otlp_fast.py"],
                            opt_level="3")
        for ext in compiled:
            ext.optional = True  # a failed build leaves the pure-Python module, never a failed install
        ext_modules += compiled

setup(ext_modules=ext_modules, setup_requires=setup_requires)
