"""What overlays and token streams reveal: only each event's public projection
(`dashboard.public`), live and replayed alike, and nothing of a kind without one.

The websockets run against the real ASGI application (as tests/dashboard/test_stream.py);
events come from the relay (the `relay` fixture on Redis, the hub's own on embedded
defaults) through the configured channel layer."""

from __future__ import annotations

import asyncio
import json
import typing

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts import actions as accounts
from config.asgi import application
from dashboard import actions as overlay
from dashboard import public
from events import payloads
from ledger import actions as ledger
from ledger.models import TransferKind
from tests.helpers import relay_caught_up

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
    pytest.mark.usefixtures("relay"),
]

ORIGIN = (b"origin", b"http://127.0.0.1")
TELEGRAM_ID = "7770001796535308"
STAFF_REASON = "Chargeback on card ending 4242, per Dana"

create_token = database_sync_to_async(overlay.create_token)
register = database_sync_to_async(accounts.register_member)
update = database_sync_to_async(accounts.update_member)
award = database_sync_to_async(ledger.award)


def communicator(path: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=[ORIGIN])


async def frames_until(comm, done, timeout: float = 5.0) -> list[str]:
    """Raw frames received until `done(parsed frame)` is true."""
    frames = []
    while True:
        text = await comm.receive_from(timeout=timeout)
        frames.append(text)
        if done(json.loads(text)):
            return frames


async def frames_for(comm, seconds: float) -> list[str]:
    """Every raw frame received in the next `seconds`."""
    frames = []
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        # receive_nothing, not a receive_from timeout: that would cancel the consumer.
        if not await comm.receive_nothing(timeout=0.05):
            frames.append(await comm.receive_from())
    return frames


async def connect(token, query: str = "") -> tuple[WebsocketCommunicator, list[str]]:
    """A connected stream and what it received up to its hello (the replay: everything
    committed before, once the relay has sent it)."""
    await relay_caught_up()
    comm = communicator(f"/ws/stream/?token={token.token}{query}")
    await comm.connect()
    return comm, await frames_until(comm, lambda m: m["type"] == "hello")


def events_in(frames: list[str]) -> list[dict]:
    return [m for m in map(json.loads, frames) if m["type"] == "event"]


def is_kind(kind: str):
    return lambda m: m["type"] == "event" and m["kind"] == kind


# --- registration ---------------------------------------------------------------------


async def test_a_member_registered_without_username_shows_no_external_id_on_any_stream():
    everything = await create_token("events")
    ticker = await create_token("ticker")
    live_all, _ = await connect(everything)
    live_ticker, _ = await connect(ticker, "&view=ticker")
    member = (await register(platform="telegram", external_id=TELEGRAM_ID)).member
    received = await frames_until(live_all, is_kind("member.registered"))
    received += await frames_until(live_ticker, is_kind("member.registered"))
    received += await frames_for(live_all, 0.5) + await frames_for(live_ticker, 0.5)
    for comm in (live_all, live_ticker):
        await comm.disconnect()

    replay_all, replayed = await connect(everything, "&after=0")
    replay_ticker, replayed_ticker = await connect(ticker, "&after=0&view=ticker")
    replayed += replayed_ticker + await frames_for(replay_all, 0.3)
    replayed += await frames_for(replay_ticker, 0.3)
    for comm in (replay_all, replay_ticker):
        await comm.disconnect()

    for frames in (received, replayed):
        registered = [e for e in events_in(frames) if e["kind"] == "member.registered"]
        assert registered, "no member.registered frame"
        for event in registered:
            assert event["data"] == {"member_id": member.pk, "display_name": member.display_name}
        text = "\n".join(frames)
        assert TELEGRAM_ID not in text
        assert "telegram" not in text.lower()
        assert '"external_id"' not in text
        assert '"username"' not in text
    tickers = [m for m in map(json.loads, received) if m["type"] == "ticker"]
    assert any(f"{member.display_name} joined" in i["text"] for t in tickers for i in t["items"])


