"""Every ledger rule the database holds, proven with raw SQL that skips the ORM and the
actions. Check and unique constraints run on both backends; the triggers (append-only
rows, balanced transfers, holds that settle once) on PostgreSQL only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, ProgrammingError, transaction
from django.utils import timezone

from ledger.achievements import grant_achievement, record_activity
from ledger.actions import hold, release, reverse
from ledger.models import (
    Account,
    Achievement,
    AchievementRule,
    Currency,
    Hold,
    MemberAchievement,
    Posting,
    Transfer,
    TransferKind,
)
from tests.helpers import insert, refused, sql, table_contents

pytestmark = pytest.mark.django_db

APPS = ("accounts", "events", "ledger")


def wallet_id(member, currency: str = "points") -> int:
    return Account.objects.get(member=member, currency__code=currency).pk


def system_id(name: str = "issuance", currency: str = "points") -> int:
    return Account.objects.get(member=None, currency__code=currency, name=name).pk


def currency_id(code: str) -> int:
    return Currency.objects.get(code=code).pk


def signup_transfer(member) -> Transfer:
    return Transfer.objects.get(idempotency_key=f"signup:{member.pk}:points")


def insert_transfer(key: str, *, kind: str = "award", reverses: int | None = None) -> int:
    statement, params = insert(
        "ledger_transfer",
        returning="id",
        kind=kind,
        idempotency_key=key,
        request_hash="",
        reason="raw",
        context="{}",
        created_at=timezone.now(),
        reverses_id=reverses,
    )
    return sql(statement, params)[0][0]


def insert_postings(transfer_id: int, *lines: tuple[int, int]) -> None:
    """One INSERT of (account id, amount) lines, without wallet fields."""
    values = ", ".join(["(%s, %s, %s)"] * len(lines))
    params = [value for account, amount in lines for value in (transfer_id, account, amount)]
    sql(f"INSERT INTO ledger_posting (transfer_id, account_id, amount) VALUES {values}", params)


# --- currency ----------------------------------------------------------------------------


def currency_row(**overrides) -> tuple[str, list]:
    values = {
        "code": "gems",
        "name": "Gems",
        "signup_bonus": 0,
        "referral_bonus": 0,
        "opens_on_signup": False,
        "created_at": timezone.now(),
        **overrides,
    }
    return insert("ledger_currency", **values)


def test_a_well_formed_currency_row_is_accepted(db):
    sql(*currency_row(code="gems-2_x"))
    assert Currency.objects.filter(code="gems-2_x").exists()


@pytest.mark.parametrize(
    "code", ["", "Gems", "_gems", "-gems", "two words", "gems!", "gems\n", "é"]
)
def test_currency_code_is_short_lowercase_and_plain(db, code):
    refused(*currency_row(code=code), constraint="ledger_currency_code_format")


def test_currency_code_is_unique(db):
    refused(*currency_row(code="points"), constraint="ledger_currency_code_key", unique=True)


@pytest.mark.parametrize("column", ["signup_bonus", "referral_bonus"])
def test_currency_bonuses_are_not_negative(db, column):
    refused(*currency_row(**{column: -1}), constraint="ledger_currency_bonuses_not_negative")


# --- account -----------------------------------------------------------------------------


def account_row(**overrides) -> tuple[str, list]:
    values = {
        "currency_id": currency_id("points"),
        "member_id": None,
        "name": "",
        "balance": 0,
        "held": 0,
        "version": 0,
        "created_at": timezone.now(),
        **overrides,
    }
    return insert("ledger_account", **values)


def test_a_member_has_one_wallet_per_currency(alice):
    refused(
        *account_row(member_id=alice.pk),
        constraint="ledger_account_member_currency_unique",
        unique=True,
    )
    # The same member in another currency is another wallet.
    sql(*currency_row(code="gems"))
    sql(*account_row(member_id=alice.pk, currency_id=currency_id("gems")))


def test_a_system_account_name_is_unique_per_currency(alice):
    refused(
        *account_row(name="issuance", balance=None, held=None, version=None),
        constraint="ledger_account_system_name_unique",
        unique=True,
    )
    # The same name in another currency is another account.
    sql(*account_row(name="issuance", balance=None, held=None, version=None,
                     currency_id=currency_id("credits")))  # fmt: skip


@pytest.mark.parametrize(
    ("assignment", "which"),
    [
        ("name = 'issuance'", "wallet"),
        ("balance = NULL", "wallet"),
        ("held = NULL", "wallet"),
        ("version = NULL", "wallet"),
        ("member_id = NULL", "wallet"),
        ("balance = 0", "system"),
        ("held = 0", "system"),
        ("version = 0", "system"),
        ("name = ''", "system"),
    ],
)
def test_an_account_is_either_a_wallet_or_a_system_account(alice, assignment, which):
    account = wallet_id(alice) if which == "wallet" else system_id()
    refused(
        f"UPDATE ledger_account SET {assignment} WHERE id = %s",
        [account],
        constraint="ledger_account_wallet_or_system",
    )


def test_a_wallet_balance_cannot_go_negative(alice):
    refused(
        "UPDATE ledger_account SET balance = -1 WHERE id = %s",
        [wallet_id(alice)],
        constraint="ledger_account_balance_not_negative",
    )


@pytest.mark.parametrize("held", ["balance + 1", "-1"])
def test_held_funds_are_never_negative_nor_above_the_balance(alice, held):
    refused(
        f"UPDATE ledger_account SET held = {held} WHERE id = %s",
        [wallet_id(alice)],
        constraint="ledger_account_holds_covered",
    )


def test_held_may_reach_the_whole_balance(alice):
    sql("UPDATE ledger_account SET held = balance WHERE id = %s", [wallet_id(alice)])
    assert Account.objects.get(pk=wallet_id(alice)).available == 0


def test_a_wallet_version_is_not_negative(alice):
    refused(
        "UPDATE ledger_account SET version = -1 WHERE id = %s",
        [wallet_id(alice)],
        constraint="ledger_account_version_not_negative",
    )


# --- transfer ----------------------------------------------------------------------------


def transfer_row(**overrides) -> tuple[str, list]:
    values = {
        "kind": "award",
        "idempotency_key": "raw-1",
        "request_hash": "",
        "reason": "raw",
        "context": "{}",
        "created_at": timezone.now(),
        "reverses_id": None,
        **overrides,
    }
    return insert("ledger_transfer", **values)


def test_a_well_formed_transfer_row_is_accepted(db):
    # (On PostgreSQL it would still need balanced postings to commit; see below.)
    sql(*transfer_row())
    assert Transfer.objects.filter(idempotency_key="raw-1").exists()


def test_a_transfer_idempotency_key_is_used_once(alice):
    refused(
        *transfer_row(idempotency_key=signup_transfer(alice).idempotency_key),
        constraint="ledger_transfer_idempotency_key_key",
        unique=True,
    )


def test_a_transfer_is_reversed_at_most_once(alice):
    original = signup_transfer(alice)
    reverse(original, reason="mistake", idempotency_key="undo-1")
    refused(
        *transfer_row(kind="reversal", reverses_id=original.pk),
        constraint="ledger_transfer_reversed_once",
        unique=True,
    )


@pytest.mark.parametrize("kind", ["gift", "", "AWARD", "award "])
def test_transfer_kind_must_be_known(db, kind):
    refused(*transfer_row(kind=kind), constraint="ledger_transfer_kind_valid")


def test_every_known_transfer_kind_is_accepted(db):
    for n, kind in enumerate(k for k in TransferKind.values if k != TransferKind.REVERSAL):
        sql(*transfer_row(kind=kind, idempotency_key=f"raw-{n}"))


def test_transfer_idempotency_key_cannot_be_blank(db):
    refused(*transfer_row(idempotency_key=""), constraint="ledger_transfer_key_not_blank")


def test_a_transfer_cannot_reverse_itself(db):
    refused(
        *transfer_row(id=10**9, kind="reversal", reverses_id=10**9),
        constraint="ledger_transfer_not_self_reversal",
    )


def test_a_reversal_names_its_original(alice):
    refused(*transfer_row(kind="reversal"), constraint="ledger_transfer_reversal_has_original")


def test_only_a_reversal_names_an_original(alice):
    refused(
        *transfer_row(kind="refund", reverses_id=signup_transfer(alice).pk),
        constraint="ledger_transfer_reversal_has_original",
    )


# --- posting -----------------------------------------------------------------------------


def posting_row(member, **overrides) -> tuple[str, list]:
    values = {
        "transfer_id": signup_transfer(member).pk,
        "account_id": wallet_id(member),
        "amount": 5,
        "balance_after": None,
        "version": None,
        **overrides,
    }
    return insert("ledger_posting", **values)


def balanced_postings(member, **overrides) -> tuple[str, list]:
    """`posting_row` and, in the same statement, the issuance posting that balances it:
    only the rule under test can refuse them (not the balance trigger)."""
    statement, params = posting_row(member, **overrides)
    amount = overrides.get("amount", 5)
    values = [signup_transfer(member).pk, system_id(), -amount, None, None]
    return f"{statement}, ({', '.join(['%s'] * len(values))})", [*params, *values]


def test_a_balanced_pair_of_postings_is_accepted(alice):
    sql(*balanced_postings(alice, balance_after=105, version=2))
    assert Posting.objects.filter(transfer=signup_transfer(alice)).count() == 4


def test_a_posting_amount_is_not_zero(alice):
    refused(*balanced_postings(alice, amount=0), constraint="ledger_posting_amount_not_zero")


# A check passes when it comes out NULL: `balance_after >= 0 AND version >= 1` is NULL,
# not false, when just one of the two is NULL (so the rule must say IS NOT NULL too).
@pytest.mark.parametrize(
    ("balance_after", "version"),
    [
        (105, None),
        (None, 2),
        (-1, 2),
        (105, 0),
        (105, -3),
    ],
)
def test_a_posting_has_both_wallet_fields_or_neither(alice, balance_after, version):
    refused(
        *balanced_postings(alice, balance_after=balance_after, version=version),
        constraint="ledger_posting_wallet_fields_together",
    )


def test_a_wallet_numbers_its_postings_once(alice):
    # The signup bonus is version 1 of alice's wallet.
    refused(
        *balanced_postings(alice, balance_after=105, version=1),
        constraint="ledger_posting_account_version_unique",
        unique=True,
    )


def test_system_postings_carry_no_version_so_never_collide(alice, bob):
    issuance = Posting.objects.filter(account_id=system_id())
    assert issuance.count() == 2
    assert set(issuance.values_list("version", "balance_after")) == {(None, None)}


# --- hold --------------------------------------------------------------------------------


def hold_row(member, **overrides) -> tuple[str, list]:
    now = timezone.now()
    values = {
        "account_id": wallet_id(member),
        "amount": 10,
        "sink": "sink:reading",
        "status": "pending",
        "idempotency_key": "raw-hold",
        "reason": "raw",
        "context": "{}",
        "created_at": now,
        "expires_at": now + timedelta(hours=1),
        "settled_at": None,
        "transfer_id": None,
        **overrides,
    }
    return insert("ledger_hold", **values)


SETTLED = timezone.now()


def test_a_well_formed_hold_row_is_accepted(alice):
    sql(*hold_row(alice))
    sql(*hold_row(alice, idempotency_key="raw-2", status="released", settled_at=SETTLED))
    sql(
        *hold_row(
            alice,
            idempotency_key="raw-3",
            status="captured",
            settled_at=SETTLED,
            transfer_id=signup_transfer(alice).pk,
        )
    )
    assert Hold.objects.count() == 3


@pytest.mark.parametrize("amount", [0, -10])
def test_a_hold_amount_is_positive(alice, amount):
    refused(*hold_row(alice, amount=amount), constraint="ledger_hold_amount_positive")


def test_a_hold_status_must_be_known(alice):
    refused(
        *hold_row(alice, status="frozen", settled_at=SETTLED),
        constraint="ledger_hold_status_valid",
    )


@pytest.mark.parametrize("expiry", [timedelta(0), timedelta(seconds=-1)])
def test_a_hold_expires_after_it_starts(alice, expiry):
    now = timezone.now()
    refused(
        *hold_row(alice, created_at=now, expires_at=now + expiry),
        constraint="ledger_hold_expires_after_start",
    )


@pytest.mark.parametrize(
    ("status", "settled_at"),
    [("pending", SETTLED), ("released", None), ("expired", None)],
)
def test_a_hold_is_settled_exactly_when_it_is_no_longer_pending(alice, status, settled_at):
    refused(
        *hold_row(alice, status=status, settled_at=settled_at),
        constraint="ledger_hold_settled_unless_pending",
    )


@pytest.mark.parametrize(("status", "with_transfer"), [("captured", False), ("released", True)])
def test_a_hold_has_a_transfer_exactly_when_captured(alice, status, with_transfer):
    transfer = signup_transfer(alice).pk if with_transfer else None
    refused(
        *hold_row(alice, status=status, settled_at=SETTLED, transfer_id=transfer),
        constraint="ledger_hold_captured_has_transfer",
    )


def test_a_hold_idempotency_key_is_used_once(alice):
    sql(*hold_row(alice))
    refused(*hold_row(alice), constraint="ledger_hold_idempotency_key_key", unique=True)


def test_a_transfer_captures_at_most_one_hold(alice):
    captured = {"status": "captured", "settled_at": SETTLED}
    sql(*hold_row(alice, transfer_id=signup_transfer(alice).pk, **captured))
    refused(
        *hold_row(
            alice, idempotency_key="raw-2", transfer_id=signup_transfer(alice).pk, **captured
        ),
        constraint="ledger_hold_transfer_id_key",
        unique=True,
    )


# --- achievements ------------------------------------------------------------------------


def achievement_row(**overrides) -> tuple[str, list]:
    values = {
        "code": "first-steps",
        "name": "First steps",
        "description": "",
        "category": "",
        "reward_amount": 0,
        "reward_currency_id": None,
        "rule": "granted",
        "threshold": None,
        "is_active": True,
        **overrides,
    }
    return insert("ledger_achievement", **values)


def test_well_formed_achievement_rows_are_accepted(db):
    points = currency_id("points")
    sql(*achievement_row(code="a" * 64))
    sql(*achievement_row(code="paid", reward_amount=5, reward_currency_id=points))
    sql(*achievement_row(code="streak-7", rule="streak", threshold=7))
    sql(*achievement_row(code="rich", rule="balance", threshold=1, reward_currency_id=points))
    assert Achievement.objects.count() == 4


@pytest.mark.parametrize("code", ["", "First", "-first", "two words", "first!", "first\n"])
def test_achievement_code_is_lowercase_and_plain(db, code):
    refused(*achievement_row(code=code), constraint="ledger_achievement_code_format")


def test_achievement_code_is_unique(db):
    sql(*achievement_row())
    refused(*achievement_row(), constraint="ledger_achievement_code_key", unique=True)


def test_achievement_rule_must_be_known(db):
    refused(*achievement_row(rule="luck"), constraint="ledger_achievement_rule_valid")


@pytest.mark.parametrize(("amount", "with_currency"), [(10, False), (-5, True), (-5, False)])
def test_an_achievement_reward_is_positive_and_has_a_currency(db, amount, with_currency):
    refused(
        *achievement_row(
            reward_amount=amount,
            reward_currency_id=currency_id("points") if with_currency else None,
        ),
        constraint="ledger_achievement_reward_has_currency",
    )


@pytest.mark.parametrize(
    ("rule", "threshold", "with_currency"),
    [
        ("granted", 5, False),
        ("streak", None, False),
        ("streak", 0, False),
        ("balance", None, True),
        ("balance", 0, True),
        ("balance", 100, False),
    ],
)
def test_an_achievement_threshold_fits_its_rule(db, rule, threshold, with_currency):
    refused(
        *achievement_row(
            rule=rule,
            threshold=threshold,
            reward_currency_id=currency_id("points") if with_currency else None,
        ),
        constraint="ledger_achievement_threshold_fits_rule",
    )


@pytest.fixture
def granted(alice) -> MemberAchievement:
    achievement = Achievement.objects.create(
        code="welcome", name="Welcome", rule=AchievementRule.GRANTED
    )
    return grant_achievement(alice, achievement)


def test_a_member_gets_an_achievement_once(granted):
    refused(
        *insert(
            "ledger_memberachievement",
            member_id=granted.member_id,
            achievement_id=granted.achievement_id,
            granted_at=timezone.now(),
        ),
        constraint="ledger_memberachievement_once",
        unique=True,
    )


def test_a_transfer_pays_at_most_one_achievement(alice, bob):
    achievement = Achievement.objects.create(code="one", name="One", rule=AchievementRule.GRANTED)
    paid = signup_transfer(alice).pk
    sql(
        *insert(
            "ledger_memberachievement",
            member_id=alice.pk,
            achievement_id=achievement.pk,
            granted_at=timezone.now(),
            transfer_id=paid,
        )
    )
    refused(
        *insert(
            "ledger_memberachievement",
            member_id=bob.pk,
            achievement_id=achievement.pk,
            granted_at=timezone.now(),
            transfer_id=paid,
        ),
        constraint="ledger_memberachievement_transfer_id_key",
        unique=True,
    )


# --- streaks and activity ----------------------------------------------------------------


@pytest.fixture
def streak(alice):
    return record_activity(alice, timezone.localdate())


def test_a_current_streak_never_exceeds_the_longest(streak):
    refused(
        "UPDATE ledger_streak SET current = longest + 1 WHERE member_id = %s",
        [streak.member_id],
        constraint="ledger_streak_current_within_longest",
    )


@pytest.mark.parametrize(
    "assignment", ["last_day = NULL", "current = 0, longest = 0"], ids=["no-day", "no-count"]
)
def test_a_streak_counts_days_exactly_when_it_has_a_last_day(streak, assignment):
    refused(
        f"UPDATE ledger_streak SET {assignment} WHERE member_id = %s",
        [streak.member_id],
        constraint="ledger_streak_current_has_day",
    )


def test_a_fresh_streak_row_has_no_day_and_no_count(bob):
    sql(*insert("ledger_streak", member_id=bob.pk, current=0, longest=0, last_day=None))


def test_an_activity_day_is_recorded_once(streak):
    refused(
        *insert("ledger_activityday", member_id=streak.member_id, day=streak.last_day),
        constraint="ledger_activityday_once",
        unique=True,
    )


# --- PostgreSQL triggers: append-only rows -----------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE ledger_posting SET amount = amount + 1 WHERE transfer_id = %s", "UPDATE"),
        ("UPDATE ledger_posting SET amount = amount WHERE transfer_id = %s", "UPDATE"),
        ("DELETE FROM ledger_posting WHERE transfer_id = %s", "DELETE"),
    ],
)
def test_postings_cannot_be_changed_or_deleted(alice, statement, operation):
    refused(
        statement,
        [signup_transfer(alice).pk],
        constraint=f"ledger_posting is append-only: {operation} refused",
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE ledger_transfer SET reason = 'edited' WHERE id = %s", "UPDATE"),
        ("UPDATE ledger_transfer SET kind = 'refund' WHERE id = %s", "UPDATE"),
        ("DELETE FROM ledger_transfer WHERE id = %s", "DELETE"),
    ],
)
def test_transfers_cannot_be_changed_or_deleted(alice, statement, operation):
    refused(
        statement,
        [signup_transfer(alice).pk],
        constraint=f"ledger_transfer is append-only: {operation} refused",
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("statement", "operation"),
    [
        ("UPDATE ledger_memberachievement SET granted_at = granted_at + interval '1 s'", "UPDATE"),
        ("UPDATE ledger_memberachievement SET member_id = member_id", "UPDATE"),
        ("DELETE FROM ledger_memberachievement", "DELETE"),
    ],
)
def test_member_achievements_cannot_be_changed_or_deleted(granted, statement, operation):
    refused(
        f"{statement} WHERE id = %s",
        [granted.pk],
        constraint=f"ledger_memberachievement is append-only: {operation} refused",
    )


# --- PostgreSQL triggers: balanced transfers ---------------------------------------------


def make_immediate() -> None:
    """What COMMIT does: run the deferred checks now."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")


