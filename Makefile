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
	$(VENV)/bin/mypy graph nodes diffusion api imaging train folders.py paths commands compare server.py cli.py stats.py runconfig.py comfy_compat

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
.PHONY: demo-model stats browser-test screenshots
demo-model: venv
	$(PY) server.py demo-model

# What this checkout supports (node count, families, templates, model folders): the README quotes it.
stats: venv
	$(PY) server.py stats

# The browser tests alone (headless Debian chromium against a real server).
browser-test: venv web browser-deps
	$(VENV)/bin/pytest -m browser tests/browser

# docs/editor.png from a real first run: fresh base directory, shipped checkpoint (or the demo one), one Queue.
screenshots: venv web browser-deps
	$(PY) docs/screenshots.py

# Mutation testing of graph/ and the in-process API modules (pyproject.toml [tool.mutmut]); slow, not in `make test`.
# Prints the killed share; `.venv/bin/mutmut results` lists the survivors, `mutmut show NAME` shows one.
.PHONY: mutate
mutate: venv
	$(VENV)/bin/pip install --quiet 'mutmut==3.8.1'
	rm -rf mutants
	time nice -n 10 $(VENV)/bin/mutmut run --max-children $${MUTATE_JOBS:-2}
	$(VENV)/bin/mutmut export-cicd-stats
	$(PY) -c "import json; s = json.load(open('mutants/mutmut-cicd-stats.json')); \
	  tested = s['total'] - s['skipped']; killed = s['killed'] + s['timeout']; \
	  print(f\"mutation score: {killed}/{tested} killed = {100 * killed / tested:.1f}% \
	  (survived {s['survived']}, no tests {s['no_tests']}, suspicious {s['suspicious']})\")"
