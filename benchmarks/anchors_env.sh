#!/usr/bin/env bash
# Builds the throwaway environment holding the *anchor* libraries the vol benchmark measures beside our
# engine.  They pin old releases (py_vollib_vectorized only works with py_lets_be_rational==1.0.1 and
# py_vollib==1.0.1) that must not leak into the project's own venv, so they live in .venv-bench.
# Usage: benchmarks/anchors_env.sh [VENV_DIR]   (idempotent; prints the interpreter path)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv-bench}"
PY="${PY:-python3.12}"
STAMP="$VENV/.anchors-installed"
if [ ! -f "$STAMP" ]; then
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet \
        "numpy<2.3" "scipy" "pandas" "numba" \
        "py_lets_be_rational==1.0.1" "py_vollib==1.0.1" "py_vollib_vectorized" \
        "QuantLib" "mpmath"
    touch "$STAMP"
fi
echo "$VENV/bin/python"