@pytest.mark.postgres
def test_an_unbalanced_transfer_is_refused_at_commit(alice):
    before = table_contents(*APPS)
    with (
        pytest.raises(IntegrityError, match=r"transfer \d+ does not balance"),
        transaction.atomic(),
    ):
        transfer = insert_transfer("unbalanced")
        insert_postings(transfer, (wallet_id(alice), 10))
        # Accepted until the transaction ends: the check is deferred.
        assert Posting.objects.filter(transfer_id=transfer).count() == 1
        make_immediate()
    assert table_contents(*APPS) == before


@pytest.mark.postgres
def test_a_balanced_transfer_of_many_postings_is_accepted(alice, bob):
    transfer = insert_transfer("balanced")
    # Postings written one statement at a time: only the end of the transaction counts.
    insert_postings(transfer, (wallet_id(alice), 10))
    insert_postings(transfer, (wallet_id(bob), 20))
    insert_postings(transfer, (system_id(), -30))
    make_immediate()
    amounts = Posting.objects.filter(transfer_id=transfer).values_list("amount", flat=True)
    assert sorted(amounts) == [-30, 10, 20]


@pytest.mark.postgres
def test_a_posting_that_unbalances_a_committed_transfer_is_refused(alice):
    refused(
        *posting_row(alice, amount=5),
        constraint=f"transfer {signup_transfer(alice).pk} does not balance",
    )


