# `make run` sets up and starts the product; `make test` sets up and runs every check (pytest last).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: run test venv web lint typecheck pytest webtest browser-deps bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

web: web/node_modules/.installed
	cd web && npm run build

run: venv web
	$(PY) server.py $(ARGS)

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy graph nodes diffusion api imaging train folders.py server.py cli.py

webtest: web
	cd web && npm test

# Debian's chromium for the browser tests (never `playwright install`).
browser-deps:
	command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y --no-install-recommends chromium)

pytest: venv web browser-deps
	$(VENV)/bin/pytest

test: lint typecheck webtest pytest

bench: venv
	@cat bench/README.md

clean:
	rm -rf $(VENV) web/node_modules web/dist

# A tiny random-weight checkpoint in models/checkpoints/ to try the pipeline offline (it draws noise).
.PHONY: demo-model
demo-model: venv
	$(PY) server.py demo-model
