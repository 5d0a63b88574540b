# The course's commands. `make course` sets up and runs every notebook; `make test` sets up
# and runs the tests (what CI runs); `make site` builds the website from either's executed
# notebooks. All create .venv on first use.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.fcnlib-installed
SITE_STAMP := $(VENV)/.fcnlib-site-installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

# An inherited MPLBACKEND=Agg would silently drop every figure from executed notebooks.
unexport MPLBACKEND

.PHONY: setup course records readme site test solutions lab lint format strip browser-deps clean fork

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[course,test]"
	touch $@

$(SITE_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e ".[site]"
	touch $@

## Execute every notebook in order; executed copies (with figures) go to build/, each
## notebook's headline numbers to notebooks/results/. Every notebook runs even when an earlier
## one fails; the failures are listed at the end.
course: setup
	@mkdir -p build
	@$(PY) docs/build_site.py --record-run build/run-info.json
	@failed=""; for nb in $(NOTEBOOKS); do \
		echo "== $$nb"; start=$$(date +%s); \
		if $(VENV)/bin/jupyter nbconvert --to notebook --execute "$$nb" --output-dir build \
			--ExecutePreprocessor.timeout=900 --ExecutePreprocessor.kernel_name=python3; then \
			echo "   $$(( $$(date +%s) - start )) s"; \
		else failed="$$failed $$nb"; echo "   FAILED after $$(( $$(date +%s) - start )) s"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi; \
	echo "all notebooks ran; numbers in notebooks/results/"

## The course's committed records at one seed: `make records SEED=N` runs every notebook in
## order with papermill (`-p SEED N`), each in build/seedN/ (its results/ and checkpoints/
## apart from other runs), then copies the headline numbers and the wall times into
## records/seedN/. `make readme` renders the README's tables from records/.
records: setup
	@test -n "$(SEED)" || { echo "usage: make records SEED=N"; exit 2; }
	@rm -rf build/seed$(SEED) && mkdir -p build/seed$(SEED)
	@failed=""; for nb in $(NOTEBOOKS); do \
		name=$$(basename "$$nb" .ipynb); echo "== $$nb, seed $(SEED)"; start=$$(date +%s); \
		if $(VENV)/bin/papermill "$$nb" "build/seed$(SEED)/$$name.ipynb" -p SEED $(SEED) \
			--cwd build/seed$(SEED) --kernel python3 --no-progress-bar --execution-timeout 900; then \
			seconds=$$(( $$(date +%s) - start )); echo "   $$seconds s"; \
			echo "$$name $$seconds" >> build/seed$(SEED)/seconds.txt; \
		else failed="$$failed $$nb"; echo "   FAILED after $$(( $$(date +%s) - start )) s"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "failed:$$failed; records/seed$(SEED) unchanged"; exit 1; fi
	$(PY) -m fcnlib.summary record build/seed$(SEED) records/seed$(SEED)

readme: setup
	$(PY) -m fcnlib.summary readme

## The course website in build/site/ (index.html), from the executed notebooks in build/.
site: $(SITE_STAMP)
	$(PY) docs/build_site.py

## Unit tests plus every notebook through nbval (what CI runs), then every exercise's solution
## (`make solutions`). The nbval run also writes the executed notebooks to build/; the website
## is built from them and checked in Chromium.
test: setup browser-deps $(SITE_STAMP)
	@mkdir -p build
	@$(PY) docs/build_site.py --record-run build/run-info.json
	$(PY) -m pytest tests $(NOTEBOOKS) --ignore=tests/test_site.py --executed-copies=build \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=900 -p no:cacheprovider
	$(PY) -m fcnlib.exercises solutions
	@if $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then \
		$(PY) docs/build_site.py && $(PY) -m pytest tests/test_site.py -p no:cacheprovider; \
	else echo "the website needs Python 3.11 or later (Sphinx 9): not built"; fi

## Every exercise's worked solution (exercises/NN_*.ipynb) run against its check, in
## notebooks/ so that the checkpoints of an earlier course run are reused (without them each
## master trains what it needs); executed copies in build/solutions/, times in
## exercises/times.json. Fails naming the exercise whose check rejects its solution.
solutions: setup
	$(PY) -m fcnlib.exercises solutions

## Debian's Chromium for the real-browser widget test (installed when missing and we are root).
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
			echo "installing Debian's chromium for the browser test"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
				|| echo "could not install chromium: the browser test will be skipped"; \
		else \
			echo "chromium not found and not root: the browser test will be skipped"; \
		fi; \
	fi

lab: setup
	$(VENV)/bin/jupyter lab notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

lint: setup
	$(VENV)/bin/ruff check fcnlib tests notebooks exercises benchmarks docs
	$(VENV)/bin/ruff format --check fcnlib tests notebooks exercises benchmarks docs

format: setup
	$(VENV)/bin/ruff format fcnlib tests notebooks exercises benchmarks docs
	$(VENV)/bin/ruff check --fix fcnlib tests notebooks exercises benchmarks docs

strip: setup
	$(VENV)/bin/jupyter nbconvert --clear-output --inplace $(NOTEBOOKS)

## A fork: `make fork REPO=OWNER/NAME` rewrites the repository address in pyproject.toml,
## the README, CONTRIBUTING.md and every notebook's badge and install cell.
fork:
	@test -n "$(REPO)" || { echo "usage: make fork REPO=OWNER/NAME"; exit 2; }
	$(PYTHON) .ci/repository.py $(REPO)

clean:
	rm -rf build notebooks/checkpoints notebooks/results .pytest_cache
