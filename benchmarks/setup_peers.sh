#!/usr/bin/env bash
# Create the peer venvs the connector tests and benchmark use (git-ignored, under .cache/):
#   .cache/phoenix-venv  arize-phoenix (about 850 MB)
#   .cache/mlflow-venv   mlflow (pins pyarrow<26, so it cannot share the main venv)
# Tests that need one skip with a pointer to this script when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
mkdir -p .cache
if [ ! -x .cache/phoenix-venv/bin/phoenix ]; then
  "$PY" -m venv .cache/phoenix-venv
  .cache/phoenix-venv/bin/pip install -q arize-phoenix
fi
if [ ! -x .cache/mlflow-venv/bin/mlflow ]; then
  "$PY" -m venv .cache/mlflow-venv
  .cache/mlflow-venv/bin/pip install -q mlflow
fi
echo "peer venvs ready: .cache/phoenix-venv .cache/mlflow-venv"
