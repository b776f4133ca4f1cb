# Two commands on a fresh machine:
#   make crawl ORG=bitnami   creates .venv on first use, then crawls the namespace
#   make test                creates .venv on first use, then lint, types and tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ORG ?= bitnami
SPIDER ?= org
ARGS ?= -a org=$(ORG)

.PHONY: crawl test lint typecheck pytest demo bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

crawl: $(BIN)/.installed
	$(BIN)/scrapy crawl $(SPIDER) $(ARGS)

demo: $(BIN)/.installed
	$(BIN)/python -m standin.demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy dockerhub standin

pytest: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint typecheck pytest

bench: $(BIN)/.installed
	$(BIN)/python -m bench.hub_crawl

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