@pytest.mark.postgres
def test_a_balanced_correction_to_a_committed_transfer_is_accepted(alice):
    make_immediate()
    insert_postings(signup_transfer(alice).pk, (wallet_id(alice), 5), (system_id(), -5))
    make_immediate()
    assert Posting.objects.filter(transfer=signup_transfer(alice)).count() == 4


@pytest.mark.postgres
def test_an_interleaved_unbalancing_posting_is_caught_at_commit(alice, bob):
    # Two transfers written in one transaction, the first unbalanced only by a posting
    # written after the second's: the check sees every posting of each transfer.
    before = table_contents(*APPS)
    with pytest.raises(IntegrityError) as raised, transaction.atomic():
        first, second = insert_transfer("first"), insert_transfer("second")
        insert_postings(first, (wallet_id(alice), 10), (system_id(), -10))
        insert_postings(second, (wallet_id(bob), 10), (system_id(), -10))
        insert_postings(first, (wallet_id(bob), 1))
        make_immediate()
    assert f"transfer {first} does not balance" in str(raised.value)
    assert table_contents(*APPS) == before


@pytest.fixture
def credits_issuance(db) -> int:
    sql(
        *account_row(
            currency_id=currency_id("credits"),
            name="issuance",
            balance=None,
            held=None,
            version=None,
        )
    )
    return system_id(currency="credits")


