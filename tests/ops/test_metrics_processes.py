"""`/metrics` served by daphne: several processes summed (multiprocess mode), and who
may read it."""

from __future__ import annotations

import pytest

from tests.ops.scrape import fetch, scrape, value
from tests.servers import (
    daphne,
    database_url_for_tests,
    free_port,
    migrate_child_database,
    run_django,
    spawn_daphne,
    stop,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

COUNT = "concord_http_request_duration_seconds_count"


def test_two_daphnes_and_a_bot_process_are_summed_in_multiprocess_mode(tmp_path):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        "DATABASE_URL": database_url_for_tests(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    migrate_child_database(env)
    first = spawn_daphne(env, port_a := free_port())
    second = spawn_daphne(env, port_b := free_port())
    try:
        a, b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
        for _ in range(3):
            fetch(f"{a}/healthz")
        for _ in range(2):
            fetch(f"{b}/healthz")
        # A bot's process, refused by an action: its count lands in the same directory.
        run_django(
            env,
            """
            from ledger.exceptions import InsufficientFunds
            try:
                raise InsufficientFunds("test")
            except InsufficientFunds:
                pass
            print(json.dumps({}))
            """,
        )
        from_a, from_b = scrape(a), scrape(b)
    finally:
        stop(first)
        stop(second)
    for samples in (from_a, from_b):
        assert value(samples, COUNT, view="healthz") == 5
        refused = {"app": "ledger", "exception": "InsufficientFunds"}
        assert value(samples, "concord_domain_refusals_total", **refused) == 1


def test_metrics_answer_only_allowed_addresses_or_the_token(tmp_path):
    env = {
        "DATABASE_URL": database_url_for_tests(tmp_path),
        "METRICS_ALLOWED_ADDRESSES": "10.0.0.0/8",
        "METRICS_TOKEN": "scrape-secret-0123456789",
    }
    migrate_child_database(env)
    with daphne(env) as base:
        refused, body = fetch(f"{base}/metrics")
        wrong, _ = fetch(f"{base}/metrics", token="not-it")
        samples = scrape(base, token="scrape-secret-0123456789")
    assert (refused, wrong) == (403, 403)
    assert "concord" not in body
    assert value(samples, COUNT, view="metrics", status="403") == 2


def test_loopback_is_allowed_by_default(tmp_path):
    env = {"DATABASE_URL": database_url_for_tests(tmp_path)}
    migrate_child_database(env)
    with daphne(env) as base:
        samples = scrape(base)
    assert "concord_relay_backlog_events" in {name for name, _ in samples}
