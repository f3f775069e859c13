# retention_lab front door. `make report` and `make test` each set up what they need on a fresh
# machine (Python 3.11 + pip): a .venv, the package with its dev extra, and the Jupyter kernel
# `retention-lab` that the notebooks name. Spark (the spark extra) is installed only by the
# targets that use it (test-spark, benchmarks).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNEL_SO := retention_lab/engines/_summary_kernel.so
KERNEL := retention-lab
REPORT ?= notebooks/04_loyalty_impact.ipynb
JOBS ?= 2

.PHONY: setup setup-spark report report-all lint test test-unit test-notebooks test-slow test-spark test-browser benchmarks lab clean

setup: $(STAMP) $(KERNEL_SO)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python (retention-lab)" >/dev/null
	$(PY) -c "import retention_lab.engines as e; print('summary kernel:', e.warm())"
	$(PY) -m pip freeze --exclude-editable > $(VENV)/pip-freeze.txt
	touch $(STAMP)

## The summary kernel in C (retention_lab/engines/native.py), rebuilt when its source changes;
## without a working compiler it prints a note and the numba kernel counts (nothing fails).
$(KERNEL_SO): retention_lab/engines/summary_kernel.c | $(STAMP)
	$(PY) -c "from retention_lab.engines import native; print('C summary kernel:', native.build())"

## The default report (the loyalty-programme impact report on simulated data).
report: setup
	$(VENV)/bin/retention-lab run $(REPORT) --output-dir reports

## Every notebook with its default parameters, through the scheduler.
report-all: setup
	$(VENV)/bin/retention-lab run --schedule reports/schedule.example.yaml --jobs $(JOBS)

## Lint (seconds): ruff (pyflakes, pycodestyle, bugbear, import order) and import-linter's
## contracts, the layers of ARCHITECTURE.md, both configured in pyproject.toml.
lint: setup
	$(VENV)/bin/ruff check retention_lab tests benchmarks
	$(VENV)/bin/lint-imports --no-cache

## Every default test: lint, unit + statistical tests, then every notebook under nbval.
test: lint test-unit test-notebooks

test-unit: setup
	$(PY) -m pytest -q -n $(JOBS) -m "not slow and not spark and not browser" tests

## nbval re-runs each committed snapshot tests/notebooks/<nb>.ipynb (= notebooks/<nb>.ipynb run
## with the small parameters of tests/notebooks/params.yaml); `# NBVAL_CHECK_OUTPUT` cells must
## reproduce their stored output after tests/notebooks/sanitize.cfg; every cell must run.
test-notebooks: setup
	$(PY) -m pytest -q -p no:cacheprovider -n $(JOBS) --dist loadfile --nbval-lax --nbval-sanitize-with tests/notebooks/sanitize.cfg tests/notebooks

## Regenerate the nbval snapshots after changing a notebook or tests/notebooks/params.yaml
## (one notebook: make notebook-snapshots NB=notebooks/03_clv.ipynb); commit tests/notebooks/.
.PHONY: notebook-snapshots
notebook-snapshots: setup
	$(PY) -m retention_lab.runner.snapshots $(NB)

## Long coverage studies (hundreds of seeds).
test-slow: setup
	$(PY) -m pytest -q -n $(JOBS) -m slow tests

## pyspark (~500 MB) only for what asks for Spark: test-spark and the benchmarks.
SPARK_STAMP := $(VENV)/.installed-spark
setup-spark: $(SPARK_STAMP)

$(SPARK_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[dev,spark]"
	$(PY) -m pip freeze --exclude-editable > $(VENV)/pip-freeze.txt
	touch $(SPARK_STAMP)

## The same aggregation tests on a local Spark session (needs Java 17).
test-spark: setup-spark
	$(PY) -m pytest -q -m spark tests

## Renders a report's HTML in headless Chromium (installs Debian's chromium if missing).
test-browser: setup
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	$(PY) -m pytest -q -p no:cacheprovider -m browser tests/report/test_browser.py

benchmarks: setup-spark
	for f in benchmarks/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

## JupyterLab refuses to start as root without --allow-root (containers often run as root).
lab: setup
	$(VENV)/bin/jupyter lab $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) notebooks/

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info $(KERNEL_SO)
