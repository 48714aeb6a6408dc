"""Concord's HTTP under gunicorn (config/gunicorn.py, config.wsgi), as in production: the
Bot API (a read, an idempotent write retried), the admin and a dashboard page, and the
workers' persistent database connections. Websockets stay on daphne (config.asgi)."""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from api.actions import create_key
from ledger.models import Transfer
from tests.api.conftest import this_database
from tests.factories import MemberFactory
from tests.servers import daphne, gunicorn

pytestmark = pytest.mark.django_db(transaction=True)


def _call(url: str, *, body: dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data, {"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _backends() -> set[int]:
    """The PostgreSQL backends connected to the test database, other than ours (a test
    takes those there before its server starts away: an earlier test's process may
    still hold one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


def test_the_api_admin_and_dashboard_answer_under_gunicorn(tmp_path):
    member = MemberFactory(platform="web", external_id="wsgi-1")
    token = create_key(label="wsgi", scopes=["ledger:write", "ledger:read"]).token
    auth = {"Authorization": f"Bearer {token}"}
    admin = get_user_model().objects.create_superuser("boss", "boss@example.org", "pw-x-1234")
    client = Client()
    client.force_login(admin)
    cookie = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    # One secret key for every process, as in production: the session this process
    # signed is the one gunicorn reads.
    env = {"DATABASE_URL": this_database(tmp_path), "DJANGO_SECRET_KEY": settings.SECRET_KEY}
    with gunicorn(env) as (base, _):
        status, data = _call(f"{base}/api/v1/ledger/members/{member.pk}/balance", headers=auth)
        assert status == 200, data
        before = json.loads(data)["balance"]
        award = {"member_id": member.pk, "amount": 7, "reason": "wsgi"}
        answers = [
            _call(
                f"{base}/api/v1/ledger/awards",
                body=award,
                headers={**auth, "Idempotency-Key": "wsgi-award"},
            )
            for _ in range(2)
        ]
        status, data = _call(f"{base}/api/v1/ledger/members/{member.pk}/balance", headers=auth)
        assert json.loads(data)["balance"] == before + 7
        status, page = _call(f"{base}/admin/", headers=cookie)
        assert status == 200
        assert b'name="password"' not in page  # the admin's index, not its login page
        status, page = _call(f"{base}/dashboard/members/", headers=cookie)
        assert status == 200
        assert b'name="password"' not in page
        assert f'href="/dashboard/members/{member.pk}/"'.encode() in page
        status, page = _call(f"{base}/dashboard/members/")  # no session: the login page
        assert status == 200
        assert b"wsgi-1" not in page
        assert b'name="password"' in page
    assert [status for status, _ in answers] == [201, 201]
    assert json.loads(answers[0][1]) == json.loads(answers[1][1])
    assert Transfer.objects.filter(kind="award", reason="wsgi").count() == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL backends")
def test_a_gunicorn_worker_keeps_its_database_connection_between_requests(tmp_path):
    member = MemberFactory(platform="web", external_id="wsgi-2")
    token = create_key(label="wsgi", scopes=["ledger:read"]).token
    url_env = {"DATABASE_URL": this_database(tmp_path)}
    others = _backends()
    with gunicorn(url_env, threads=1) as (base, _):
        url = f"{base}/api/v1/ledger/members/{member.pk}/balance"
        seen = []
        for _ in range(3):
            assert _call(url, headers={"Authorization": f"Bearer {token}"})[0] == 200
            seen.append(_backends() - others)
    # One worker, one thread: one connection, the same after every request (with
    # DATABASE_CONN_MAX_AGE=0 it is closed at the end of each, and none would be seen).
    assert len(seen[0]) == 1, seen
    assert seen[0] == seen[1] == seen[2]


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL backends")
@pytest.mark.skipif("not os.environ.get('REDIS_URL')", reason="no embedded relay: Redis")
def test_daphne_with_database_pool_reuses_its_connections(tmp_path):
    """DATABASE_POOL under daphne: each request takes a pooled connection and gives it
    back, so the same backends serve them all (without it, each request opens one and
    closes it). With Redis daphne runs no embedded relay: requests are its only
    connections."""
    member = MemberFactory(platform="web", external_id="pool-1")
    token = create_key(label="pool", scopes=["ledger:read"]).token
    env = {
        "DATABASE_URL": this_database(tmp_path),
        "REDIS_URL": os.environ["REDIS_URL"],
        "CACHE_KEY_PREFIX": f"{os.environ.get('CACHE_KEY_PREFIX', 'test')}-pool",
        "DATABASE_POOL": "2",
    }
    others = _backends()
    with daphne(env) as base:
        url = f"{base}/api/v1/ledger/members/{member.pk}/balance"
        seen = []
        for _ in range(4):
            assert _call(url, headers={"Authorization": f"Bearer {token}"})[0] == 200
            seen.append(_backends() - others)
    assert 1 <= len(seen[0]) <= 2, seen
    assert seen[0] == seen[1] == seen[2] == seen[3]


def test_gunicorn_leaves_the_scheme_to_django(tmp_path):
    """Without DJANGO_BEHIND_TLS_PROXY a forwarded `X-Forwarded-Proto: https` is not
    believed (gunicorn would believe it from 127.0.0.1 by default): the request is still
    plain HTTP and redirected to HTTPS."""
    env = {"DATABASE_URL": this_database(tmp_path), "DJANGO_SECURE_SSL_REDIRECT": "1"}
    with gunicorn(env) as (base, _):
        conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
        conn.request("GET", "/api/v1/openapi.json", headers={"X-Forwarded-Proto": "https"})
        response = conn.getresponse()
        response.read()
        conn.close()
    assert response.status == 301
    assert response.getheader("Location", "").startswith("https://")
