"""What each app does to write every kind of event it has, for the payload contract
(tests/events/test_payload_contract.py): one scenario per app, through its actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone

from accounts.actions import (
    cancel_subscription,
    change_tier,
    expire_subscriptions,
    link_identity,
    register_member,
    renew_subscription,
    start_subscription,
    update_member,
    update_profile,
)
from accounts.models import Subscription
from dashboard.actions import create_token, revoke
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


def accounts(staff) -> None:
    referrer = register_member(
        platform="telegram", external_id="9001", username="ref", email="ref@example.org"
    ).member
    referred = register_member(
        platform="discord",
        external_id="9002",
        username="",
        referral_code=referrer.referral_code,
        actor=staff,
    ).member
    update_member(
        referred,
        display_name="Renamed",
        language="de",
        is_active=True,
        email="new@example.org",
        actor=staff,
    )
    update_member(referred, is_active=False, email="")
    link_identity(referred, platform="web", external_id="w-2", username="web")
    later = start_subscription(referred, tier="premium", expires_at=timezone.now() + timedelta(30))
    renew_subscription(later, period=timedelta(days=30), actor=staff)
    upgraded = change_tier(later, tier="professional", actor=staff)
    cancel_subscription(upgraded, actor=staff)
    start_subscription(referrer, tier="basic")  # no expiry
    now = timezone.now()
    lapsed = start_subscription(
        referred, tier="basic", starts_at=now - timedelta(2), expires_at=now
    )
    expire_subscriptions()
    assert Subscription.objects.get(pk=lapsed.pk).status == "expired"
    update_profile(
        referred,
        archetype="explorer",
        welcomed=True,
        preferences={"theme": "dark", "notifications": False},
        personality={"openness": 80},
        actor=staff,
    )


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
    client = Client()
    client.force_login(staff)
    exported = client.get("/dashboard/members/", {"format": "csv", "q": "a", "premium": "no"})
    assert exported.status_code == 200
    b"".join(exported.streaming_content)


def api(staff) -> None:
    from api.actions import create_key, revoke_key, rotate_key

    key = create_key(label="Quiz bot", scopes=["ledger:write"], actor=staff).key
    rotate_key(key.prefix, actor=staff)
    revoke_key(key.prefix, actor=staff)
    webhooks(staff)


def webhooks(staff) -> None:
    """An endpoint made, changed, disabled by a failure, enabled, redelivered, deleted."""
    from api import actions
    from api.models import WebhookDelivery

    key = actions.create_key(label="Hook bot", scopes=["events:read"], actor=staff).key
    endpoint = actions.create_endpoint(key, url="https://bot.example.org/h", actor=staff).endpoint
    actions.update_endpoint(endpoint.pk, kinds=["member.registered"], actor=staff)
    body = {"type": "member.registered", "timestamp": None, "seq": 1, "data": {}}
    message = {"seq": endpoint.position + 1, "kind": "member.registered", "body": body}
    position = endpoint.position
    actions.enqueue_deliveries(endpoint.pk, after=position, upto=position + 1, messages=[message])
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    now = timezone.now()
    actions.record_attempt(  # the schedule ran out: api.webhook_disabled
        delivery.pk, at=now, ok=False, status_code=503, error="HTTP 503", duration_ms=1, schedule=[]
    )
    actions.update_endpoint(endpoint.pk, enabled=True, actor=staff)
    actions.redeliver(delivery.pk, actor=staff)
    actions.delete_endpoint(endpoint.pk, actor=staff)


def ops(staff) -> None:
    """An alert raised (a failed restore drill) and resolved (a drill that passed)."""
    from ops.alerts import evaluate
    from ops.models import DrillRun

    now = timezone.now()
    DrillRun.objects.create(started_at=now, finished_at=now, ok=False, error="planted")
    evaluate({"drill_failed": RULES["drill_failed"]})
    DrillRun.objects.create(started_at=now, finished_at=now, ok=True)
    evaluate({"drill_failed": RULES["drill_failed"]})
    # A selective restore's repair of one member's own fields (ops.selective's plan).
    from accounts.actions import register_member
    from ops.actions import repair_member
    from ops.selective import Plan, Repair

    member = register_member(platform="web", external_id="restored-1").member
    change = Repair("member", "display name", {"changes": {"display_name": "Restored"}})
    repair_member(Plan(member.pk, "backup.dump", repairs=[change]), actor=staff)


def integrity(staff) -> None:
    """A stored run of the whole report (the command, the schedule and "Run now")."""
    from integrity.actions import run_report

    run_report(actor=staff)


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


def payments(staff) -> None:
    """Every step of a payment and of a reading (payments.actions)."""
    from payments import actions as pay

    buyer = MemberFactory()
    for reference in ("c-paid", "c-failed"):
        pay.start_payment(
            buyer,
            provider="stripe",
            reference=reference,
            amount=99,
            currency="EUR",
            credit_amount=100,
            actor=staff,
        )
    pay.complete_payment("stripe", "c-paid", actor=staff)
    pay.fail_payment("stripe", "c-failed", error_message="declined", actor=staff)
    held = pay.begin_reading(buyer, spread="yes_no", price=10, idempotency_key="c-1")
    pay.finish_reading(held, cards=["The Sun"], interpretation="Yes.", actor=staff)
    pay.abandon_reading(pay.begin_reading(buyer, spread="yes_no", price=10, idempotency_key="c-3"))
    pay.refund_payment("stripe", "c-paid", reason="Chargeback", settle="clamp", actor=staff)


def privacy(staff) -> None:
    """Configuration changed (config.changed: PostgreSQL's trigger, SQLite's signal), a
    member erased, events and activity days archived. Runs first of all (SCENARIOS'
    order): it archives only what came before it, so the others' events stay."""
    import tempfile
    from pathlib import Path

    from django.db import transaction

    from accounts.actions import erase_member
    from config.history import acting
    from events.archive import archive_events
    from events.models import Event, RelayPosition
    from ledger.archive import archive_activity_days

    currency = Currency.objects.get(code="points")
    with transaction.atomic(), acting(staff):
        currency.name = "Points!"
        currency.save()
    # Archived below: what came before this scenario and its first event.
    last = Event.objects.order_by("-seq").first()
    RelayPosition.objects.update_or_create(
        name="default", defaults={"seq": last.seq if last else 0, "moved_at": timezone.now()}
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
    "payments": payments,
    "api": api,
    "integrity": integrity,
    "logins": logins,
    "ledger": ledger,
    "tournaments": tournaments,
    "narrative": narrative,
    "dashboard": dashboard,
    "ops": ops,
}
