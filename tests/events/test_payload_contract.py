"""The payload contract: every event an action writes matches its kind's schema
(`events.payloads`), on the backend under test.

The hot actions write their events from one raw statement on PostgreSQL and from Python
on SQLite; this file runs every action that publishes on the current backend (CI runs it
on both) and checks each event row it wrote, read back from the log as every reader reads
it. A key on one backend only, or a number that became a string, fails here. It also
holds the list of kinds: every kind written has a schema, every schema is written by some
action here. That every `publish(` in the apps' code builds its data with a payload
builder and names a kind with a schema: test_payload_publish_sites.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from accounts.actions import (
    cancel_subscription,
    link_identity,
    register_member,
    start_subscription,
    update_member,
)
from dashboard.actions import create_token, revoke
from events import payloads
from events.exceptions import InvalidPayload, UnknownEventKind
from events.models import Event
from ledger import payloads as ledger_payloads
from ledger.actions import (
    award,
    award_many,
    capture,
    expire_holds,
    grant_achievement,
    hold,
    record_activity,
    release,
    reverse,
    spend,
    transfer,
)
from ledger.models import Achievement, AchievementRule, Currency, Posting, Transfer
from narrative import payloads as narrative_payloads
from narrative.actions import (
    create_story,
    make_choice,
    publish_story,
    rebuild_member_state,
    rebuild_story,
    record_story_change,
    start_story,
)
from narrative.demo import load_demo_story
from narrative.models import Choice, ChoiceImpact, Decision, Relationship, Story
from ops.rules import RULES
from tests.factories import MemberFactory, TournamentFactory
from tests.tournaments.helpers import settle
from tournaments import payloads as tournament_payloads
from tournaments.actions import (
    cancel,
    check_in,
    close_check_in,
    disqualify,
    finalize,
    generate_bracket,
    open_check_in,
    record_result,
    register,
    register_many,
    update_tournament,
    withdraw,
)
from tournaments.models import Match, MatchStatus, Registration, Status, Tournament

pytestmark = pytest.mark.django_db


def last_seq() -> int:
    last = Event.objects.order_by("-seq").first()
    return last.seq if last else 0


def written_after(seq: int) -> list[Event]:
    return list(Event.objects.filter(seq__gt=seq).order_by("seq"))


def violations(events: list[Event]) -> list[str]:
    found = []
    for event in events:
        try:
            payloads.check(event.kind, event.data)
        except (InvalidPayload, UnknownEventKind) as error:
            found.append(f"#{event.seq} {error}")
    return found


def same_as_logged(event: Event | None) -> None:
    """What an action hands to the live layer is what the log holds (PostgreSQL: both
    come from the statement that wrote the row)."""
    assert event is not None
    assert event.data == Event.objects.get(seq=event.seq).data, event.kind


# What the Python builders make of the rows a hot statement wrote: on PostgreSQL the
# statement's own JSON must say the same, value for value.


def transfer_posted_from_rows(transfer_id: int) -> dict:
    written = Transfer.objects.get(pk=transfer_id)
    rows = list(
        Posting.objects.filter(transfer=written)
        .order_by("id")
        .values_list(
            "account__member_id",
            "account__name",
            "amount",
            "balance_after",
            "version",
            "account__currency__code",
        )
    )
    return ledger_payloads.transfer_posted(
        transfer_id=written.pk,
        kind=written.kind,
        currency=rows[0][5],
        reason=written.reason,
        reverses=written.reverses_id,
        postings=[
            ledger_payloads.posting(
                member_id=member, system=None if member else name, amount=a, balance=b, version=v
            )
            for member, name, a, b, v, _ in rows
        ],
    )


def registered_from_rows(registration) -> dict:
    row = Registration.objects.get(pk=registration.pk)
    cup = Tournament.objects.get(pk=row.tournament_id)
    return tournament_payloads.registered(
        tournament_id=cup.pk,
        registration_id=row.pk,
        member_id=row.member_id,
        status=row.status,
        waitlist_position=row.waitlist_position,
        transfer_id=row.fee_transfer_id,
        fee=cup.entry_fee if row.fee_transfer_id else 0,
        active_count=cup.active_count,
        waitlist_count=cup.waitlist_count,
        capacity=cup.capacity,
    )


def decision_made_from_rows(decision) -> dict:
    row = Decision.objects.select_related("choice", "story__currency").get(pk=decision.pk)
    impacted = ChoiceImpact.objects.filter(choice=row.choice).values_list("character_id")
    return narrative_payloads.decision_made(
        story_id=row.story_id,
        chapter_id=row.chapter_id,
        choice_id=row.choice_id,
        decision_id=row.pk,
        member_id=row.member_id,
        next_chapter_id=row.choice.next_chapter_id,
        ending=row.choice.ending,
        reward=row.reward,
        currency=row.story.currency.code,
        transfer_id=row.reward_transfer_id,
        levels=dict(
            Relationship.objects.filter(
                member_id=row.member_id, character_id__in=impacted
            ).values_list("character_id", "level")
        ),
    )


def transfers_match_their_rows(events: list[Event]) -> None:
    for event in events:
        if event.kind == "ledger.transfer_posted":
            assert event.data == transfer_posted_from_rows(event.data["transfer_id"])


# --- every action, by app -------------------------------------------------------------


def accounts(staff) -> None:
    referrer = register_member(
        platform="telegram", external_id="c-1", username="ref", email="ref@example.org"
    ).member
    referred = register_member(
        platform="discord",
        external_id="c-2",
        username="",
        referral_code=referrer.referral_code,
        actor=staff,
    ).member
    update_member(
        referred,
        display_name="Renamed",
        language="de",
        is_premium=True,
        is_active=True,
        email="new@example.org",
        actor=staff,
    )
    update_member(referred, is_active=False, email="")
    link_identity(referred, platform="web", external_id="w-2", username="web")
    later = start_subscription(referred, tier="premium", expires_at=timezone.now() + timedelta(30))
    cancel_subscription(later, actor=staff)
    start_subscription(referrer, tier="basic")  # no expiry


def ledger(staff) -> None:
    alice, bob, carol = (MemberFactory() for _ in range(3))
    gems = Currency.objects.create(code="gems", name="Gems", opens_on_signup=False)
    Achievement.objects.create(
        code="rich",
        name="Rich",
        rule=AchievementRule.BALANCE,
        threshold=150,
        reward_amount=5,
        reward_currency=gems,
    )
    paid = award(alice, 60, reason="quiz", idempotency_key="k-award", actor=staff)
    same_as_logged(paid.event)
    award(alice, 3, currency="gems", reason="new wallet", idempotency_key="k-gems")
    award_many(
        [(alice, 5), (bob, 7), (carol, 9)], reason="event", idempotency_key="k-many", actor=staff
    )
    spend(bob, 20, sink="reading", reason="tarot", idempotency_key="k-spend")
    moved = transfer(alice, bob, 15, reason="gift", idempotency_key="k-transfer")
    same_as_logged(reverse(moved, reason="undo", idempotency_key="k-reverse", actor=staff).event)
    soon = timezone.now() + timedelta(hours=1)
    held = hold(carol, 30, sink="reading", reason="a", idempotency_key="h-1", expires_at=soon)
    capture(held, actor=staff)
    freed = hold(carol, 10, sink="reading", reason="b", idempotency_key="h-2", expires_at=soon)
    release(freed)
    hold(carol, 10, sink="reading", reason="c", idempotency_key="h-3", expires_at=soon)
    assert expire_holds(now=soon + timedelta(seconds=1)) == 1
    medal = Achievement.objects.create(
        code="medal",
        name="Medal",
        rule=AchievementRule.GRANTED,
        reward_amount=25,
        reward_currency=Currency.objects.get(code="points"),
    )
    badge = Achievement.objects.create(code="badge", name="Badge", rule=AchievementRule.GRANTED)
    grant_achievement(bob, medal, actor=staff)
    grant_achievement(bob, badge)  # no reward: no currency, no transfer
    Achievement.objects.create(code="streak-2", name="Two days", rule="streak", threshold=2)
    today = timezone.localdate()
    record_activity(carol, today - timedelta(days=1))
    record_activity(carol, today, actor=staff)


def tournaments(staff) -> None:
    players = [MemberFactory() for _ in range(8)]
    draft = TournamentFactory(status=Status.DRAFT, actor=staff)
    update_tournament(draft, name="Renamed cup", capacity=8, actor=staff)
    cup = TournamentFactory(capacity=3, entry_fee=10, prize_table={"1": 300, "2": 100})
    seats = []
    for member in players[:6]:
        seats.append(register(cup, member, actor=staff))
        same_as_logged(seats[-1].event)
        assert seats[-1].event.data == registered_from_rows(seats[-1])
    assert [s.status for s in seats] == ["registered"] * 3 + ["waitlisted"] * 3
    # The first in line cannot pay when a slot frees: skipped, and the next is promoted.
    spend(players[3], 100, sink="drain", reason="spent it all", idempotency_key="k-drain")
    withdraw(seats[0], actor=staff)  # refunded; players[3] skipped, players[4] promoted
    withdraw(seats[5])  # off the waitlist: no refund
    waiting = register(cup, players[6])
    disqualify(seats[1], reason="cheating", actor=staff)  # players[6] promoted
    late = register(cup, players[7])  # waitlisted, promoted at close_check_in
    open_check_in(cup)
    check_in(seats[2])
    check_in(waiting)
    close_check_in(cup, actor=staff)  # players[4] no-show, players[7] checked in
    assert late.status == "waitlisted"
    generate_bracket(cup, actor=staff)
    while ready := Match.objects.filter(tournament=cup, status=MatchStatus.READY).first():
        record_result(ready, ready.home_id, "2-1", actor=staff)
    finalize(cup, actor=staff)
    free = TournamentFactory(capacity=2, entry_fee=0, prize_table={})
    register_many(free, players[:3], actor=staff)
    open_check_in(free)
    for registration in free.registrations.filter(status="registered"):
        check_in(registration)
    close_check_in(free)
    generate_bracket(free)
    final = Match.objects.get(tournament=free, status=MatchStatus.READY)
    record_result(final, final.away_id, "1-0")
    finalize(free)  # pays nobody: no transfer
    doomed = TournamentFactory(capacity=2, entry_fee=10)
    register(doomed, players[0])
    cancel(doomed, reason="venue flooded", actor=staff)
    settle()


def narrative(staff) -> None:
    story = load_demo_story()
    reader, other = MemberFactory(), MemberFactory()
    start_story(reader, story, actor=staff)
    start_story(other, story)

    def choose(member, text: str, played=story):
        decision = make_choice(member, Choice.objects.get(chapter__story=played, text=text))
        same_as_logged(decision.event)
        assert decision.event.data == decision_made_from_rows(decision)
        return decision

    choose(reader, "Row out to the wreck")  # a reward and one impact
    choose(reader, "Save the sailor")
    choose(reader, "Trust him")  # an ending
    choose(other, "Keep the lamp burning")
    choose(other, "Signal the harbour")  # no reward
    # An ending with no reward and no impacts: no transfer, no levels.
    quiet = create_story(
        title="Quiet",
        slug="quiet",
        characters=["Nobody"],
        chapters=[{"number": 1, "title": "Dusk", "choices": [{"text": "Go", "ending": "Home"}]}],
        published=True,
    )
    start_story(other, quiet)
    choose(other, "Go", played=quiet)
    Relationship.objects.filter(member=reader).update(level=0)
    rebuild_member_state(reader, actor=staff)
    Relationship.objects.filter(member=other).update(level=0)
    rebuild_story(story)
    record_story_change(story, actor=staff)
    draft = Story.objects.create(
        title="Draft", slug="draft", currency=Currency.objects.get(code="points")
    )
    record_story_change(draft)
    Story.objects.filter(pk=story.pk).update(published=False)
    publish_story(story, actor=staff)
    settle()


def dashboard(staff) -> None:
    token = create_token("leaderboard:points", label="Stream", actor=staff)
    create_token("ticker")
    revoke(token, actor=staff)


def api(staff) -> None:
    from api.actions import create_key, revoke_key, rotate_key

    key = create_key(label="Quiz bot", scopes=["ledger:write"], actor=staff).key
    rotate_key(key.prefix, actor=staff)
    revoke_key(key.prefix, actor=staff)


def ops(staff) -> None:
    """An alert raised (a failed restore drill) and resolved (a drill that passed)."""
    from ops.alerts import evaluate
    from ops.models import DrillRun

    now = timezone.now()
    DrillRun.objects.create(started_at=now, finished_at=now, ok=False, error="planted")
    evaluate({"drill_failed": RULES["drill_failed"]})
    DrillRun.objects.create(started_at=now, finished_at=now, ok=True)
    evaluate({"drill_failed": RULES["drill_failed"]})


def logins(staff) -> None:
    """Staff logins locked (accounts.logins) through the admin's login view: a username
    (the event names it) and an address tried with usernames that name nobody (it does
    not)."""

    def fail(username: str, address: str) -> None:
        response = Client().post(
            "/admin/login/", {"username": username, "password": "wrong"}, REMOTE_ADDR=address
        )
        assert response.status_code in (200, 429)

    # MD5: each attempt hashes a password; what is counted does not depend on the hasher.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        for _ in range(settings.LOGIN_FAILURE_LIMIT):
            fail(staff.get_username(), "192.0.2.1")
        for n in range(settings.LOGIN_FAILURE_LIMIT):
            fail(f"nobody-{n}", "198.51.100.2")


def privacy(staff) -> None:
    """Configuration changed (config.changed: PostgreSQL's trigger, SQLite's signal), a
    member erased, events and activity days archived."""
    import tempfile
    from pathlib import Path

    from accounts.actions import erase_member
    from config.history import acting
    from events.archive import archive_events
    from events.models import RelayPosition
    from ledger.archive import archive_activity_days

    currency = Currency.objects.get(code="points")
    with transaction.atomic(), acting(staff):
        currency.name = "Points!"
        currency.save()
    # Archived below: only what came before this scenario and its first event (run first
    # of all, so the other scenarios' events stay to be checked).
    RelayPosition.objects.update_or_create(
        name="default", defaults={"seq": last_seq(), "moved_at": timezone.now()}
    )
    member = MemberFactory()
    erase_member(member, reason="subject request", actor=staff)
    record_activity(member, timezone.localdate() - timedelta(days=800))
    record_activity(member, timezone.localdate())
    with tempfile.TemporaryDirectory() as folder:
        assert archive_events(timedelta(days=1), Path(folder), now=timezone.now() + timedelta(2))
        assert archive_activity_days(timedelta(days=365), Path(folder))


SCENARIOS = {
    "privacy": privacy,
    "accounts": accounts,
    "api": api,
    "logins": logins,
    "ledger": ledger,
    "tournaments": tournaments,
    "narrative": narrative,
    "dashboard": dashboard,
    "ops": ops,
}


@pytest.mark.parametrize("app", sorted(SCENARIOS))
def test_every_event_an_action_writes_matches_its_kinds_schema(app, staff):
    after = last_seq()
    SCENARIOS[app](staff)
    written = written_after(after)
    assert written
    assert violations(written) == []
    transfers_match_their_rows(written)


def test_every_kind_with_a_schema_is_written_and_every_kind_written_has_one(staff):
    after = last_seq()
    for scenario in SCENARIOS.values():
        scenario(staff)
    written = written_after(after)
    assert violations(written) == []
    assert sorted({event.kind for event in written}) == payloads.kinds()


@pytest.mark.django_db(transaction=True)
def test_an_award_outside_a_transaction_writes_the_same_payloads(staff):
    """PostgreSQL posts an award outside a transaction as one statement in autocommit,
    then grants the balance achievements it reached: the same schemas hold."""
    member = MemberFactory()
    Achievement.objects.create(
        code="big",
        name="Big",
        rule=AchievementRule.BALANCE,
        threshold=150,
        reward_amount=5,
        reward_currency=Currency.objects.get(code="points"),
    )
    after = last_seq()
    assert not connection.in_atomic_block
    paid = award(member, 70, reason="quiz", idempotency_key="k-out", actor=staff)
    same_as_logged(paid.event)
    written = written_after(after)
    assert [event.kind for event in written] == [
        "ledger.transfer_posted",
        "ledger.transfer_posted",
        "ledger.achievement_granted",
    ]
    assert violations(written) == []
    transfers_match_their_rows(written)


# --- the checker itself -----------------------------------------------------------------


def test_the_checker_refuses_a_missing_key_an_extra_key_and_a_wrong_type():
    good = {
        "member_id": 1,
        "display_name": "a",
        "platform": "telegram",
        "external_id": "1",
        "username": "",
        "referred_by": None,
    }
    payloads.check("member.registered", good)
    with pytest.raises(InvalidPayload) as missing:
        payloads.check("member.registered", {k: v for k, v in good.items() if k != "username"})
    assert missing.value.problems == ["data: missing key 'username'"]
    with pytest.raises(InvalidPayload) as extra:
        payloads.check("member.registered", {**good, "email": "a@example.org"})
    assert extra.value.problems == ["data: unexpected key 'email'"]
    with pytest.raises(InvalidPayload) as wrong:
        payloads.check("member.registered", {**good, "member_id": "1", "referred_by": True})
    assert wrong.value.problems == [
        "data.member_id: expected int, got '1'",
        "data.referred_by: expected int | None, got True",
    ]


def test_the_checker_looks_inside_lists_and_objects_and_knows_optional_keys():
    posting = {"member_id": None, "system": "issuance", "amount": -5, "balance": None}
    data = {
        "transfer_id": 1,
        "kind": "award",
        "currency": "points",
        "reason": "r",
        "reverses": None,
        "postings": [posting],
    }
    with pytest.raises(InvalidPayload) as nested:
        payloads.check("ledger.transfer_posted", data)
    assert nested.value.problems == ["data.postings[0]: missing key 'version'"]
    payloads.check(
        "tournament.status_changed", {"tournament_id": 1, "from": "draft", "to": "registration"}
    )
    with pytest.raises(InvalidPayload) as optional:
        payloads.check(
            "tournament.status_changed",
            {"tournament_id": 1, "from": "a", "to": "b", "refunded": False},
        )
    assert optional.value.problems == ["data.refunded: expected int, got False"]
    with pytest.raises(InvalidPayload) as levels:
        payloads.check(
            "narrative.decision_made",
            {
                "story_id": 1,
                "chapter_id": 1,
                "choice_id": 1,
                "decision_id": 1,
                "member_id": 1,
                "next_chapter_id": None,
                "ending": "",
                "reward": 0,
                "currency": "points",
                "transfer_id": None,
                "levels": {"3": "10"},
            },
        )
    assert levels.value.problems == ["data.levels['3']: expected int, got '10'"]


def test_a_kind_without_a_schema_is_refused():
    with pytest.raises(UnknownEventKind):
        payloads.check("ledger.gift_sent", {})


def test_a_statement_cannot_build_other_keys_than_its_schema():
    from ledger.payloads import Posting

    with pytest.raises(TypeError, match="missing version"):
        payloads.sql_object(
            Posting, member_id="1", system="NULL", amount="1", balance="NULL", bonus="0"
        )
