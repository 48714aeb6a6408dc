"""The ledger's money rules the database holds, proven with raw SQL that skips the ORM:
currencies, accounts, transfers and postings."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from ledger.actions import reverse
from ledger.models import Account, Currency, Posting, Transfer, TransferKind
from tests.helpers import insert, refused, sql
from tests.ledger.rows import (
    account_row,
    currency_id,
    posting_row,
    signup_transfer,
    system_id,
    wallet_id,
)

pytestmark = pytest.mark.django_db

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


def test_on_postgresql_the_numbering_index_also_carries_amount_and_balance():
    """ledger.0009: the unique index behind the numbering is the chain check's covering
    index (a later change of the constraint must keep both)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's covering index; SQLite keeps the plain constraint")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s",
            ["ledger_posting_account_version_unique"],
        )
        (definition,) = cursor.fetchone()
    assert definition.startswith("CREATE UNIQUE INDEX"), definition
    assert "(account_id, version) INCLUDE (amount, balance_after)" in definition, definition
    assert definition.endswith("WHERE (version IS NOT NULL)"), definition


def test_system_postings_carry_no_version_so_never_collide(alice, bob):
    issuance = Posting.objects.filter(account_id=system_id())
    assert issuance.count() == 2
    assert set(issuance.values_list("version", "balance_after")) == {(None, None)}
