"""The ledger's PostgreSQL triggers, proven with raw SQL that skips the ORM: append-only
rows, balanced transfers, holds that settle once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, ProgrammingError, transaction
from django.utils import timezone

from ledger.actions import hold, release
from ledger.models import Hold, Posting
from tests.helpers import insert, refused, sql, table_contents
from tests.ledger.rows import (
    account_row,
    currency_id,
    posting_row,
    signup_transfer,
    system_id,
    wallet_id,
)

pytestmark = pytest.mark.django_db

APPS = ("accounts", "events", "ledger")


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
