# Two commands do all the set-up: `make demo` and `make test`. Each creates .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export HF_EVALUATE_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export MLFLOW_DISABLE_TELEMETRY := true
export PHOENIX_TELEMETRY_ENABLED := false
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install compile demo test doctest lint typecheck lab bench clean conformance

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

compile: $(STAMP)  # optional: the OTLP fast mapping compiled with mypyc (about 1.5x faster loads; needs a C compiler)
	LLMOPS_NB_COMPILE=1 $(BIN)/python -m pip install -q --no-deps -e .

demo: $(STAMP)
	$(BIN)/llmops-nb demo run

test: doctest
	LLMOPS_NB_HOME=$(CURDIR)/.cache/nbval-store $(BIN)/python -m pytest -q --nbval-lax --nbval-cell-timeout=900 tests notebooks $(PYTEST_ARGS)

# the examples in the package's docstrings, run offline (about a minute)
doctest: $(STAMP)
	LLMOPS_NB_HOME=$(CURDIR)/.cache/doctest-store $(BIN)/python -m pytest -q --doctest-modules llmops_nb

# Real producers write traces, read_traces reads them (tests/conformance/run.py --help); builds the
# producer venvs under .cache/producers/ on first use. CONFORMANCE_ARGS=--ci runs the CI subset.
conformance: $(STAMP)
	$(BIN)/python tests/conformance/run.py $(CONFORMANCE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check llmops_nb tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .llmops .cache build *.egg-info
