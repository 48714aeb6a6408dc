"""The ledger's integrity checks: quiet on a ledger the actions built, and each one finds
the corruption it exists for, planted as only something going around Concord could (raw
SQL with the database's own rules lifted for the rest of the test's transaction)."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from integrity.registry import Violations, all_checks, get_check
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
from ledger.models import (
    Account,
    Achievement,
    AchievementRule,
    Currency,
    Hold,
    HoldStatus,
    MemberAchievement,
    Posting,
    Transfer,
    TransferKind,
)
from tests.factories import MemberFactory
from tests.helpers import integrity_json as report

pytestmark = pytest.mark.django_db

LEDGER_CHECKS = [
    "ledger.achievements_paid_once",
    "ledger.balance_matches_postings",
    "ledger.configuration_history_current",
    "ledger.held_matches_pending_holds",
    "ledger.members_have_wallets",
    "ledger.no_expired_pending_hold",
    "ledger.no_negative_wallet",
    "ledger.one_transfer_per_key",
    "ledger.reversals_mirror_originals",
    "ledger.transfers_balanced",
    "ledger.wallet_versions_continuous",
]


# --- running the report ---------------------------------------------------------------


def found(name: str) -> dict:
    """Run check `name` alone through `manage.py integrity_report`; it must fail."""
    code, body = report("--check", name)
    assert code == 1, body
    assert body["ok"] is False
    [result] = body["checks"]
    assert result["name"] == name
    assert result["status"] == "failed", result
    return result


def assert_found(name: str, *ids) -> None:
    result = found(name)
    assert result["violations"] == len(ids), result
    assert result["sample"] == list(ids), result


# --- planting corruption --------------------------------------------------------------


def db_time(value):
    return connection.ops.adapt_datetimefield_value(value)


# --- a clean ledger, built only through the actions ----------------------------------


def wallet(member, currency: str = "points") -> Account:
    return Account.objects.get(member=member, currency__code=currency)


def postings_of(account: Account):
    return Posting.objects.filter(account=account).order_by("version")


def make_achievements(points: Currency, credits: Currency) -> tuple:
    """`rich` (a balance of 450 points), `steady` (a 3-day streak), `first_stream` (granted,
    rewarded) and `badge` (granted, no reward)."""
    rich = Achievement.objects.create(
        code="rich",
        name="Rich",
        rule=AchievementRule.BALANCE,
        threshold=450,
        reward_amount=10,
        reward_currency=points,
    )
    steady = Achievement.objects.create(
        code="steady",
        name="Three days in a row",
        rule=AchievementRule.STREAK,
        threshold=3,
        reward_amount=5,
        reward_currency=credits,
    )
    first_stream = Achievement.objects.create(
        code="first-stream",
        name="First stream",
        rule=AchievementRule.GRANTED,
        reward_amount=25,
        reward_currency=points,
    )
    badge = Achievement.objects.create(code="badge", name="Badge", rule=AchievementRule.GRANTED)
    return rich, steady, first_stream, badge


def register_members() -> tuple:
    """alice and bob, then a `gems` currency, then carol (referred by alice): only carol
    has a gems wallet."""
    alice = MemberFactory(platform="telegram", external_id="1001", username="alice")
    bob = MemberFactory(platform="discord", external_id="2002", username="bob")
    # A currency opened after alice and bob registered: only later members get its wallet.
    Currency.objects.create(code="gems", name="Gems")
    carol = MemberFactory(
        platform="web", external_id="3003", username="carol", referral_code=alice.referral_code
    )
    assert not Account.objects.filter(member__in=[alice, bob], currency__code="gems").exists()
    return alice, bob, carol


def hold_in_every_state(alice, bob, carol, now) -> Hold:
    """One hold captured, one released, one lapsed (expired by the sweep); the pending one."""
    captured = hold(
        alice,
        30,
        sink="reading",
        reason="Reading",
        idempotency_key="hold-captured",
        expires_at=now + timedelta(hours=1),
    )
    capture(captured)
    released = hold(
        bob,
        10,
        sink="reading",
        reason="Reading",
        idempotency_key="hold-released",
        expires_at=now + timedelta(hours=1),
    )
    release(released)
    hold(
        carol,
        5,
        sink="reading",
        reason="Reading",
        idempotency_key="hold-lapsed",
        expires_at=now + timedelta(minutes=1),
    )
    assert expire_holds(now=now + timedelta(minutes=2)) == 1
    return hold(
        alice,
        15,
        sink="reading",
        reason="Reading",
        idempotency_key="hold-pending",
        expires_at=now + timedelta(hours=1),
    )


@pytest.fixture
def ledger(db):
    now = timezone.now()
    points = Currency.objects.get(code="points")
    credits = Currency.objects.get(code="credits")
    rich, steady, first_stream, badge = make_achievements(points, credits)
    alice, bob, carol = register_members()

    award(alice, 300, reason="Stream", idempotency_key="award-1")  # reaches `rich`
    award_many([(alice, 20), (bob, 30), (alice, 5)], reason="Event", idempotency_key="event-1")
    award(bob, 40, currency="credits", reason="Quiz", idempotency_key="award-credits")
    spend(alice, 50, sink="reading", reason="Reading", idempotency_key="spend-1")
    transfer(alice, bob, 25, reason="Gift", idempotency_key="gift-1")
    mistake = award(bob, 60, reason="Oops", idempotency_key="award-mistake")
    mistake_reversal = reverse(mistake, reason="Wrong member", idempotency_key="undo-mistake")
    purchase = spend(
        bob, 20, kind=TransferKind.PURCHASE, sink="shop", reason="Shop", idempotency_key="buy-1"
    )
    refund = reverse(purchase, reason="Returned", idempotency_key="undo-buy-1")
    grant_achievement(alice, first_stream)
    grant_achievement(bob, badge)
    for day in (date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)):
        record_activity(bob, day)  # reaches `steady`
    pending = hold_in_every_state(alice, bob, carol, now)

    built = SimpleNamespace(
        alice=alice,
        bob=bob,
        carol=carol,
        rich=rich,
        steady=steady,
        first_stream=first_stream,
        badge=badge,
        award=Transfer.objects.get(idempotency_key="award-1"),
        mistake=mistake,
        mistake_reversal=mistake_reversal,
        purchase=purchase,
        refund=refund,
        pending=pending,
    )
    # What was built is what the tests below rely on.
    assert MemberAchievement.objects.filter(member=alice, achievement=rich).exists()
    assert MemberAchievement.objects.filter(member=bob, achievement=steady).exists()
    assert MemberAchievement.objects.get(member=bob, achievement=badge).transfer_id is None
    assert {h.idempotency_key: h.status for h in Hold.objects.all()} == {
        "hold-captured": HoldStatus.CAPTURED,
        "hold-released": HoldStatus.RELEASED,
        "hold-lapsed": HoldStatus.EXPIRED,
        "hold-pending": HoldStatus.PENDING,
    }
    assert wallet(alice).held == 15
    assert Account.objects.filter(member=carol).count() == 3
    return built


# --- clean --------------------------------------------------------------------------


def test_every_ledger_rule_has_a_registered_check():
    assert sorted(c.name for c in all_checks() if c.name.startswith("ledger.")) == LEDGER_CHECKS


@pytest.mark.parametrize("name", LEDGER_CHECKS)
def test_a_ledger_built_through_the_actions_is_clean(ledger, name):
    assert get_check(name).func() == Violations(count=0, sample=[])
    code, body = report("--check", name)
    assert code == 0
    assert body["ok"] is True
    [result] = body["checks"]
    assert (result["name"], result["status"], result["violations"], result["sample"]) == (
        name,
        "ok",
        0,
        [],
    )


def test_the_whole_report_is_clean_on_that_ledger(ledger):
    code, body = report()
    assert code == 0
    assert body["ok"] is True
    assert {c["name"] for c in body["checks"]} >= set(LEDGER_CHECKS)


def test_an_unknown_ledger_check_could_not_run_exit_2(db):
    with pytest.raises(CommandError, match="unknown integrity check") as raised:
        call_command("integrity_report", "--check", "ledger.nope")
    assert raised.value.returncode == 2


# --- ledger.balance_matches_postings ----------------------------------------------------


def test_a_cached_balance_drifting_from_the_postings_is_found(ledger, bypass):
    drifted = wallet(ledger.alice)
    bypass.sql("UPDATE ledger_account SET balance = balance + 5 WHERE id = %s", [drifted.pk])
    assert_found("ledger.balance_matches_postings", drifted.pk)


def test_a_balance_on_a_wallet_without_postings_is_found(ledger, bypass):
    empty = wallet(ledger.carol, "credits")
    assert not empty.postings.exists()
    bypass.sql("UPDATE ledger_account SET balance = 5 WHERE id = %s", [empty.pk])
    assert_found("ledger.balance_matches_postings", empty.pk)


# --- ledger.no_negative_wallet ------------------------------------------------------------


@pytest.mark.parametrize(
    ("assignment", "lifted"),
    [
        (
            "balance = -5",
            ["ledger_account_balance_not_negative", "ledger_account_holds_covered"],
        ),
        ("held = -1", ["ledger_account_holds_covered"]),
        ("held = balance + 1", ["ledger_account_holds_covered"]),
    ],
    ids=["negative-balance", "negative-held", "held-above-balance"],
)
def test_a_wallet_below_zero_or_held_beyond_its_balance_is_found(
    ledger, bypass, assignment, lifted
):
    broken = wallet(ledger.bob)
    bypass.lift("ledger_account", *lifted)
    bypass.sql(f"UPDATE ledger_account SET {assignment} WHERE id = %s", [broken.pk])
    assert_found("ledger.no_negative_wallet", broken.pk)


# --- ledger.transfers_balanced -----------------------------------------------------------


def test_a_transfer_without_postings_is_found(ledger, bypass):
    [(empty_id,)] = bypass.sql(
        "INSERT INTO ledger_transfer (kind, idempotency_key, request_hash, reason, context,"
        " created_at) VALUES ('award', 'lost-postings', '', 'Lost', '{}', %s) RETURNING id",
        [db_time(timezone.now())],
    )
    assert_found("ledger.transfers_balanced", empty_id)


def test_a_transfer_whose_postings_do_not_sum_to_zero_is_found(ledger, bypass):
    issuance = Account.objects.get(currency__code="points", name="issuance")
    bypass.sql(
        "INSERT INTO ledger_posting (transfer_id, account_id, amount) VALUES (%s, %s, -1)",
        [ledger.award.pk, issuance.pk],
    )
    assert_found("ledger.transfers_balanced", ledger.award.pk)


def test_a_transfer_balanced_only_across_currencies_is_found(ledger, bypass):
    points = Account.objects.get(currency__code="points", name="issuance")
    credits = Account.objects.get(currency__code="credits", name="issuance")
    [(mixed_id,)] = bypass.sql(
        "INSERT INTO ledger_transfer (kind, idempotency_key, request_hash, reason, context,"
        " created_at) VALUES ('adjustment', 'mixed', '', 'Mixed', '{}', %s) RETURNING id",
        [db_time(timezone.now())],
    )
    bypass.sql(
        "INSERT INTO ledger_posting (transfer_id, account_id, amount)"
        " VALUES (%s, %s, 7), (%s, %s, -7)",
        [mixed_id, points.pk, mixed_id, credits.pk],
    )
    assert_found("ledger.transfers_balanced", mixed_id)


def test_transfers_balanced_finds_what_the_sum_per_currency_finds(ledger, bypass):
    """The check finds exactly what summing every transfer's postings per currency finds:
    an amount changed, a posting moved to another currency, three or four postings
    unbalanced in one currency, a single posting; not three balanced ones."""
    from ledger.integrity import transfers_balanced

    points = Account.objects.get(currency__code="points", name="issuance")
    credits = Account.objects.get(currency__code="credits", name="issuance")
    sink = Account.objects.get(currency__code="points", name="sink:shop")
    two = [
        t
        for t in Transfer.objects.order_by("pk")
        if Posting.objects.filter(transfer=t).count() == 2
    ]
    assert len(two) >= 3

    def planted(key: str, *postings) -> int:
        [(transfer_id,)] = bypass.sql(
            "INSERT INTO ledger_transfer (kind, idempotency_key, request_hash, reason, context,"
            " created_at) VALUES ('adjustment', %s, '', 'Planted', '{}', %s) RETURNING id",
            [key, db_time(timezone.now())],
        )
        for account, amount in postings:
            bypass.sql(
                "INSERT INTO ledger_posting (transfer_id, account_id, amount) VALUES (%s, %s, %s)",
                [transfer_id, account.pk, amount],
            )
        return transfer_id

    # Not cancelling: one amount changed; one posting moved to another currency.
    changed = Posting.objects.filter(transfer=two[0]).order_by("pk")[0]
    bypass.sql("UPDATE ledger_posting SET amount = amount + 1 WHERE id = %s", [changed.pk])
    moved = Posting.objects.filter(transfer__in=two[1:], account__member__isnull=True).first()
    other = credits if moved.account.currency.code == "points" else points
    bypass.sql("UPDATE ledger_posting SET account_id = %s WHERE id = %s", [other.pk, moved.pk])
    three_ok = planted("three-ok", (points, -5), (sink, 3), (sink, 2))
    three_bad = planted("three-bad", (points, -5), (sink, 3), (credits, 2))
    four_across = planted("four-across", (points, -4), (sink, 4), (credits, -3), (credits, 4))
    one = planted("one", (points, 9))
    expected = {two[0].pk, moved.transfer_id, three_bad, four_across, one}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.transfer_id FROM ledger_posting p"
            " JOIN ledger_account a ON a.id = p.account_id"
            " GROUP BY p.transfer_id, a.currency_id HAVING SUM(p.amount) <> 0"
        )
        by_currency = {row[0] for row in cursor.fetchall()}
    assert by_currency == expected
    assert three_ok not in by_currency
    found = transfers_balanced()
    assert found.count == len(expected)
    assert set(found.sample) == expected


# --- ledger.wallet_versions_continuous ----------------------------------------------------


def test_a_gap_in_a_wallets_versions_is_found(ledger, bypass):
    chain = wallet(ledger.alice)
    last = postings_of(chain).last()
    bypass.sql("UPDATE ledger_posting SET version = version + 1 WHERE id = %s", [last.pk])
    assert_found("ledger.wallet_versions_continuous", chain.pk)


def test_a_posting_recording_the_wrong_running_balance_is_found(ledger, bypass):
    chain = wallet(ledger.bob)
    first = postings_of(chain).first()
    bypass.sql(
        "UPDATE ledger_posting SET balance_after = balance_after + 1 WHERE id = %s", [first.pk]
    )
    assert_found("ledger.wallet_versions_continuous", chain.pk)


def test_a_wallet_posting_without_a_version_is_found(ledger, bypass):
    chain = wallet(ledger.carol)
    first = postings_of(chain).first()
    bypass.sql(
        "UPDATE ledger_posting SET version = NULL, balance_after = NULL WHERE id = %s", [first.pk]
    )
    assert_found("ledger.wallet_versions_continuous", chain.pk)


def test_a_wallet_version_not_counting_its_postings_is_found(ledger, bypass):
    chain = wallet(ledger.bob, "credits")
    bypass.sql("UPDATE ledger_account SET version = version + 1 WHERE id = %s", [chain.pk])
    assert_found("ledger.wallet_versions_continuous", chain.pk)


def test_a_lost_wallet_posting_is_found(ledger, bypass):
    chain = wallet(ledger.bob, "credits")
    first = postings_of(chain).first()
    bypass.sql("DELETE FROM ledger_posting WHERE id = %s", [first.pk])
    assert_found("ledger.wallet_versions_continuous", chain.pk)


def test_a_wallet_without_postings_claiming_a_version_is_found(ledger, bypass):
    empty = wallet(ledger.carol, "credits")
    assert not postings_of(empty).exists()
    bypass.sql("UPDATE ledger_account SET version = 2 WHERE id = %s", [empty.pk])
    assert_found("ledger.wallet_versions_continuous", empty.pk)


def test_wallets_broken_in_different_ways_are_each_found_once(ledger, bypass):
    """Each once, no sound wallet: a break mid-chain (its last posting sound), a last
    posting numbered past the wallet's version, a wallet's version behind its postings."""
    middle, past, behind = wallet(ledger.alice), wallet(ledger.bob), wallet(ledger.bob, "credits")
    assert postings_of(middle).count() > 2
    second = postings_of(middle)[1]
    bypass.sql(
        "UPDATE ledger_posting SET balance_after = balance_after + 7 WHERE id = %s", [second.pk]
    )
    bypass.sql(
        "UPDATE ledger_posting SET version = version + 5 WHERE id = %s",
        [postings_of(past).last().pk],
    )
    bypass.sql("UPDATE ledger_account SET version = version - 1 WHERE id = %s", [behind.pk])
    assert_found("ledger.wallet_versions_continuous", *sorted([middle.pk, past.pk, behind.pk]))


# --- ledger.one_transfer_per_key ----------------------------------------------------------


def test_two_transfers_under_one_idempotency_key_are_found(ledger, bypass):
    bypass.lift_unique("ledger_transfer", "idempotency_key")
    bypass.sql(
        "INSERT INTO ledger_transfer (kind, idempotency_key, request_hash, reason, context,"
        " created_at) SELECT kind, idempotency_key, request_hash, reason, context, created_at"
        " FROM ledger_transfer WHERE id = %s",
        [ledger.award.pk],
    )
    assert Transfer.objects.filter(idempotency_key="award-1").count() == 2
    assert_found("ledger.one_transfer_per_key", ledger.award.pk)


# --- ledger.reversals_mirror_originals ----------------------------------------------------


def test_a_reversal_undoing_only_part_of_its_original_is_found(ledger, bypass):
    reversal = ledger.mistake_reversal
    bypass.sql(
        "UPDATE ledger_posting SET amount = amount / 2 WHERE transfer_id = %s", [reversal.pk]
    )
    assert_found("ledger.reversals_mirror_originals", reversal.pk)


def test_a_reversal_taking_from_another_account_is_found(ledger, bypass):
    reversal = ledger.mistake_reversal
    sink = Account.objects.get(currency__code="points", name="sink:reading")
    bypass.sql(
        "UPDATE ledger_posting SET account_id = %s, balance_after = NULL, version = NULL"
        " WHERE transfer_id = %s AND account_id = %s",
        [sink.pk, reversal.pk, wallet(ledger.bob).pk],
    )
    assert reversal.postings.aggregate(total=Sum("amount")) == {"total": 0}
    assert_found("ledger.reversals_mirror_originals", reversal.pk)


def test_a_reversal_pointing_at_another_original_is_found(ledger, bypass):
    reversal = ledger.mistake_reversal
    bypass.sql(
        "UPDATE ledger_transfer SET reverses_id = %s WHERE id = %s", [ledger.award.pk, reversal.pk]
    )
    assert_found("ledger.reversals_mirror_originals", reversal.pk)


# --- ledger.held_matches_pending_holds ----------------------------------------------------


def test_a_hold_settled_without_freeing_its_amount_is_found(ledger, bypass):
    bypass.sql(
        "UPDATE ledger_hold SET status = 'released', settled_at = %s WHERE id = %s",
        [db_time(timezone.now()), ledger.pending.pk],
    )
    assert wallet(ledger.alice).held == 15
    assert_found("ledger.held_matches_pending_holds", ledger.pending.account_id)


def test_a_held_amount_without_a_pending_hold_is_found(ledger, bypass):
    drifted = wallet(ledger.bob)
    bypass.sql("UPDATE ledger_account SET held = held + 1 WHERE id = %s", [drifted.pk])
    assert_found("ledger.held_matches_pending_holds", drifted.pk)


# --- ledger.no_expired_pending_hold -------------------------------------------------------


def backdate(bypass, pending: Hold, *, expired_for: timedelta) -> None:
    expires_at = timezone.now() - expired_for
    bypass.sql(
        "UPDATE ledger_hold SET created_at = %s, expires_at = %s WHERE id = %s",
        [db_time(expires_at - timedelta(hours=1)), db_time(expires_at), pending.pk],
    )


def test_a_hold_left_pending_long_past_its_expiry_is_found(ledger, bypass):
    backdate(bypass, ledger.pending, expired_for=timedelta(minutes=10))
    assert_found("ledger.no_expired_pending_hold", ledger.pending.pk)


def test_a_hold_just_past_its_expiry_is_within_the_grace(ledger, bypass):
    backdate(bypass, ledger.pending, expired_for=timedelta(minutes=2))
    code, body = report("--check", "ledger.no_expired_pending_hold")
    assert code == 0
    assert body["checks"][0]["status"] == "ok"


# --- ledger.members_have_wallets ----------------------------------------------------------


@pytest.mark.parametrize("currency", ["credits", "gems"])
def test_a_member_missing_a_signup_wallet_is_found(ledger, bypass, currency):
    missing = wallet(ledger.carol, currency)
    assert not missing.postings.exists()
    assert not missing.holds.exists()
    bypass.sql("DELETE FROM ledger_account WHERE id = %s", [missing.pk])
    assert_found("ledger.members_have_wallets", ledger.carol.pk)


# --- ledger.achievements_paid_once --------------------------------------------------------


def plant_grant(bypass, member, achievement, transfer_id) -> int:
    [(grant_id,)] = bypass.sql(
        "INSERT INTO ledger_memberachievement (member_id, achievement_id, granted_at,"
        " transfer_id) VALUES (%s, %s, %s, %s) RETURNING id",
        [member.pk, achievement.pk, db_time(timezone.now()), transfer_id],
    )
    return grant_id


def test_a_rewarded_achievement_granted_without_its_reward_is_found(ledger, bypass):
    grant_id = plant_grant(bypass, ledger.bob, ledger.first_stream, None)
    assert_found("ledger.achievements_paid_once", grant_id)


def test_a_reward_paid_to_another_member_is_found(ledger, bypass):
    to_alice = award(ledger.alice, 25, reason="Stream", idempotency_key="award-25")
    grant_id = plant_grant(bypass, ledger.bob, ledger.first_stream, to_alice.pk)
    assert_found("ledger.achievements_paid_once", grant_id)


def test_a_reward_of_the_wrong_amount_is_found(ledger, bypass):
    short = award(ledger.bob, 24, reason="Stream", idempotency_key="award-24")
    grant_id = plant_grant(bypass, ledger.bob, ledger.first_stream, short.pk)
    assert_found("ledger.achievements_paid_once", grant_id)


def test_a_reward_paid_in_the_wrong_currency_is_found(ledger, bypass):
    in_credits = award(ledger.bob, 25, currency="credits", reason="Stream", idempotency_key="c25")
    grant_id = plant_grant(bypass, ledger.bob, ledger.first_stream, in_credits.pk)
    assert_found("ledger.achievements_paid_once", grant_id)
