"""The websockets against the real ASGI application (Origin check, session auth, hub).

Each test runs its own event loop and so its own hub; events come from the relay (a
thread of this process: on Redis the `relay` fixture, as `manage.py run_relay` would run
it; on embedded defaults the hub's own)."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import transaction
from django.test import Client
from django.utils import timezone

from config.asgi import application
from dashboard import actions as overlay
from events.models import Event
from ledger import actions as ledger
from tests.helpers import relay_caught_up

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
    pytest.mark.usefixtures("relay"),
]

ORIGIN = (b"origin", b"http://127.0.0.1")
HOST = (b"host", b"127.0.0.1")  # a page of the dashboard's own origin: Origin matches Host


def communicator(path: str, *headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=[ORIGIN, HOST, *headers])


async def receive(comm: WebsocketCommunicator, timeout: float = 5.0) -> dict:
    return json.loads(await comm.receive_from(timeout=timeout))


async def receive_until(comm, wanted: str, timeout: float = 5.0) -> tuple[list[dict], dict]:
    """Messages up to the first of type `wanted` (skipping pings and snapshots)."""
    before = []
    while True:
        msg = await receive(comm, timeout)
        if msg["type"] == wanted:
            return before, msg
        if msg["type"] == "event":
            before.append(msg)


async def events_of(comm, count: int, timeout: float = 5.0) -> list[dict]:
    found = []
    while len(found) < count:
        msg = await receive(comm, timeout)
        if msg["type"] == "event":
            found.append(msg)
    return found


async def closed_with(comm) -> int:
    output = await comm.receive_output(timeout=5)
    while output["type"] != "websocket.close":
        output = await comm.receive_output(timeout=5)
    return output.get("code")


award = database_sync_to_async(ledger.award)
create_token = database_sync_to_async(overlay.create_token)


@pytest.fixture
def member(alice):
    return alice


@database_sync_to_async
def pay_public(title: str) -> Event:
    """A story published (an event every token stream is sent), committed."""
    import events
    from narrative import payloads as narrative

    with transaction.atomic():
        return events.publish(
            "narrative.story_published", narrative.story_published(story_id=2, title=title)
        )


async def pay(member, amount: int, key: str, currency: str = "points"):
    return await award(member, amount, currency=currency, reason="test", idempotency_key=key)


async def test_a_stream_without_a_token_is_closed_with_4401():
    comm = communicator("/ws/stream/")
    connected, _ = await comm.connect()
    assert connected
    assert await closed_with(comm) == 4401


async def test_a_forged_token_is_closed_with_4401():
    token = await create_token("events")
    forged = token.token[:-2] + ("AA" if not token.token.endswith("AA") else "BB")
    comm = communicator(f"/ws/stream/?token={forged}")
    await comm.connect()
    assert await closed_with(comm) == 4401


async def test_a_revoked_token_is_closed_with_4403():
    token = await create_token("events")
    await database_sync_to_async(overlay.revoke)(token)
    comm = communicator(f"/ws/stream/?token={token.token}")
    await comm.connect()
    assert await closed_with(comm) == 4403


async def test_a_bad_after_is_closed_with_4400():
    token = await create_token("events")
    comm = communicator(f"/ws/stream/?token={token.token}&after=-3")
    await comm.connect()
    assert await closed_with(comm) == 4400


@pytest.mark.parametrize("after", ["%C2%B2", "1" * 19, "%EF%BC%93"])  # ², too long, fullwidth 3
async def test_an_after_that_is_not_ascii_digits_is_closed_and_leaves_no_subscriber(after):
    from dashboard.hub import get_hub

    token = await create_token("events")
    comm = communicator(f"/ws/stream/?token={token.token}&after={after}")
    await comm.connect()
    assert await closed_with(comm) == 4400
    assert get_hub().subscribers == {}


async def test_a_connection_failing_after_it_subscribed_leaves_no_subscriber(monkeypatch):
    from dashboard.consumers import StreamConsumer
    from dashboard.hub import get_hub

    async def broken_open(self, after, watermark):
        raise RuntimeError("the replay's database went away")

    monkeypatch.setattr(StreamConsumer, "_open", broken_open)
    token = await create_token("events")
    comm = communicator(f"/ws/stream/?token={token.token}&after=1")
    await comm.connect()
    with pytest.raises(RuntimeError):
        await comm.receive_output(timeout=5)
    assert get_hub().subscribers == {}


async def test_a_foreign_origin_is_refused_at_the_dashboard_handshake(staff):
    # The stream accepts any Origin (its token is the credential): test_stream_abuse.py.
    cookie = await database_sync_to_async(session_cookie)(staff)
    comm = WebsocketCommunicator(
        application, "/ws/dashboard/", headers=[(b"origin", b"http://evil.test"), HOST, cookie]
    )
    connected, _ = await comm.connect()
    assert not connected


async def test_hello_carries_the_latest_seq_and_live_events_follow(member):
    token = await create_token("events")
    await relay_caught_up()
    comm = communicator(f"/ws/stream/?token={token.token}")
    await comm.connect()
    hello = await receive(comm)
    latest = await database_sync_to_async(lambda: Event.objects.latest("seq").seq)()
    assert hello == {
        "type": "hello",
        "seq": latest,
        "scope": "events",
        "connection": hello["connection"],
    }
    transfer = await pay(member, 7, "stream-live-1")
    (event,) = await events_of(comm, 1)
    assert event["seq"] > latest
    assert event["kind"] == "ledger.transfer_posted"
    assert event["data"]["transfer_id"] == transfer.pk
    assert set(event) == {"type", "seq", "kind", "at", "data"}
    await comm.disconnect()


async def test_a_leaderboard_scope_gets_only_its_currency(member):
    token = await create_token("leaderboard:credits")
    comm = communicator(f"/ws/stream/?token={token.token}")
    await comm.connect()
    await receive_until(comm, "hello")
    await pay(member, 5, "scope-points")
    credits = await pay(member, 6, "scope-credits", currency="credits")
    (event,) = await events_of(comm, 1)
    assert event["data"]["transfer_id"] == credits.pk
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()


async def test_reconnecting_with_the_last_seq_misses_nothing_and_repeats_nothing(member):
    token = await create_token("leaderboard:points")
    # The member's welcome bonus is a points transfer too: once the relay has sent it, it
    # is before the hello, not one of the three this stream must see live.
    await relay_caught_up()
    comm = communicator(f"/ws/stream/?token={token.token}")
    await comm.connect()
    await receive_until(comm, "hello")
    first = [await pay(member, 1, f"replay-a{i}") for i in range(3)]
    seen = await events_of(comm, 3)
    assert [e["data"]["transfer_id"] for e in seen] == [t.pk for t in first]
    last = seen[-1]["seq"]
    await comm.disconnect()

    missed = [await pay(member, 2, f"replay-b{i}") for i in range(4)]
    await database_sync_to_async(ledger.award)(
        member, 3, currency="credits", reason="other scope", idempotency_key="replay-c"
    )
    await relay_caught_up()  # what was written while away is in the past, not live
    again = communicator(f"/ws/stream/?token={token.token}&after={last}")
    await again.connect()
    replayed, hello = await receive_until(again, "hello")
    assert [e["data"]["transfer_id"] for e in replayed] == [t.pk for t in missed]
    assert all(e["seq"] > last for e in replayed)
    live = await pay(member, 4, "replay-d")
    (event,) = await events_of(again, 1)
    assert event["data"]["transfer_id"] == live.pk
    assert event["seq"] > hello["seq"]
    assert await again.receive_nothing(timeout=0.3)
    await again.disconnect()


@pytest.mark.postgres
async def test_a_client_ahead_of_its_hub_is_not_sent_again_what_it_said_it_has():
    """A client that moves from a daphne ahead to one behind (its hub has not yet had
    the relay's batch) reconnects with after= above that hub's watermark: the hub's
    next batch brings what the client has, and only what is newer goes out."""
    from narrative import payloads as narrative
    from tests.events.test_settled import hold_event, open_writing_transaction

    token = await create_token("events")
    comm = communicator(f"/ws/stream/?token={token.token}")
    await comm.connect()
    await receive_until(comm, "hello")
    data = json.dumps(narrative.story_published(story_id=1, title="Held back"))
    other = await database_sync_to_async(open_writing_transaction)(
        settings.DATABASES["default"]["NAME"]
    )
    try:
        # A transaction holds the lower seq: the relay waits for it (up to 2 s) before
        # sending the one committed above it, so the hub stays behind.
        held = hold_event(other, "narrative.story_published", data)
        above = (await pay_public("Above")).seq
        ahead = communicator(f"/ws/stream/?token={token.token}&after={above}")
        await ahead.connect()
        _, ahead_hello = await receive_until(ahead, "hello")
        assert ahead_hello["seq"] < held  # its hub is behind the client
        other.commit()
    finally:
        other.close()
    newer = (await pay_public("Newer")).seq
    assert [e["seq"] for e in await events_of(comm, 3)] == [held, above, newer]
    (event,) = await events_of(ahead, 1)
    assert event["seq"] == newer
    assert await ahead.receive_nothing(timeout=0.3)
    await comm.disconnect()
    await ahead.disconnect()


async def test_revoking_a_token_closes_its_connected_overlays():
    token = await create_token("ticker", label="to revoke")
    other = await create_token("ticker", label="stays")
    comm = communicator(f"/ws/stream/?token={token.token}")
    await comm.connect()
    await receive_until(comm, "hello")
    keep = communicator(f"/ws/stream/?token={other.token}")
    await keep.connect()
    await receive_until(keep, "hello")
    await database_sync_to_async(overlay.revoke)(token)
    assert await closed_with(comm) == 4403
    assert await keep.receive_nothing(timeout=0.3)
    await keep.disconnect()


async def test_a_leaderboard_view_gets_a_snapshot_and_coalesced_updates(member):
    token = await create_token("leaderboard:points")
    comm = communicator(f"/ws/stream/?token={token.token}&view=leaderboard")
    await comm.connect()
    await receive_until(comm, "hello")
    snapshot = await receive(comm)
    assert snapshot["type"] == "leaderboard"
    assert snapshot["currency"] == "points"
    for i in range(20):
        await pay(member, 10, f"burst-{i}")
    snapshots = []
    deadline = asyncio.get_running_loop().time() + 5
    while asyncio.get_running_loop().time() < deadline:
        msg = await receive(comm)
        if msg["type"] == "leaderboard":
            snapshots.append(msg)
            mine = [r for r in msg["rows"] if r["member_id"] == member.pk]
            if mine and mine[0]["amount"] == 100 + 200:  # the welcome bonus and the burst
                break
    assert snapshots, "no leaderboard update arrived"
    assert len(snapshots) < 20  # coalesced, not one per transfer
    await comm.disconnect()


def session_cookie(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def test_the_dashboard_socket_refuses_anonymous_visitors():
    comm = communicator("/ws/dashboard/")
    await comm.connect()
    assert await closed_with(comm) == 4401


async def test_the_dashboard_socket_refuses_members_who_are_not_staff(django_user_model):
    user = await database_sync_to_async(django_user_model.objects.create_user)(
        "plain", "x@y.z", "pw"
    )
    cookie = await database_sync_to_async(session_cookie)(user)
    comm = communicator("/ws/dashboard/", cookie)
    await comm.connect()
    assert await closed_with(comm) == 4403


async def test_the_dashboard_socket_sends_fragments_and_updates_them(staff, member):
    cookie = await database_sync_to_async(session_cookie)(staff)
    comm = communicator("/ws/dashboard/", cookie)
    await comm.connect()
    first = [await comm.receive_from(timeout=5) for _ in range(4)]
    assert any('id="counters"' in f and 'hx-swap-oob="true"' in f for f in first)
    assert any('id="leaderboard-points"' in f for f in first)
    await pay(member, 999, "dashboard-live")
    deadline = asyncio.get_running_loop().time() + 5
    updated = False
    while not updated and asyncio.get_running_loop().time() < deadline:
        fragment = await comm.receive_from(timeout=5)
        updated = 'id="leaderboard-points"' in fragment and 'data-amount="1099"' in fragment
    assert updated
    await comm.disconnect()


async def test_an_event_whose_writer_died_right_after_commit_reaches_a_client_once(member):
    """A crash between commit and anything after it: the relay reads the log, so the
    event is broadcast all the same, once."""
    from django.db import transaction

    token = await create_token("events")
    comm = communicator(f"/ws/stream/?token={token.token}")
    await comm.connect()
    await receive_until(comm, "hello")

    def commit_and_die():
        with transaction.atomic():
            transfer = ledger.award(member, 5, reason="lost", idempotency_key="relay-me")
            # Drop the post-commit callbacks, as a process killed right after COMMIT would.
            transaction.get_connection().run_on_commit = []
        return transfer

    transfer = await database_sync_to_async(commit_and_die)()
    seen = []  # the member's own registration events may come first (the relay sends all)
    while not any(e["data"].get("transfer_id") == transfer.pk for e in seen):
        seen += await events_of(comm, 1)
    assert await comm.receive_nothing(timeout=0.5)  # once
    await comm.disconnect()


@pytest.mark.skipif(
    bool(settings.REDIS_URL),
    reason="embedded defaults only: the serving process's own relay reads other processes' events",
)
async def test_on_embedded_defaults_events_written_by_another_process_arrive(member, monkeypatch):
    from django.db import connection as db

    from dashboard import public

    # Token streams get only kinds with a public projection: make this one, as written.
    monkeypatch.setitem(public.PROJECTORS, "elsewhere.happened", lambda data: data)
    token = await create_token("events")
    comm = communicator(f"/ws/stream/?token={token.token}")
    await comm.connect()
    await receive_until(comm, "hello")

    def written_elsewhere() -> int:
        # As another process would: a committed row, and no broadcast in this one.
        with db.cursor() as cursor:
            cursor.execute(
                "INSERT INTO events_event (kind, subject, data, created_at)"
                " VALUES ('elsewhere.happened', '', '{\"n\": 1}', %s) RETURNING seq",
                [db.ops.adapt_datetimefield_value(timezone.now())],
            )
            return cursor.fetchone()[0]

    seq = await database_sync_to_async(written_elsewhere)()
    (event,) = await events_of(comm, 1, timeout=3)
    assert (event["seq"], event["kind"], event["data"]) == (seq, "elsewhere.happened", {"n": 1})
    await comm.disconnect()


async def test_the_fleet_lists_connected_overlays_and_reload_reaches_one(staff):
    from dashboard.hub import get_hub, read_fleet, write_fleet

    token = await create_token("leaderboard:points", label="main stream")
    comm = communicator(f"/ws/stream/?token={token.token}&view=leaderboard")
    await comm.connect()
    _, hello = await receive_until(comm, "hello")
    await comm.send_to(
        text_data=json.dumps({"type": "ack", "seq": hello["seq"], "latency_ms": 12.5})
    )
    await asyncio.sleep(0.1)

    hub = get_hub()
    await database_sync_to_async(write_fleet)(hub.fleet())
    (row,) = [r for r in await database_sync_to_async(read_fleet)() if r["token_id"] == token.pk]
    assert (row["connection"], row["scope"], row["label"], row["latency_ms"]) == (
        hello["connection"],
        "leaderboard:points",
        "main stream",
        12.5,
    )

    def press_reload():
        client = Client()
        client.force_login(staff)
        page = client.get("/dashboard/overlays/fleet/")
        assert hello["connection"] in page.content.decode()
        return client.post(f"/dashboard/overlays/connections/{hello['connection']}/reload")

    response = await database_sync_to_async(press_reload)()
    assert response.status_code == 302
    _, reload = await receive_until(comm, "reload")
    assert reload == {"type": "reload"}
    await comm.disconnect()


async def test_a_token_revoked_from_the_dashboard_closes_its_overlay(staff):
    token = await create_token("ticker")
    comm = communicator(f"/ws/stream/?token={token.token}")
    await comm.connect()
    await receive_until(comm, "hello")

    def press_revoke():
        client = Client()
        client.force_login(staff)
        return client.post(f"/dashboard/overlays/{token.pk}/revoke")

    assert (await database_sync_to_async(press_revoke)()).status_code == 302
    assert await closed_with(comm) == 4403
