# The two commands of the README:
#   make run   quick start: virtualenv, migrate, demo data, web server + Celery worker + beat (SQLite, no servers)
#   make test  the test suite against real PostgreSQL and Redis (DATABASE_URL, REDIS_URL)

# The first interpreter on PATH that is Python 3.11 or newer (override: make run PYTHON=/path/to/python3).
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
RUN_ADDR ?= 127.0.0.1:8000
# A fresh test database on every run: migrations edited in place never meet a stale schema.
PYTEST_ARGS ?= --create-db

.DEFAULT_GOAL := help
.PHONY: help venv run test lint services

help:
	@echo "make run    start the hub on http://$(RUN_ADDR)/ with demo data, a Celery worker and beat"
	@echo "make test   run the test suite (needs PostgreSQL and Redis, see README)"
	@echo "make lint   ruff check"

$(INSTALLED): requirements.txt scripts/bootstrap_venv.py
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer not found on PATH; install it or pass PYTHON=..." >&2; exit 1; }
	$(PYTHON) scripts/bootstrap_venv.py $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -r requirements.txt
	@touch $@

venv: $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	RUN_ADDR=$(RUN_ADDR) PYTHONUNBUFFERED=1 $(BIN)/honcho --procfile scripts/Procfile --app-root . start

services: $(INSTALLED)
	$(BIN)/python scripts/check_services.py

test: services
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
