# `make run` serves the platform on SQLite; `make test` runs the suite (SQLite, and
# PostgreSQL too when ADMITONE_TEST_DATABASE_URL is set). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_WORKERS ?= 4

.PHONY: run test lint typecheck migration mutation bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# Links the platform sends (checkout pages, e-mails) point at the port it serves on.
run: export ADMITONE_BASE_URL ?= http://127.0.0.1:$(PORT)
run: $(VENV)/.installed
	$(BIN)/admitone migrate
	$(BIN)/admitone seed-demo
	$(BIN)/admitone serve --port $(PORT)

test: $(VENV)/.installed
	$(BIN)/pytest -n $(PYTEST_WORKERS) -q

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed
	$(BIN)/mypy

# Mutation testing of the invariant modules (scripts/mutation.py; docs/reliability.md):
# `make mutation`, or some modules: make mutation modules="tokens sessions"
mutation: $(VENV)/.installed
	$(BIN)/python scripts/mutation.py $(modules)

# A new reviewed migration from the models: make migration m="what changes"
migration: $(VENV)/.installed
	$(BIN)/python scripts/new_migration.py $(m)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
