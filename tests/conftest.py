from __future__ import annotations

import os
import shutil
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from events.log import register_handler, unregister_handler
from events.models import Event
from tests.factories import MemberFactory
from tests.helpers import Bypass

# The benchmarks' modules (bench/) import each other by their bare names, as the scripts
# run from that folder; the tests that exercise them (tests/bench/, and the stream-abuse
# test sharing bench/stream_probes.py) import them the same way.
BENCH = str(Path(__file__).resolve().parent.parent / "bench")
if BENCH not in sys.path:
    sys.path.append(BENCH)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = "postgresql" in settings.DATABASES["default"]["ENGINE"]
    on_redis = bool(settings.REDIS_URL)
    have_browser = shutil.which("chromium") is not None
    must_browse = os.environ.get("CONCORD_REQUIRE_BROWSER") == "1"
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))
        if "redis" in item.keywords and not on_redis:
            item.add_marker(pytest.mark.skip(reason="needs Redis (set REDIS_URL)"))
        if "browser" in item.keywords and not have_browser and not must_browse:
            item.add_marker(pytest.mark.skip(reason="needs Debian's chromium at /usr/bin/chromium"))


@pytest.fixture
def alice(db):
    """A Telegram member who signed up with a Gmail address."""
    return MemberFactory(
        platform="telegram", external_id="1001", username="alice", email="Alice.Liddell@gmail.com"
    )


@pytest.fixture
def bob(db):
    """A Discord member without email."""
    return MemberFactory(platform="discord", external_id="2002", username="bob")


@pytest.fixture
def seen():
    """Events as the post-commit handlers receive them."""
    received: list[Event] = []

    def handler(event):
        received.append(event)

    register_handler(handler)
    yield received
    unregister_handler(handler)


@pytest.fixture
def clock(monkeypatch):
    """Django's clock, moved forward with `clock.advance(hours=2)`."""

    class Clock:
        offset = timedelta()

        def advance(self, **delta):
            self.offset += timedelta(**delta)

    moved = Clock()
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + moved.offset)
    return moved


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.org", "pw-staff-1234")


@pytest.fixture
def relay(transactional_db):
    """The relay working for this test, as `manage.py run_relay` would, in a thread of this
    process (on embedded defaults the hub runs its own: nothing to start). Yields the
    `events.relay.Relay`, or None on embedded defaults."""
    import threading

    from dashboard.hub import EmbeddedRelay
    from events.relay import Relay

    if EmbeddedRelay.wanted():
        yield None
        return
    stop = threading.Event()
    working = Relay()
    thread = threading.Thread(target=working.run, args=(stop,), name="test-relay", daemon=True)
    thread.start()
    yield working
    stop.set()
    thread.join(10)


@pytest.fixture(autouse=True)
def _stop_embedded_relay():
    """On embedded defaults a hub (or a request through config.asgi) starts the relay in a
    thread of this process, and a request the webhook sender; each test that did gets
    them stopped, with their connections, before the database is emptied for the next."""
    yield
    from api.delivery import EmbeddedWebhooks
    from dashboard.hub import EmbeddedRelay

    EmbeddedRelay.shut()
    EmbeddedWebhooks.shut()


@pytest.fixture(scope="session", autouse=True)
def _close_connections_at_the_end(django_db_setup, django_db_blocker):
    yield
    # Channels runs database work in a shared executor thread; its last connection can
    # outlive the tests, and PostgreSQL refuses to drop a database in use. Every child
    # process the tests started has ended by now, so what is left is this process's.
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND state = 'idle'"
            )


@pytest.fixture(autouse=True)
def _tasks_queued_by_reads_stay_here(monkeypatch):
    """A read that finds no leaderboard board queues its build on Celery (dashboard.ranks);
    with Redis, to a queue of the test's own, emptied after it, not to the default queue
    another worker on this Redis would take. A test that runs a worker sets its own."""
    from django.conf import settings

    if not settings.REDIS_URL:
        yield
        return
    from celery import current_app
    from django_redis import get_redis_connection

    queue = f"test-reads-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(current_app.conf, "task_default_queue", queue)
    yield
    get_redis_connection("default").delete(queue)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with nothing cached (the database is rolled back between tests;
    the cache is not). Only Concord's own keys: Redis may be shared."""
    from django.core.cache import cache

    from dashboard import cache as cached

    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")
    else:
        cache.clear()
    cached.forget_written()  # and this process's notes of what it wrote


@pytest.fixture
def bypass(db):
    """Writes that go around Concord (`tests.helpers.Bypass`); on SQLite the CHECKs it
    switched off are back on after the test."""
    yield Bypass()
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")
