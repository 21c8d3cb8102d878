# PsyWeb: the commands a developer needs. Start with `make run`, then `make test`.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# `make test` also runs the suite on PostgreSQL (and with Redis as the cache) when they answer.
TEST_DATABASE_URL ?= postgres://127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help run serve test test-sqlite test-postgres lint format bench bench-pages clean

help:
	@echo "make run     set up .venv, migrate, load the demo content and serve on http://127.0.0.1:$(PORT)"
	@echo "make superuser  make a staff account for the admin (asks for a name and a password)"
	@echo "make test    run the tests on SQLite, then on PostgreSQL when one answers"
	@echo "make serve   production: nginx in front of gunicorn on http://127.0.0.1:$(PORT), DEBUG off (needs SECRET_KEY; docs/deployment.md)"
	@echo "make lint    ruff check and format check, and makemigrations --check"
	@echo "make bench   vote storm: gunicorn on PostgreSQL, 400 visitors voting at once (bench/)"
	@echo "make bench-pages  page rates (wrk) and coherence: ceiling, gunicorn, make serve (bench/)"
	@echo "make bench-hot-poll  ballots a second on one hot poll: record_vote with 1-64 writers, counter slots, exactness (bench/)"
	@echo "make format  apply ruff's fixes and formatting"
	@echo "make backup FILE=psyweb.dump   pg_dump the PostgreSQL database DATABASE_URL names (docs/backups.md)"
	@echo "make restore FILE=psyweb.dump  restore a dump into the empty database DATABASE_URL names"

# The venv is rebuilt when a requirements file changes.
$(VENV)/.requirements: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.requirements-dev: $(VENV)/.requirements requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.requirements
	DEBUG=True $(PY) manage.py migrate --noinput
	DEBUG=True $(PY) manage.py load_demo
	@echo "PsyWeb is at http://127.0.0.1:$(PORT)/ (Ctrl-C stops it)"
	DEBUG=True $(PY) manage.py runserver 127.0.0.1:$(PORT)

# The first staff account, on the database `make run` uses (DATABASE_URL, default db.sqlite3).
# DEBUG=True as for `make run`, so no SECRET_KEY is needed. Non-interactively:
# DJANGO_SUPERUSER_USERNAME=… DJANGO_SUPERUSER_EMAIL=… DJANGO_SUPERUSER_PASSWORD=… make superuser ARGS=--noinput
.PHONY: superuser
superuser: $(VENV)/.requirements
	DEBUG=True $(PY) manage.py migrate --noinput
	DEBUG=True $(PY) manage.py createsuperuser $(ARGS)

# nginx on 127.0.0.1:$(PORT) in front of gunicorn, DEBUG off, settings from the environment
# (docs/deployment.md). Debian installs nginx in /usr/sbin, which a user's PATH may lack.
serve: $(VENV)/.requirements
	PATH="$$PATH:/usr/local/sbin:/usr/sbin:/sbin" PORT=$(PORT) exec $(PY) deploy/serve.py

test: $(VENV)/.requirements-dev
	@$(MAKE) --no-print-directory test-sqlite
	@if $(PY) -c "import sys, psycopg2; psycopg2.connect(sys.argv[1], connect_timeout=3).close()" "$(TEST_DATABASE_URL)" 2>/dev/null; then \
		$(MAKE) --no-print-directory test-postgres; \
	elif [ -n "$$REQUIRE_POSTGRES" ]; then \
		echo "PostgreSQL does not answer at $(TEST_DATABASE_URL), and REQUIRE_POSTGRES is set."; exit 1; \
	else \
		echo "== PostgreSQL pass skipped: nothing answers at $(TEST_DATABASE_URL) (set TEST_DATABASE_URL) =="; \
	fi

test-sqlite: $(VENV)/.requirements-dev
	@echo "== Test pass on SQLite =="
	DATABASE_URL=sqlite:///$(CURDIR)/.cache/test.sqlite3 CACHE_URL=filecache://$(CURDIR)/.cache/test-cache \
		$(PY) -m pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.requirements-dev
	@if $(PY) -c "import sys, redis; redis.Redis.from_url(sys.argv[1], socket_timeout=3).ping()" "$(TEST_REDIS_URL)" 2>/dev/null; then \
		cache="$(TEST_REDIS_URL)"; \
	elif [ -n "$$REQUIRE_REDIS" ]; then \
		echo "Redis does not answer at $(TEST_REDIS_URL), and REQUIRE_REDIS is set."; exit 1; \
	else \
		cache="filecache://$(CURDIR)/.cache/test-cache"; \
	fi; \
	echo "== Test pass on PostgreSQL ($(TEST_DATABASE_URL)), cache $$cache =="; \
	DATABASE_URL="$(TEST_DATABASE_URL)" CACHE_URL="$$cache" $(PY) -m pytest $(PYTEST_ARGS)

# Needs PostgreSQL and Redis on 127.0.0.1; see bench/README.md. BENCH_ARGS="--visitors 1000" etc.
bench: $(VENV)/.requirements
	$(PY) bench/vote_storm.py --json bench-results/vote-storm.json $(BENCH_ARGS)

# Needs PostgreSQL and Redis on 127.0.0.1, wrk and nginx; see bench/README.md.
bench-pages: $(VENV)/.requirements
	$(PY) bench/pages.py --json bench-results/pages.json $(BENCH_ARGS)

# PostgreSQL only (no Redis, no HTTP); about 30 minutes with every variant; see bench/README.md.
.PHONY: bench-hot-poll
bench-hot-poll: $(VENV)/.requirements
	$(PY) bench/hot_poll.py --json bench-results/hot-poll.json $(BENCH_ARGS)

# PostgreSQL only; deploy/backup.py says what it refuses and why. See docs/backups.md.
.PHONY: backup restore
backup: $(VENV)/.requirements
	$(PY) deploy/backup.py backup "$(FILE)"

restore: $(VENV)/.requirements
	$(PY) deploy/backup.py restore "$(FILE)"

lint: $(VENV)/.requirements-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=True $(PY) manage.py makemigrations --check --dry-run

format: $(VENV)/.requirements-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf .cache staticfiles
