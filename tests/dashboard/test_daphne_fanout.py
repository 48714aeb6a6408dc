"""Under daphne, stream events are written as frames built once per event (the fan-out's
fast path, `dashboard.wire`), and a client reads them as ordinary websocket messages."""

from __future__ import annotations

import json
import time

import pytest
from websockets.sync.client import connect

from tests.servers import (
    daphne,
    member_and_stream_token,
    redis_server,
    relay,
    run_django,
    stream_env,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.timeout(120),
]


def test_daphne_writes_each_event_as_one_prepared_frame_the_client_reads(tmp_path):
    with redis_server() as (redis_url, _):
        env = stream_env(tmp_path, redis_url)
        made = member_and_stream_token(env, "fanout-1")
        with daphne(env) as base, relay(env, tmp_path / "relay.log"):
            url = base.replace("http", "ws") + f"/ws/stream/?token={made['token']}"
            with (
                connect(url, origin=base, open_timeout=10) as one,
                connect(url, origin=base, open_timeout=10) as two,
            ):
                hellos = [json.loads(ws.recv(timeout=10)) for ws in (one, two)]
                assert [h["type"] for h in hellos] == ["hello", "hello"]
                paid = run_django(
                    env,
                    f"""
                    from accounts.models import Member
                    from ledger.actions import award
                    t = award(Member.objects.get(pk={made["member"]}), 42, reason="fan-out",
                              idempotency_key="fanout-a")
                    print(t.pk)
                    """,
                )
                for ws in (one, two):
                    while (msg := json.loads(ws.recv(timeout=10)))["type"] != "event":
                        pass
                    assert msg["kind"] == "ledger.transfer_posted"
                    assert msg["data"]["transfer_id"] == paid
                    assert msg["seq"] > hellos[0]["seq"]
                # The hub writes its connections to the fleet (heartbeat, every 5 s).
                deadline = time.monotonic() + 15
                while True:
                    fleet = run_django(
                        env,
                        """
                        from dashboard.hub import read_fleet
                        print(json.dumps(read_fleet()))
                        """,
                    )
                    ours = [
                        c for c in fleet if c["connection"] in {h["connection"] for h in hellos}
                    ]
                    if len(ours) == 2 or time.monotonic() > deadline:
                        break
                    time.sleep(1)
                assert [c["sending"] for c in ours] == ["frame", "frame"]
