# qc-assign. `make run`: the demo (web + assigner, SQLite); `make test`: the suite on MariaDB.
# Each target creates .venv and installs requirements-dev.txt (the runtime set, requirements.txt,
# and the development tools) first, only when one of them changed, and compiles the
# translations (locale/*/LC_MESSAGES/*.po -> .mo) that are newer than their .mo.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Newer than both requirement files once they are installed into .venv.
INSTALLED := $(VENV)/.installed

# make run: the development server and the assigner, on a SQLite file in the project.
WEB_HOST ?= 127.0.0.1
WEB_PORT ?= 8000
RUN_DATABASE_URL ?= sqlite:///$(CURDIR)/db.sqlite3
# The demo's simulated QC people and producer (Procfile `crew`): DEMO_CREW=0 leaves them out.
DEMO_CREW ?= 1
RUN_PROCESSES = web assigner webhooks $(if $(filter 0,$(DEMO_CREW)),,crew)
# Set for every command of `make run`, so a DATABASE_URL in the shell cannot leak in.
RUN_ENV = DEBUG=1 DATABASE_URL='$(RUN_DATABASE_URL)' PYTHONUNBUFFERED=1

# make test: the suite needs MariaDB/MySQL (SQLite ignores FOR UPDATE); the test database
# is `test_` + the name in the URL, created by the test run.
TEST_DATABASE_URL ?= mysql://root:@127.0.0.1:3306/qc
PYTEST_ARGS ?=
SQLITE_TESTS = personnel/tests/test_tokens.py tasks/tests/test_sql.py personnel/tests/test_services.py \
	tasks/tests/test_services.py \
	events/tests/test_emit.py events/tests/test_sequence.py events/tests/test_webhooks.py \
	tasks/tests/test_routing.py

# The translations: each .po compiled to the .mo beside it (msgfmt, as Django's
# compilemessages does; scripts/ensure-gettext installs it), only when the .po changed.
PO_FILES := $(wildcard locale/*/LC_MESSAGES/*.po)
MO_FILES := $(PO_FILES:.po=.mo)

.PHONY: help venv translations messages run test lint clean

help:
	@echo 'make run     start the web server, the assigner, the webhook worker and the simulated'
	@echo '             crew (SQLite, demo data; DEMO_CREW=0: no crew) on http://$(WEB_HOST):$(WEB_PORT)/'
	@echo 'make test    run the tests against MariaDB ($(TEST_DATABASE_URL));'
	@echo '             pass pytest options with PYTEST_ARGS="-x -k complete"'
	@echo 'make lint    ruff, the layering contract (import-linter), mypy on the services,'
	@echo '             promtool on the alert rules'
	@echo 'make messages  update locale/*/LC_MESSAGES/*.po from the sources (then translate)'
	@echo 'make clean   remove .venv, db.sqlite3, staticfiles and the compiled translations'

venv: $(INSTALLED)

$(INSTALLED): requirements.txt requirements-dev.txt
	scripts/ensure-build-deps $(PYTHON)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check --quiet -r requirements-dev.txt
	touch $@

translations: $(MO_FILES)

locale/%.mo: locale/%.po
	@scripts/ensure-gettext
	msgfmt --check-format -o $@ $<

messages: $(INSTALLED)
	scripts/ensure-gettext
	scripts/makemessages $(BIN)/python

run: $(INSTALLED) $(MO_FILES)
	$(RUN_ENV) $(BIN)/python manage.py migrate --no-input
	$(RUN_ENV) $(BIN)/python manage.py seed_demo
	@echo
	@echo 'API docs: http://$(WEB_HOST):$(WEB_PORT)/api/docs/'
	@echo 'Admin:    http://$(WEB_HOST):$(WEB_PORT)/admin/'
	@echo 'Events:   http://$(WEB_HOST):$(WEB_PORT)/events (signed in as the supervisor)'
	@echo
# settings.py reads .env itself (the environment wins); honcho's own .env loading would
# let .env override RUN_ENV, so it gets none.
	$(RUN_ENV) WEB_HOST='$(WEB_HOST)' WEB_PORT='$(WEB_PORT)' PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/honcho start --env /dev/null $(RUN_PROCESSES)

test: $(INSTALLED) $(MO_FILES)
	scripts/ensure-mariadb '$(TEST_DATABASE_URL)'
	scripts/ensure-chromium
	scripts/ensure-promtool
	DEBUG=1 DATABASE_URL='$(TEST_DATABASE_URL)' $(BIN)/pytest $(PYTEST_ARGS)
# The quick start runs on SQLite, and the hand-written hot statements (tasks/sql.py)
# with it: their tests, and the services' that run them, on SQLite too.
	DEBUG=1 QC_ALLOW_SQLITE_TESTS=1 DATABASE_URL='sqlite:///$(CURDIR)/test-sqlite.sqlite3' \
		$(BIN)/pytest -q -p no:cacheprovider -m 'not concurrency and not mysql and not browser' \
		$(SQLITE_TESTS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DEBUG=1 $(BIN)/mypy
# The alert rules: valid, and doing what their unit tests say.
	scripts/ensure-promtool
	promtool check rules deploy/prometheus/alerts.yml
	cd deploy/prometheus && promtool test rules alerts.test.yml

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles $(MO_FILES)

# make bench: the performance benchmark (bench/run.py, not part of the tests), on databases
# of its own (qc_bench, qc_bench_h1k, qc_bench_h1m: created, then dropped) on the MariaDB of
# BENCH_DATABASE_URL. Prints the table, writes bench-results.json; about 10-15 minutes.
# BENCH_ARGS passes options, e.g. BENCH_ARGS='--repeat 3 --cases burn-down,heartbeat'.
BENCH_DATABASE_URL ?= mysql://root:@127.0.0.1:3306/qc_bench
BENCH_ARGS ?=

.PHONY: bench
bench: $(INSTALLED)
	scripts/ensure-mariadb '$(BENCH_DATABASE_URL)'
	bench/ensure-wrk
	$(BIN)/python -m bench.run --database-url '$(BENCH_DATABASE_URL)' \
		--json bench-results.json $(BENCH_ARGS)

# make chaos: the reliability suite (chaos/, docs/reliability.md). It starts a MariaDB server
# of its own (temporary data directory, free loopback port; never the server on 3306),
# gunicorn, assigners and a few hundred simulated people, runs every fault scenario and
# prints the table; about 10 minutes. CHAOS_ARGS passes options, e.g.
# CHAOS_ARGS='--only mixed --keep'. The short variant runs inside `make test`.
CHAOS_ARGS ?=

.PHONY: chaos
chaos: $(INSTALLED)
	$(BIN)/python -m chaos $(CHAOS_ARGS)
