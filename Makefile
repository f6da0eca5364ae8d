# workbench — every target builds the venv from the project's own files on first use.
PY ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONHASHSEED := 0

.PHONY: demo test lint unit notebooks bench bench-env lab clean-venv lock chromium

# setup.py/_core.pyx: the compiled risk core is built by the editable install (Cython, gcc)
$(STAMP): pyproject.toml constraints.txt setup.py workbench/risk/_core.pyx
	@command -v $(PY) >/dev/null 2>&1 || { echo "need $(PY) (pyenv: .python-version selects 3.12)"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/wb demo

test: lint unit notebooks

lint: $(STAMP)
	$(BIN)/ruff check workbench strategies tests benchmarks

# The browser tests drive Debian's Chromium through Playwright (never a downloaded browser build).
chromium:
	@[ -x /usr/bin/chromium ] || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium || \
	  { $$SUDO apt-get update && \
	    $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }; }

unit: $(STAMP) chromium
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

notebooks: $(STAMP)
	WORKBENCH_STORE=:memory: $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax notebooks

bench: $(STAMP) bench-env
	$(BIN)/python -m benchmarks all

# Anchors for the vol benchmark (py_vollib_vectorized needs numpy<2.3): a separate venv.
bench-env:
	bash benchmarks/anchors_env.sh

lab: $(STAMP)
	$(BIN)/jupyter lab --ip=127.0.0.1 --notebook-dir=notebooks --no-browser $$([ "$$(id -u)" = 0 ] && echo --allow-root)

lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean-venv:
	rm -rf $(VENV)
