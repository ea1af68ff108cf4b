# `make serve` and `make test` do all set-up on a fresh machine (Python 3.11+ and nothing else).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where pip finds CPU-only torch when the default index does not carry the +cpu build.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_VERSION := 2.13.0+cpu

.PHONY: install serve test test-unit types lint deploy-check browser eval bench clean

# The runtime alone (what `make serve` needs), then the dev extra on top (eval, bench,
# langchain, test and lint tools) for everything else.
$(BIN)/.runtime: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "torch==$(TORCH_VERSION)" 2>/dev/null \
	  || $(BIN)/pip install -q --index-url $(TORCH_INDEX) "torch==$(TORCH_VERSION)"
	$(BIN)/pip install -q -c requirements.lock -e .
	$(BIN)/python -m rag_service.retrieval.onnx_export
	touch $@

$(BIN)/.installed: $(BIN)/.runtime
	$(BIN)/pip install -q -c requirements.lock -e ".[dev]"
	touch $@

install: $(BIN)/.installed

serve: $(BIN)/.runtime
	$(BIN)/rag-serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# No Docker engine here: lint the Dockerfile and validate the compose file against the
# compose-spec schema (plus `docker-compose config` when Debian's docker-compose is installed),
# and the users' eval workflow against GitHub's workflow schema.
deploy-check: install
	$(BIN)/hadolint docker/Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/eval.yml
	@if command -v docker-compose >/dev/null; then \
	  docker-compose --env-file .env.example config -q && echo "docker-compose config: ok"; \
	else echo "docker-compose not installed: schema check only"; fi

# The page's end-to-end tests drive Debian's chromium (Playwright's own browser download is not
# reachable): installed once when missing and root, bounded in time; without it they skip.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then echo "browser: $(CHROMIUM)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  timeout 600 sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium' >/dev/null 2>&1 \
	    && echo "browser: installed chromium" \
	    || echo "browser: chromium could not be installed; the page's browser tests will skip"; \
	else echo "browser: no $(CHROMIUM) (apt-get install chromium as root); browser tests skip"; fi

# Unit tests: no database, no server, seconds. Integration tests: each on its own copy of a
# template database, in parallel (pytest-xdist); coverage of both, with a floor. Tests marked
# no_cover (time bounds that coverage's tracer breaks) run apart, untraced.
TEST_WORKERS ?= 2
COVERAGE := --cov=rag_service --cov=ingestion --cov=evals
COVERAGE_FLOOR := 86

test-unit: install
	$(BIN)/pytest -m unit -q

types: install
	$(BIN)/mypy

test: install lint types deploy-check browser
	$(BIN)/pytest -m unit -q $(COVERAGE) --cov-report=
	$(BIN)/pytest -m "integration and not no_cover" -n $(TEST_WORKERS) $(COVERAGE) --cov-append \
	  --cov-report=term:skip-covered --cov-fail-under=$(COVERAGE_FLOOR)
	$(BIN)/pytest -m "integration and no_cover" -n $(TEST_WORKERS)

eval: install
	$(BIN)/rag-eval run --gate --quiet

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/ask.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .coverage