@pytest.mark.postgres
def test_a_transfer_in_two_currencies_balances_in_each(alice, credits_issuance):
    transfer = insert_transfer("two-currencies")
    insert_postings(
        transfer,
        (wallet_id(alice), 10),
        (system_id(), -10),
        (wallet_id(alice, "credits"), 5),
        (credits_issuance, -5),
    )
    make_immediate()
    assert Posting.objects.filter(transfer_id=transfer).count() == 4


@pytest.mark.postgres
def test_a_transfer_that_balances_in_one_currency_only_is_refused(alice, credits_issuance):
    before = table_contents(*APPS)
    credits = currency_id("credits")
    # 10 - 10 + 5 - 4: zero overall, but credits sum to 1.
    with (
        pytest.raises(IntegrityError, match=f"in currency {credits} sum to 1"),
        transaction.atomic(),
    ):
        transfer = insert_transfer("one-currency-off")
        insert_postings(
            transfer,
            (wallet_id(alice), 10),
            (system_id(), -10),
            (wallet_id(alice, "credits"), 5),
            (credits_issuance, -4),
        )
        make_immediate()
    assert table_contents(*APPS) == before


@pytest.mark.postgres
def test_an_explicit_posting_id_is_refused(alice):
    # The balance check relies on posting ids growing: the column is GENERATED ALWAYS.
    # PostgreSQL reports this as a ProgrammingError (SQLSTATE 428C9), not an integrity one.
    before = table_contents(*APPS)
    with (
        pytest.raises(ProgrammingError, match='non-DEFAULT value into column "id"'),
        transaction.atomic(),
    ):
        sql(*posting_row(alice, id=10**9))
    assert table_contents(*APPS) == before


