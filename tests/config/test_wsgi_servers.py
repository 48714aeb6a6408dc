"""Concord's HTTP under its WSGI servers, as in production: uWSGI (config/uwsgi.ini, the
recommended one) and gunicorn (config/gunicorn.py), both serving config.wsgi. The Bot API
(a read, an idempotent write retried), the admin and a dashboard page, the workers'
persistent database connections; under uWSGI, more clients than threads, long headers
and keep-alive clients. Websockets stay on daphne (config.asgi)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from api.actions import create_key
from ledger.models import Transfer
from tests.api.conftest import this_database
from tests.factories import MemberFactory
from tests.servers import WSGI_SERVERS, daphne, uwsgi

pytestmark = pytest.mark.django_db(transaction=True)

each_server = pytest.mark.parametrize("server", sorted(WSGI_SERVERS))


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


@each_server
def test_the_api_admin_and_dashboard_answer_under_each_wsgi_server(server, tmp_path):
    member = MemberFactory(platform="web", external_id="wsgi-1")
    token = create_key(label="wsgi", scopes=["ledger:write", "ledger:read"]).token
    auth = {"Authorization": f"Bearer {token}"}
    admin = get_user_model().objects.create_superuser("boss", "boss@example.org", "pw-x-1234")
    client = Client()
    client.force_login(admin)
    cookie = {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}
    # One secret key for every process, as in production: the session this process
    # signed is the one the server reads.
    env = {"DATABASE_URL": this_database(tmp_path), "DJANGO_SECRET_KEY": settings.SECRET_KEY}
    with WSGI_SERVERS[server](env) as (base, _):
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
@each_server
def test_a_wsgi_worker_keeps_its_database_connection_between_requests(server, tmp_path):
    member = MemberFactory(platform="web", external_id="wsgi-2")
    token = create_key(label="wsgi", scopes=["ledger:read"]).token
    url_env = {"DATABASE_URL": this_database(tmp_path)}
    others = _backends()
    with WSGI_SERVERS[server](url_env, threads=1) as (base, _):
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


def _scheme_seen(base: str, headers: dict) -> tuple[int, str]:
    """(status, Location) of the API's schema fetched over plain HTTP with `headers`: a
    301 to https:// where the request was taken as plain HTTP (SSL redirect on)."""
    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
    conn.request("GET", "/api/v1/openapi.json", headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, response.getheader("Location", "")


@each_server
def test_the_wsgi_server_leaves_the_scheme_to_django(server, tmp_path):
    """Without DJANGO_BEHIND_TLS_PROXY a forwarded `X-Forwarded-Proto: https` is not
    believed (gunicorn would believe it from 127.0.0.1 by default): the request is still
    plain HTTP and redirected to HTTPS."""
    env = {"DATABASE_URL": this_database(tmp_path), "DJANGO_SECURE_SSL_REDIRECT": "1"}
    with WSGI_SERVERS[server](env) as (base, _):
        status, location = _scheme_seen(base, {"X-Forwarded-Proto": "https"})
    assert status == 301
    assert location.startswith("https://")


def test_uwsgi_believes_a_forwarded_scheme_only_behind_a_tls_proxy(tmp_path):
    """uWSGI would take `X-Forwarded-Ssl: on` (or X-Forwarded-Proto) from any client as
    HTTPS (config.handlers.TransportScheme undoes it); with DJANGO_BEHIND_TLS_PROXY=1
    Django believes the proxy's `X-Forwarded-Proto: https`, and nothing else."""
    env = {"DATABASE_URL": this_database(tmp_path), "DJANGO_SECURE_SSL_REDIRECT": "1"}
    with uwsgi(env) as (base, _):
        assert _scheme_seen(base, {"X-Forwarded-Ssl": "on"})[0] == 301
    with uwsgi({**env, "DJANGO_BEHIND_TLS_PROXY": "1"}) as (base, _):
        assert _scheme_seen(base, {"X-Forwarded-Proto": "https"}) == (200, "")
        assert _scheme_seen(base, {"X-Forwarded-Ssl": "on"})[0] == 301


def _kept_alive(base: str, path: str, headers: dict, count: int) -> list[tuple[int, str]]:
    """`count` GETs of `path` by one http.client connection, which keeps it open unless
    the answer says `Connection: close` (then it opens another): (status, Connection)."""
    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
    answers = []
    try:
        for _ in range(count):
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            answers.append((response.status, response.getheader("Connection", "")))
    finally:
        conn.close()
    return answers


def test_uwsgi_answers_more_keep_alive_clients_than_it_has_threads(tmp_path):
    """One worker of two threads, six clients at once, each sending three requests as a
    keep-alive client would: every request is answered. uWSGI closes each connection
    after its answer and says so (config/uwsgi.ini), so no thread stays with an idle
    connection while other clients wait (they would time out here)."""
    member = MemberFactory(platform="web", external_id="uwsgi-1")
    token = create_key(label="uwsgi", scopes=["ledger:read"]).token
    path = f"/api/v1/ledger/members/{member.pk}/balance"
    server = uwsgi({"DATABASE_URL": this_database(tmp_path)}, threads=2)
    with server as (base, _), ThreadPoolExecutor(6) as pool:
        calls = [
            pool.submit(_kept_alive, base, path, {"Authorization": f"Bearer {token}"}, 3)
            for _ in range(6)
        ]
        answers = [answer for call in calls for answer in call.result(timeout=120)]
    assert answers == [(200, "close")] * 18


def test_uwsgi_answers_a_request_with_long_headers_and_one_with_a_huge_body(tmp_path):
    """A 20 KB Authorization header gets the API's 401 (uWSGI's default buffer would drop
    the request without an answer); a 3 MB body gets a 4xx, never a dropped connection
    or a 5xx, and writes nothing."""
    member = MemberFactory(platform="web", external_id="uwsgi-2")
    token = create_key(label="uwsgi", scopes=["ledger:write"]).token
    transfers = Transfer.objects.count()
    with uwsgi({"DATABASE_URL": this_database(tmp_path)}) as (base, _):
        long, _ = _call(
            f"{base}/api/v1/ledger/members/{member.pk}/balance",
            headers={"Authorization": "Bearer " + "x" * 20_000},
        )
        # Headers announcing 3 MB and the body's first 100 KB: the server answers without
        # reading the rest (a client sending it all could see its send reset).
        head = (
            f"POST /api/v1/ledger/awards HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nIdempotency-Key: huge-1\r\n"
            "Content-Type: application/json\r\nContent-Length: 3000000\r\n\r\n"
        )
        body = json.dumps({"member_id": member.pk, "amount": 1, "reason": "r" * 3_000_000})
        with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), 30) as sock:
            sock.sendall(head.encode() + body[:100_000].encode())
            answer = sock.recv(4096)
        huge = int(answer.split(b" ", 2)[1])
    assert long == 401
    assert 400 <= huge < 500
    assert Transfer.objects.count() == transfers


def test_uwsgi_finishes_a_request_in_flight_when_told_to_stop(tmp_path):
    """SIGTERM (a deploy) while a long-poll waits: the answer still arrives, then uWSGI
    exits (config/uwsgi.ini; its own SIGTERM would cut the request)."""
    token = create_key(label="uwsgi", scopes=["events:read"]).token
    with uwsgi({"DATABASE_URL": this_database(tmp_path)}) as (base, proc):
        # Answered: a worker has loaded the app (the master listens before it has).
        assert _call(f"{base}/api/v1/openapi.json")[0] == 200
        with ThreadPoolExecutor(1) as pool:
            polled = pool.submit(
                _call,
                f"{base}/api/v1/events?after=999999999&wait=4",
                headers={"Authorization": f"Bearer {token}"},
            )
            time.sleep(1.5)  # the poll is in its wait
            proc.terminate()
            status, body = polled.result(timeout=30)
        assert proc.wait(timeout=30) is not None
    assert status == 200, body
    assert json.loads(body)["events"] == []
