# `make serve` and `make test` do all set-up on a fresh machine (Python 3.11+ and nothing else).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Where pip finds CPU-only torch when the default index does not carry the +cpu build.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_VERSION := 2.13.0+cpu

.PHONY: install serve test lint deploy-check eval bench clean

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "torch==$(TORCH_VERSION)" 2>/dev/null \
	  || $(BIN)/pip install -q --index-url $(TORCH_INDEX) "torch==$(TORCH_VERSION)"
	$(BIN)/pip install -q -c requirements.lock -e ".[dev]"
	touch $@

install: $(BIN)/.installed

serve: install
	$(BIN)/rag-serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# No Docker engine here: lint the Dockerfile and validate the compose file against the
# compose-spec schema (plus `docker-compose config` when Debian's docker-compose is installed).
deploy-check: install
	$(BIN)/hadolint docker/Dockerfile
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	@if command -v docker-compose >/dev/null; then \
	  docker-compose --env-file .env.example config -q && echo "docker-compose config: ok"; \
	else echo "docker-compose not installed: schema check only"; fi

test: install lint deploy-check
	$(BIN)/pytest

eval: install
	$(BIN)/rag-eval run --gate --quiet

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/ask.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
