"""Brute force on the staff login (issue 14: "50 wrong passwords in 14 s got no throttle
and the right one then worked"): after 10 failures for one username or from one address,
logins are refused for the cool-off, even with the right password, and the lock is
recorded once as a `staff.login_locked` event. Every attempt goes through the real admin
login view; the counters live in the real cache (Redis on the PostgreSQL+Redis run)."""

from __future__ import annotations

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from events.models import Event
from tests.config.test_settings import manage

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/dashboard/"
HOME = "127.0.0.1"
ELSEWHERE = "203.0.113.77"
LOCKED_MESSAGE = "Too many failed logins"


@pytest.fixture(autouse=True)
def _fast_hashing(settings):
    """Each attempt hashes a password; MD5 keeps 10 of them quick (what is counted and
    refused does not depend on the hasher)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ops(db, django_user_model):
    return django_user_model.objects.create_user(
        "ops", "ops@example.org", "right-horse-42", is_staff=True
    )


@pytest.fixture
def eve(db, django_user_model):
    return django_user_model.objects.create_user(
        "eve", "eve@example.org", "other-horse-43", is_staff=True
    )


def attempt(username: str, password: str, address: str = HOME, client=None, **headers):
    return (client or Client()).post(
        LOGIN,
        {"username": username, "password": password, "next": "/dashboard/"},
        REMOTE_ADDR=address,
        **headers,
    )


def fail(times: int, username: str = "ops", address: str = HOME, **headers) -> list[int]:
    client = Client()
    return [
        attempt(username, f"wrong-{n}", address, client=client, **headers).status_code
        for n in range(times)
    ]


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/dashboard/"


def locked(response) -> bool:
    return response.status_code == 429 and LOCKED_MESSAGE in response.content.decode()


def test_ten_wrong_passwords_lock_the_username_and_the_right_one_is_then_refused(ops):
    assert fail(9) == [200] * 9  # the login page again, with its error
    assert locked(attempt("ops", "wrong-10"))

    refused = attempt("ops", "right-horse-42")
    assert locked(refused)
    assert "_auth_user_id" not in refused.wsgi_request.session
    for _ in range(5):
        assert locked(attempt("ops", "right-horse-42"))


def test_the_refusal_is_the_login_page_with_a_clear_message(ops):
    fail(10)
    body = attempt("ops", "right-horse-42").content.decode()
    assert 'id="login-form"' in body  # the login page, not a bare 403 text
    assert "Logins are refused for up to 15 minutes" in body
    assert 'name="next" value="/dashboard/"' in body
    assert 'value="ops"' in body  # the username stays in the field
    assert "Please enter the correct" not in body  # not the wrong-password error


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_refusal_is_the_login_page_too(async_client, django_user_model):
    """daphne serves Concord: axes' async middleware path, which hands the lockout
    response builder no original response."""
    await django_user_model.objects.acreate(username="ops", is_staff=True)
    for n in range(10):
        await async_client.post(LOGIN, {"username": "ops", "password": f"wrong-{n}"})
    response = await async_client.post(LOGIN, {"username": "ops", "password": "x"})
    assert locked(response)
    assert 'id="login-form"' in response.content.decode()
    assert await Event.objects.filter(kind="staff.login_locked").acount() == 1


def test_the_lock_is_recorded_once_as_a_staff_event_without_secrets(ops):
    fail(10)
    for _ in range(3):
        attempt("ops", "right-horse-42")

    (event,) = Event.objects.filter(kind="staff.login_locked")
    assert event.actor_id is None
    assert event.subject == f"user:{ops.pk}"
    assert event.data["username"] == "ops"
    assert event.data["address"] == HOME
    assert event.data["locked_by"] == ["username", "address"]
    assert event.data["failures"] == 10
    assert event.data["seconds"] == 15 * 60
    assert "wrong-" not in str(event.data)  # no password, ever
    assert "right-horse" not in str(event.data)


def test_ten_failures_from_one_address_over_different_usernames_lock_that_address(ops):
    client = Client()
    for n in range(10):
        attempt(f"guess-{n}", "hunter2", ELSEWHERE, client=client)

    assert locked(attempt("ops", "right-horse-42", ELSEWHERE))
    assert logged_in(attempt("ops", "right-horse-42", HOME))  # the username was not locked

    (event,) = Event.objects.filter(kind="staff.login_locked")
    assert event.data["locked_by"] == ["address"]
    assert event.data["address"] == ELSEWHERE
    # The 10th guess names no account: what was typed is not kept (it may be a password
    # typed into the wrong field).
    assert event.data["username"] is None
    assert event.subject == ""


def test_a_locked_username_is_refused_from_every_address(ops):
    fail(10, address=HOME)
    assert locked(attempt("ops", "right-horse-42", ELSEWHERE))


def test_another_username_from_another_address_is_unaffected(ops, eve):
    fail(10, "ops", HOME)
    assert logged_in(attempt("eve", "other-horse-43", ELSEWHERE))


def test_a_successful_login_before_the_limit_does_not_lock(ops):
    assert fail(9) == [200] * 9
    assert logged_in(attempt("ops", "right-horse-42"))
    # Success starts the count again: nine more mistakes still do not lock.
    assert fail(9) == [200] * 9
    assert logged_in(attempt("ops", "right-horse-42"))
    assert not Event.objects.filter(kind="staff.login_locked").exists()


def test_after_the_cool_off_logins_work_again_and_attempts_during_it_do_not_extend_it(
    ops, settings
):
    # The lock is the counter's lifetime in the cache (its TTL), so the real clock of the
    # cache has to pass: a three-second cool-off instead of fifteen minutes.
    settings.AXES_COOLOFF_TIME = timedelta(seconds=3)
    fail(10)
    locked_at = time.monotonic()
    time.sleep(1)
    assert locked(attempt("ops", "right-horse-42"))  # refused, and not counted
    time.sleep(max(0.0, locked_at + 3.3 - time.monotonic()))
    assert logged_in(attempt("ops", "right-horse-42"))


def test_the_lock_lives_in_the_cache_and_failures_write_nothing_to_the_database(ops):
    with CaptureQueriesContext(connection) as queries:
        fail(9)
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []

    attempt("ops", "wrong-10")
    assert locked(attempt("ops", "right-horse-42"))
    cache.clear()  # what an operator's reset does: the lock was only ever in the cache
    assert logged_in(attempt("ops", "right-horse-42"))


def test_an_operator_lifts_a_lock_with_axes_reset_commands(ops):
    from django.core.management import call_command

    fail(10, "ops", HOME)  # locks the username and the address
    call_command("axes_reset_username", "ops", stdout=StringIO())
    assert logged_in(attempt("ops", "right-horse-42", ELSEWHERE))
    assert locked(attempt("ops", "right-horse-42", HOME))
    call_command("axes_reset_ip", HOME, stdout=StringIO())
    assert logged_in(attempt("ops", "right-horse-42", HOME))


@pytest.mark.redis
def test_the_counters_are_in_redis_with_the_cool_off_as_their_lifetime(ops):
    from django_redis import get_redis_connection

    fail(3)
    redis = get_redis_connection("default")
    keys = [k for k in redis.keys(f"{django_settings.CACHE_KEY_PREFIX}:*") if b"axes" in k]
    assert len(keys) == 2  # one for the username, one for the address
    for key in keys:
        assert int(redis.get(key)) == 3
        assert 15 * 60 - 10 < redis.ttl(key) <= 15 * 60
        assert b"ops" not in key  # hashed, not in clear
        assert HOME.encode() not in key


def test_a_forged_x_forwarded_for_does_not_dodge_the_address_limit(ops):
    client = Client()
    for n in range(10):
        attempt(
            f"guess-{n}", "hunter2", ELSEWHERE, client=client, HTTP_X_FORWARDED_FOR=f"10.9.8.{n}"
        )
    assert locked(attempt("ops", "right-horse-42", ELSEWHERE, HTTP_X_FORWARDED_FOR="10.0.0.1"))


def test_behind_the_tls_proxy_the_address_is_the_one_the_proxy_appended(ops, settings):
    settings.LOGIN_ADDRESS_FROM_PROXY = True
    proxy = "10.0.0.2"
    client = Client()
    for n in range(10):
        # The client may write what it likes at the left; the proxy appends what it saw.
        attempt(
            f"guess-{n}",
            "hunter2",
            proxy,
            client=client,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, {ELSEWHERE}",
        )
    assert locked(attempt("ops", "right-horse-42", proxy, HTTP_X_FORWARDED_FOR=ELSEWHERE))
    assert logged_in(attempt("ops", "right-horse-42", proxy, HTTP_X_FORWARDED_FOR=HOME))
    (event,) = Event.objects.filter(kind="staff.login_locked")
    assert event.data["address"] == ELSEWHERE


@pytest.mark.parametrize(
    ("meta", "behind_proxy", "address"),
    [
        ({"REMOTE_ADDR": "198.51.100.4", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, False, "198.51.100.4"),
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 5.6.7.8"}, True, "5.6.7.8"),
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.2.3.4, junk"}, True, "10.0.0.2"),
        ({"REMOTE_ADDR": "10.0.0.2"}, True, "10.0.0.2"),
        ({"REMOTE_ADDR": "::ffff:198.51.100.4"}, False, "198.51.100.4"),
        # One IPv6 client holds a /64: counting each of its addresses apart would let it
        # try 2**64 times.
        ({"REMOTE_ADDR": "2001:db8:1:2:aaaa::1"}, False, "2001:db8:1:2::/64"),
        ({"REMOTE_ADDR": "2001:db8:1:2:bbbb::9"}, False, "2001:db8:1:2::/64"),
    ],
)
def test_the_client_address_is_read_only_where_it_can_be_trusted(
    rf, settings, meta, behind_proxy, address
):
    from accounts import logins

    settings.LOGIN_ADDRESS_FROM_PROXY = behind_proxy
    request = rf.post("/admin/login/", **meta)
    assert logins.client_address(request) == address


def test_authenticate_without_a_request_is_not_counted_or_refused(ops):
    """Shell and management commands (`demo_admin`'s test) call authenticate() with no
    request: there is no address to count, and nothing to lock."""
    from django.contrib.auth import authenticate

    fail(10)
    assert authenticate(username="ops", password="right-horse-42") == ops


def test_the_limit_and_the_cool_off_come_from_the_environment():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME)",
        env={"LOGIN_FAILURE_LIMIT": "5", "LOGIN_LOCKOUT_MINUTES": "30"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == ["5", "0:30:00"]

    result = manage("check", env={"LOGIN_FAILURE_LIMIT": "0"})
    assert result.returncode == 2
    assert "LOGIN_FAILURE_LIMIT='0' must be at least 1" in result.stderr


def test_staff_can_still_log_in_while_the_cache_is_unreachable(ops, settings, caplog, monkeypatch):
    """Every page survives Redis going away; the login does too (not throttled meanwhile,
    and each skipped count is a warning)."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        },
    }
    # (Django's setting_changed handler gives `caches` the new setting; axes keeps its
    # handler, which holds the cache it was made with: a new one is made for the test.)
    from axes.handlers.proxy import AxesProxyHandler

    monkeypatch.setattr(AxesProxyHandler, "implementation", None)
    assert attempt("ops", "wrong-1").status_code == 200
    assert logged_in(attempt("ops", "right-horse-42"))
    assert "not throttling" in caplog.text or "cannot count" in caplog.text