async def test_an_old_event_naming_a_member_after_their_external_id_is_replayed_without_it():
    """Events written before names were neutral keep `telegram:<id>` in the log."""
    from django.db import transaction

    import events

    def old_registration():
        with transaction.atomic():
            events.publish(
                "member.registered",
                {
                    "member_id": 41,
                    "display_name": f"telegram:{TELEGRAM_ID}",
                    "platform": "telegram",
                    "external_id": TELEGRAM_ID,
                    "username": "",
                    "referred_by": None,
                },
            )

    token = await create_token("ticker")
    await database_sync_to_async(old_registration)()
    comm, frames = await connect(token, "&after=0")
    await comm.disconnect()
    (event,) = events_in(frames)
    assert event["data"] == {"member_id": 41, "display_name": public.UNNAMED}
    assert TELEGRAM_ID not in "".join(frames)


# --- member.updated -------------------------------------------------------------------


async def test_a_member_updated_with_an_email_never_reaches_a_token_stream(alice):
    token = await create_token("events")
    comm, _ = await connect(token)
    await update(alice, email="alice.private@example.org", language="de", is_active=False)
    renamed = await update(alice, display_name="Alice L.", email="alice.other@example.org")
    frames = await frames_until(comm, is_kind("member.updated"))
    frames += await frames_for(comm, 0.3)
    await comm.disconnect()

    replay, replayed = await connect(token, "&after=0")
    await replay.disconnect()

    for got in (frames, replayed):
        updates = [e for e in events_in(got) if e["kind"] == "member.updated"]
        # The first update changed nothing public: it is not sent at all.
        assert [e["data"] for e in updates] == [
            {"member_id": renamed.pk, "display_name": "Alice L."}
        ]
        text = "\n".join(got)
        assert "example.org" not in text
        assert "gmail" not in text.lower()
        assert "is_active" not in text
        assert "language" not in text


# --- staff's reasons ------------------------------------------------------------------


async def test_an_adjustment_reason_never_reaches_the_ticker(alice):
    token = await create_token("ticker")
    comm, _ = await connect(token, "&view=ticker")
    adjusted = await award(
        alice,
        50,
        kind=TransferKind.ADJUSTMENT,
        reason=STAFF_REASON,
        idempotency_key="adjust-1",
    )
    quiz = await award(alice, 5, reason="Quiz answer", idempotency_key="quiz-1")

    def has_both_items(m):
        texts = {i["seq"]: i["text"] for i in m.get("items", [])} if m["type"] == "ticker" else {}
        return len(texts) >= 2 and "Quiz answer" in " ".join(texts.values())

    frames = await frames_until(comm, has_both_items)
    frames += await frames_for(comm, 0.3)
    await comm.disconnect()
    replay, replayed = await connect(token, "&after=0&view=ticker")
    replayed += await frames_for(replay, 0.3)
    await replay.disconnect()

    for got in (frames, replayed):
        assert STAFF_REASON not in "\n".join(got)
        transfers = {
            e["data"]["transfer_id"]: e["data"]
            for e in events_in(got)
            if e["kind"] == "ledger.transfer_posted"
        }
        assert transfers[adjusted.pk] == {
            "transfer_id": adjusted.pk,
            "kind": "adjustment",
            "currency": "points",
            "reason": None,
            "postings": [{"member_id": alice.pk, "amount": 50}],
        }
        assert transfers[quiz.pk]["reason"] == "Quiz answer"  # a bot's announcement is public
    (ticker, *_) = [m for m in map(json.loads, reversed(frames)) if m["type"] == "ticker"]
    texts = [i["text"] for i in ticker["items"]]
    assert "alice +50 points (adjustment)" in texts
    assert "alice +5 points (Quiz answer)" in texts


# --- deny by default ------------------------------------------------------------------


async def test_a_kind_without_a_public_projection_reaches_no_token_stream(alice):
    token = await create_token("events")
    comm, _ = await connect(token)
    await database_sync_to_async(accounts.link_identity)(
        alice, platform="discord", external_id="123456789012345678", username="al"
    )
    await database_sync_to_async(accounts.start_subscription)(alice, tier="premium")
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()
    replay, frames = await connect(token, "&after=0")
    await replay.disconnect()
    replayed = events_in(frames)
    kinds = {e["kind"] for e in replayed}
    assert "member.identity_linked" not in kinds
    assert "subscription.started" not in kinds
    assert kinds <= set(public.PROJECTORS)


