"""bench/common.py: the production settings every benchmark measures, and the statistics
it keeps current between phases."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.db import connection

from tests.servers import ROOT, database_url_for_tests

SET_UP = (
    "import common, django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
)


def in_bench(code: str, env: dict, *, timeout: float) -> str:
    """What Python `code` prints, run in bench/ (as a benchmark imports `common`); it must
    exit 0."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT / "bench",
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_a_benchmark_gets_production_settings_with_nothing_but_a_database_url():
    """Importing `common` first must leave nothing for `config` to refuse: a benchmark
    run with only DATABASE_URL set starts on production settings (DEBUG off, a secret key
    of its own), not with a configuration error."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:5432/unused"
    assert in_bench(SET_UP, env, timeout=60).strip() == "False"


def test_a_benchmark_and_its_servers_share_cache_keys_of_their_own():
    """Not the product's default prefix ("concord"), and the same in the benchmark's own
    process (whose settings `common` loads) as in the servers it starts."""
    env = dict(os.environ, CACHE_KEY_PREFIX="concord")  # a shell with the product's
    code = (
        "import common, os; from django.conf import settings;"
        " print(settings.CACHE_KEY_PREFIX, common.server_env()['CACHE_KEY_PREFIX'])"
    )
    own, servers = in_bench(code, env, timeout=60).split()
    assert own == servers
    assert own.startswith("bench-")


def test_a_benchmarks_own_requests_over_plain_http_are_not_redirected():
    """Production settings redirect HTTP to HTTPS; a benchmark's in-process requests and
    its servers' run on the loopback as behind TLS."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_DEBUG", "DJANGO_SECURE_SSL_REDIRECT"}
    }
    code = "import common; from django.conf import settings; print(settings.SECURE_SSL_REDIRECT)"
    assert in_bench(code, env, timeout=60).strip() == "False"


SERVER_SETTINGS = (
    "import common, json, subprocess, sys; env = common.server_env();"
    " done = subprocess.run([sys.executable, '-c', 'import django; django.setup();"
    " from django.conf import settings; print(settings.DEBUG)'], env=env, cwd='..',"
    " capture_output=True, text=True, timeout=60);"
    " print(json.dumps([done.returncode, done.stdout.strip(), done.stderr[-500:]]))"
)


def test_a_server_the_benchmark_starts_boots_on_production_settings_under_debug_too():
    """bench/api.py measures servers on production settings even when the benchmark runs
    with DJANGO_DEBUG=1 (as `make test` exports it) and no secret key: their settings must
    load (DEBUG off needs a secret key), else their workers never boot and the callers
    wait for an answer that never comes."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY"}}
    env.update(DJANGO_DEBUG="1", DATABASE_URL="postgres://nobody@127.0.0.1:5432/unused")
    out = in_bench(SERVER_SETTINGS, env, timeout=120)
    returncode, debug, stderr = json.loads(out.strip().splitlines()[-1])
    assert returncode == 0, stderr
    assert debug == "False"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_analyze_between_phases_makes_a_persistent_connection_plan_again(tmp_path):
    """bench/api.py's servers keep their connections (and the plans made on them) from
    phase to phase. A plan made while a new database's table held a few rows scans the
    whole table; `common.analyze`, run by the benchmark (another connection) between
    phases, makes such a connection plan again (an index scan once the table has grown)."""
    analyze = "import common, django; django.setup(); common.analyze(('ledger.Transfer',))"
    env = {**os.environ, "DATABASE_URL": database_url_for_tests(tmp_path)}
    with connection.cursor() as cursor:
        # A few pages at most: earlier tests' rolled-back rows are vacuumed away.
        cursor.execute("VACUUM (ANALYZE) ledger_transfer")
        cursor.execute("SET plan_cache_mode = force_generic_plan")  # as config.env sets it
        cursor.execute("PREPARE lookup(bigint) AS SELECT id FROM ledger_transfer WHERE id = $1")
        try:
            cursor.execute("EXPLAIN EXECUTE lookup(1)")
            before = "\n".join(row[0] for row in cursor.fetchall())
            cursor.execute(
                "INSERT INTO ledger_transfer (kind, idempotency_key, request_hash, reason,"
                " context, created_at) SELECT 'award', 'analyze-' || n, '', 'bench',"
                " '{}'::jsonb, now() FROM generate_series(1, 20000) n"
            )
            in_bench(analyze, env, timeout=60)
            cursor.execute("EXPLAIN EXECUTE lookup(1)")
            after = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE lookup")
            cursor.execute("RESET plan_cache_mode")
    assert "Seq Scan" in before, before
    assert "Seq Scan" not in after, after
    assert "Index" in after, after
