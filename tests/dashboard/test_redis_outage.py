"""Redis goes away and comes back, with real processes: daphne, a private redis-server,
writers in other processes and a websocket client.

While Redis is down, writes and pages keep working from the database; the connected
stream stays open; once Redis is back the relay (`manage.py run_relay`, retrying) sends
the missed event, and live updates resume by themselves."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request

import pytest
from websockets.sync.client import connect

from tests.servers import (
    daphne,
    member_and_stream_token,
    redis_server,
    relay,
    run_django,
    stop,
    stream_env,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.timeout(180),
]


def award(env: dict, member_id: int, amount: int, key: str) -> int:
    return run_django(
        env,
        f"""
        from accounts.models import Member
        from ledger.actions import award
        t = award(Member.objects.get(pk={member_id}), {amount}, reason="outage",
                  idempotency_key={key!r})
        print(t.pk)
        """,
    )


def next_event(ws, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no event arrived")
        msg = json.loads(ws.recv(timeout=left))
        if msg["type"] == "event":
            return msg


def test_pages_and_writes_survive_redis_going_away_and_live_updates_resume(tmp_path):
    with redis_server() as (redis_url, redis_proc):
        port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
        env = stream_env(tmp_path, redis_url)
        made = member_and_stream_token(env, "outage-1")
        with daphne(env) as base, relay(env, tmp_path / "relay.log"):
            ws_url = base.replace("http", "ws") + f"/ws/stream/?token={made['token']}"
            with connect(ws_url, origin=base, open_timeout=10) as ws:
                assert json.loads(ws.recv(timeout=10))["type"] == "hello"
                before = award(env, made["member"], 5, "outage-before")
                assert next_event(ws, 10)["data"]["transfer_id"] == before

                redis_proc.terminate()
                redis_proc.wait(timeout=10)

                # Writes keep working; the event waits in the log for the relay.
                during = award(env, made["member"], 7, "outage-during")
                # Pages keep working from the database (the cache is unreachable).
                status = run_django(
                    env,
                    f"""
                    from django.contrib.auth import get_user_model
                    from django.test import Client
                    staff = get_user_model().objects.create_superuser(
                        "outage-staff", "o@example.org", "pw-outage-1"  # roles: issue 12
                    )
                    client = Client(HTTP_HOST="127.0.0.1")
                    client.force_login(staff)
                    home = client.get("/dashboard/")
                    member = client.get("/dashboard/members/{made["member"]}/")
                    assert b'data-amount="112"' in member.content, member.content[-2000:]
                    print(json.dumps(f"{{home.status_code}} {{member.status_code}}"))
                    """,
                )
                assert status == "200 200"
                # And daphne itself serves pages (the overlay's, from the database).
                with urllib.request.urlopen(
                    f"{base}/overlays/{made['token']}/ticker/", timeout=10
                ) as page:
                    assert page.status == 200

                # Redis comes back (empty: it keeps nothing on disk), on the same port.
                redis_proc = subprocess.Popen(
                    [
                        "redis-server",
                        "--port",
                        str(port),
                        "--bind",
                        "127.0.0.1",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                try:
                    # The relay retries (at most 5 s apart) and the hub re-joins the group
                    # within its heartbeat (5 s), catching up from the log up to the
                    # relay's position: the missed event arrives either way.
                    missed = next_event(ws, 15)
                    assert missed["data"]["transfer_id"] == during
                    # And live updates resume by themselves.
                    after = award(env, made["member"], 9, "outage-after")
                    live = next_event(ws, 15)
                    assert live["data"]["transfer_id"] == after
                    assert live["seq"] > missed["seq"]
                finally:
                    stop(redis_proc)
