"""The rows the ledger constraint tests start from: the ids of what the fixtures made, and
raw inserts of accounts and postings that skip the ORM."""

from __future__ import annotations

from django.utils import timezone

from ledger.models import Account, Currency, Transfer
from tests.helpers import insert


def wallet_id(member, currency: str = "points") -> int:
    return Account.objects.get(member=member, currency__code=currency).pk


def system_id(name: str = "issuance", currency: str = "points") -> int:
    return Account.objects.get(member=None, currency__code=currency, name=name).pk


def currency_id(code: str) -> int:
    return Currency.objects.get(code=code).pk


def signup_transfer(member) -> Transfer:
    return Transfer.objects.get(idempotency_key=f"signup:{member.pk}:points")


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
