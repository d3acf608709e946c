"""Build hook: everything is declared in pyproject.toml. With ``LLMOPS_NB_COMPILE=1`` the OTLP
fast mapping (``llmops_nb/loaders/_otlp_fast.py``) is also compiled with mypyc, about 1.5x faster
(``LLMOPS_NB_COMPILE=1 pip install -e '.[dev]'``; mypy comes as a build requirement, a C compiler
must be there); without it, or when the compilation fails, the same module runs as plain Python."""

import os

from setuptools import setup

ext_modules = []
setup_requires = []
if os.environ.get("LLMOPS_NB_COMPILE") == "1":
    try:
        from mypyc.build import mypycify
    except ImportError:  # first pass of the isolated build: ask for mypy, the build proper comes back with it
        setup_requires = ["mypy>=1.10"]
    else:
        ext_modules = mypycify(["--ignore-missing-imports", "--follow-imports=skip", "llmops_nb/loaders/_otlp_fast.py"],
                               opt_level="3")
        for ext in ext_modules:
            ext.optional = True  # a failed build leaves the pure-Python module, never a failed install

setup(ext_modules=ext_modules, setup_requires=setup_requires)