async def test_each_event_is_projected_once_whatever_the_number_of_clients(alice, monkeypatch):
    from dashboard import hub

    calls: list[int] = []
    real = hub.stream_text

    def counting(msg):
        calls.append(msg["seq"])
        return real(msg)

    monkeypatch.setattr(hub, "stream_text", counting)
    token = await create_token("events")
    clients = [(await connect(token))[0] for _ in range(3)]
    paid = await award(alice, 7, reason="Quiz answer", idempotency_key="once-1")
    seqs = set()
    for comm in clients:
        (event,) = events_in(await frames_until(comm, is_kind("ledger.transfer_posted")))
        assert event["data"]["transfer_id"] == paid.pk
        seqs.add(event["seq"])
        await comm.disconnect()
    (seq,) = seqs
    assert calls.count(seq) == 1


# --- the projectors themselves --------------------------------------------------------

# One event of each public kind as the actions write it (every field they put in).
WRITTEN = {
    "member.registered": {
        "member_id": 1,
        "display_name": "carol",
        "platform": "telegram",
        "external_id": "42",
        "username": "carol",
        "referred_by": 7,
    },
    "member.updated": {"member_id": 1, "changed": {"display_name": "C.", "email": "c@x.org"}},
    "ledger.transfer_posted": {
        "transfer_id": 9,
        "kind": "award",
        "currency": "points",
        "reason": "Quiz answer",
        "reverses": None,
        "postings": [
            {"member_id": 1, "system": None, "amount": 5, "balance": 105, "version": 2},
            {
                "member_id": None,
                "system": "issuance",
                "amount": -5,
                "balance": None,
                "version": None,
            },
        ],
    },
    "ledger.achievement_granted": {
        "member_id": 1,
        "achievement": "first-steps",
        "name": "First steps",
        "reward": 10,
        "currency": "points",
        "transfer_id": 10,
    },
    "tournament.created": {
        "tournament_id": 3,
        "name": "Cup",
        "game": "chess",
        "status": "registration",
        "format": "single_elimination",
        "capacity": 8,
        "entry_fee": 10,
    },
    "tournament.updated": {"tournament_id": 3, "changed": ["capacity"]},
    "tournament.status_changed": {
        "tournament_id": 3,
        "from": "registration",
        "to": "cancelled",
        "refunded": 2,
        "reason": "Dana's cousin was caught cheating",
    },
    "tournament.registered": {
        "tournament_id": 3,
        "registration_id": 5,
        "member_id": 1,
        "status": "registered",
        "waitlist_position": None,
        "transfer_id": 11,
        "fee": 10,
        "active_count": 1,
        "waitlist_count": 0,
        "capacity": 8,
    },
    "tournament.waitlisted": {
        "tournament_id": 3,
        "registration_id": 6,
        "member_id": 2,
        "status": "waitlisted",
        "waitlist_position": 1,
        "transfer_id": None,
        "fee": 0,
        "active_count": 8,
        "waitlist_count": 1,
        "capacity": 8,
    },
    "tournament.registered_many": {
        "tournament_id": 3,
        "registered": 2,
        "waitlisted": 1,
        "active_count": 8,
        "waitlist_count": 1,
        "capacity": 8,
    },
    "tournament.promoted": {
        "tournament_id": 3,
        "registration_id": 6,
        "member_id": 2,
        "status": "registered",
        "from_position": 1,
        "transfer_id": 12,
        "active_count": 8,
        "waitlist_count": 0,
        "capacity": 8,
    },
    "tournament.withdrawn": {
        "tournament_id": 3,
        "registration_id": 5,
        "member_id": 1,
        "was": "registered",
        "waitlist_position": None,
        "refund_transfer_id": 13,
        "active_count": 7,
        "waitlist_count": 0,
        "capacity": 8,
    },
    "tournament.disqualified": {
        "tournament_id": 3,
        "registration_id": 5,
        "member_id": 1,
        "reason": "Abusive messages to the organiser, see ticket 88",
        "active_count": 7,
        "waitlist_count": 0,
        "capacity": 8,
    },
    "tournament.checked_in": {"tournament_id": 3, "registration_id": 5, "member_id": 1},
    "tournament.no_show": {
        "tournament_id": 3,
        "registration_ids": [5],
        "member_ids": [1],
        "active_count": 7,
        "waitlist_count": 0,
        "capacity": 8,
    },
    "tournament.bracket_generated": {
        "tournament_id": 3,
        "format": "single_elimination",
        "players": 2,
        "rounds": 1,
        "matches": 1,
        "seeds": [{"registration_id": 5, "member_id": 1, "seed": 1}],
    },
    "tournament.match_recorded": {
        "tournament_id": 3,
        "match_id": 4,
        "round": 1,
        "slot": 0,
        "winner_registration_id": 5,
        "loser_registration_id": 6,
        "score": "2-1",
        "next_match_id": None,
    },
    "tournament.finalized": {
        "tournament_id": 3,
        "transfer_id": 14,
        "placements": [{"registration_id": 5, "member_id": 1, "placement": 1, "prize": 300}],
    },
    "narrative.story_published": {"story_id": 2, "title": "The Lighthouse Keeper"},
}