# --- PostgreSQL triggers: holds ----------------------------------------------------------


def place_hold(member, key: str = "hold-1") -> Hold:
    return hold(
        member,
        30,
        sink="reading",
        reason="tarot reading",
        idempotency_key=key,
        expires_at=timezone.now() + timedelta(hours=1),
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    "assignment",
    [
        "account_id = %(bob_wallet)s",
        "amount = amount + 1",
        "sink = 'sink:shop'",
        "idempotency_key = 'other'",
        "created_at = created_at - interval '1 minute'",
        "expires_at = expires_at + interval '1 day'",
        "reason = 'edited'",
        "context = '{\"x\": 1}'",
        "actor_id = %(staff)s",
        "id = id + 1000",
    ],
)
def test_a_pending_hold_changes_only_its_settlement(alice, bob, staff, assignment):
    pending = place_hold(alice)
    refused(
        f"UPDATE ledger_hold SET {assignment} WHERE id = %(hold)s",
        {"hold": pending.pk, "bob_wallet": wallet_id(bob), "staff": staff.pk},
        constraint=f"hold {pending.pk}: only its settlement (status, settled_at, transfer)",
    )


@pytest.mark.postgres
def test_a_pending_hold_may_be_settled(alice):
    pending = place_hold(alice)
    released = place_hold(alice, "hold-2")
    make_immediate()
    sql(
        "UPDATE ledger_hold SET status = 'captured', settled_at = CURRENT_TIMESTAMP,"
        " transfer_id = %s WHERE id = %s",
        [signup_transfer(alice).pk, pending.pk],
    )
    sql(
        "UPDATE ledger_hold SET status = 'released', settled_at = CURRENT_TIMESTAMP WHERE id = %s",
        [released.pk],
    )
    assert set(Hold.objects.values_list("status", flat=True)) == {"captured", "released"}


@pytest.mark.postgres
@pytest.mark.parametrize(
    "assignment",
    [
        "status = 'pending', settled_at = NULL",
        "status = 'expired'",
        "settled_at = CURRENT_TIMESTAMP",
        "reason = 'edited'",
        "amount = amount + 1",
    ],
)
def test_a_settled_hold_cannot_change(alice, assignment):
    settled = release(place_hold(alice))
    refused(
        f"UPDATE ledger_hold SET {assignment} WHERE id = %s",
        [settled.pk],
        constraint=f"hold {settled.pk} is released already",
    )


@pytest.mark.postgres
@pytest.mark.parametrize("settle", [False, True], ids=["pending", "released"])
def test_holds_cannot_be_deleted(alice, settle):
    kept = place_hold(alice)
    if settle:
        release(kept)
    refused(
        "DELETE FROM ledger_hold WHERE id = %s",
        [kept.pk],
        constraint=f"holds are kept: DELETE of hold {kept.pk} refused",
    )
