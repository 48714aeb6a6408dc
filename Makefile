# Concord: `make run` serves the product on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: venv run test lint format migrate worker beat relay bench bench-ledger bench-live bench-tournaments bench-narrative bench-fresh bench-failover clean

# Developing and testing: DEBUG on unless the environment says otherwise. (Pointed at a
# real database with nothing said, Concord runs as production: DEBUG off.)
run test migrate lint worker beat: export DJANGO_DEBUG ?= 1

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --no-input

run: migrate
	$(PY) manage.py seed_demo --once
	CONCORD_SITE_URL=http://$(HOST):$(PORT) $(PY) manage.py demo_admin
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py runserver $(HOST):$(PORT)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run
	env -u DATABASE_URL -u REDIS_URL DJANGO_DEBUG=0 DJANGO_SECRET_KEY=lint-$$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n') \
		DJANGO_ALLOWED_HOSTS=concord.example.com $(PY) manage.py check --deploy --fail-level WARNING

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

worker: $(STAMP)
	$(VENV)/bin/celery -A config worker --loglevel=INFO

beat: $(STAMP)
	$(VENV)/bin/celery -A config beat --loglevel=INFO

# The relay: one works per database, more wait as standbys (see docs/OPERATIONS.md)
relay: $(STAMP)
	$(PY) manage.py run_relay

bench: $(STAMP)
	$(PY) bench/registrations.py

# DATABASE_URL=postgres://... (BENCH_ARGS="--duration 4 --workers 1,4,8,16")
bench-ledger: $(STAMP)
	$(PY) bench/ledger.py $(BENCH_ARGS)

# DATABASE_URL=postgres://... REDIS_URL=redis://... (BENCH_ARGS="--clients 1000 --rate 100 --layer pubsub")
bench-live: $(STAMP)
	$(PY) bench/live.py $(BENCH_ARGS)

# DATABASE_URL=postgres://... (BENCH_ARGS="--players 500 --capacity 256 --workers 8 --rows 10000")
bench-tournaments: $(STAMP)
	$(PY) bench/tournaments.py $(BENCH_ARGS)

# DATABASE_URL=postgres://... (BENCH_ARGS="--readers 1500 --workers 8 --rounds 3")
bench-narrative: $(STAMP)
	$(PY) bench/narrative.py $(BENCH_ARGS)

# DATABASE_URL=postgres://.../concord_fresh, a scratch database: dropped and created again
# (BENCH_ARGS="--members 50 --duration 5 --recreate")
bench-fresh: $(STAMP)
	$(PY) bench/fresh.py $(BENCH_ARGS)

# DATABASE_URL=postgres://... REDIS_URL=redis://... (BENCH_ARGS="--rounds 5")
bench-failover: $(STAMP)
	$(PY) bench/failover.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