NEVER_PUBLIC = [
    "reason",
    "external_id",
    "username",
    "platform",
    "email",
    "balance",
    "system",
    "referred_by",
    "refund_transfer_id",
]


def test_every_public_kind_has_a_written_example():
    assert set(public.PROJECTORS) == set(WRITTEN)


@pytest.mark.parametrize("kind", sorted(WRITTEN))
def test_each_written_example_is_what_its_action_writes(kind):
    """The examples hold to the payload contract (`events.payloads`, which every action's
    events are held to): the projectors are tested on the data the log really holds."""
    assert payloads.problems(payloads.schema_of(kind), WRITTEN[kind]) == []


@pytest.mark.parametrize("kind", sorted(WRITTEN))
def test_a_projection_holds_only_the_fields_its_typed_dict_declares(kind):
    projected = public.project(kind, WRITTEN[kind])
    assert projected is not None
    shape = typing.get_type_hints(public.SHAPES[kind])
    assert set(projected) <= set(shape), set(projected) - set(shape)
    flat = json.dumps(projected)
    for name in NEVER_PUBLIC:
        if not (kind == "ledger.transfer_posted" and name == "reason"):
            assert f'"{name}"' not in flat, name
    assert "cheating" not in flat
    assert "ticket 88" not in flat


def test_a_transfer_shows_its_reason_only_for_kinds_written_for_members_to_read():
    for kind in TransferKind.values:
        data = {**WRITTEN["ledger.transfer_posted"], "kind": kind, "reason": "text"}
        shown = public.project("ledger.transfer_posted", data)["reason"]
        assert shown == ("text" if kind in public.PUBLIC_REASON_KINDS else None), kind
    assert {"adjustment", "reversal", "refund", "transfer"}.isdisjoint(public.PUBLIC_REASON_KINDS)


@pytest.mark.parametrize(
    "kind",
    [
        "member.identity_linked",
        "subscription.started",
        "subscription.cancelled",
        "ledger.hold_placed",
        "ledger.activity_recorded",
        "tournament.promotion_skipped",
        "narrative.decision_made",
        "narrative.member_rebuilt",
        "overlay.token_created",
        "staff.login_refused",
        "something.new",
    ],
)
def test_a_kind_without_a_projector_projects_to_nothing(kind):
    assert public.project(kind, {"member_id": 1, "email": "x@y.z"}) is None


def test_no_staff_kind_is_ever_public():
    assert not [kind for kind in public.PROJECTORS if kind.startswith("staff.")]


def test_a_member_update_without_a_public_change_projects_to_nothing():
    changed = {"email": "c@x.org", "language": "de", "is_active": False}
    assert public.project("member.updated", {"member_id": 1, "changed": changed}) is None


@pytest.mark.parametrize("data", [None, [], "text", {}, {"postings": "x"}, {"member_id": "1"}])
def test_malformed_data_projects_to_nothing_instead_of_failing(data):
    for kind in public.PROJECTORS:
        projected = public.project(kind, data)
        assert projected is None or isinstance(projected, dict)


# --- the staff feed -------------------------------------------------------------------


def test_the_staff_feed_names_members_by_display_name_only(alice):
    from dashboard import renders

    accounts.link_identity(alice, platform="discord", external_id="123456789012345678")
    accounts.update_member(alice, email="alice.private@example.org")
    lines = " | ".join(item.text for item in renders.feed())
    assert "alice" in lines
    assert "123456789012345678" not in lines
    assert "example.org" not in lines
    assert "1001" not in lines  # her Telegram id
