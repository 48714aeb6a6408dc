"""Helpers shared by the ledger action tests: wallets and transfers read back, a hold
placed, a refusal proven to write nothing (not one statement sent)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ledger.actions import hold
from ledger.models import Account, Achievement, AchievementRule, Hold, Transfer
from tests.helpers import table_contents

APPS = ("accounts", "events", "ledger")


def everything() -> dict[str, list[dict]]:
    return table_contents(*APPS)


def wallet(member, currency: str = "points") -> Account:
    return Account.objects.get(member=member, currency__code=currency)


def balance(member, currency: str = "points") -> int:
    return wallet(member, currency).balance


def lines(transfer: Transfer) -> list[tuple]:
    """A transfer's postings as (member id, system account name, amount, balance after,
    version), in the order written."""
    return [
        (p.account.member_id, p.account.name, p.amount, p.balance_after, p.version)
        for p in transfer.postings.select_related("account").order_by("id")
    ]


def statements(run) -> list[str]:
    """The SQL statements `run()` sent, savepoints aside."""
    with CaptureQueriesContext(connection) as captured:
        run()
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
    ]


def refused_before_any_statement(error, run) -> Exception:
    """`run()` raises `error` without sending one statement, and nothing changed."""
    before = everything()
    raised = []

    def attempt():
        with pytest.raises(error) as info:
            run()
        raised.append(info.value)

    assert statements(attempt) == []
    assert everything() == before
    return raised[0]


def in_one_hour() -> datetime:
    return timezone.now() + timedelta(hours=1)


def place_hold(member, amount: int = 30, key: str = "hold-1", **kwargs) -> Hold:
    kwargs.setdefault("expires_at", in_one_hour())
    return hold(
        member, amount, sink="reading", reason="tarot reading", idempotency_key=key, **kwargs
    )


def achievement(code: str, *, rule=AchievementRule.GRANTED, **fields) -> Achievement:
    return Achievement.objects.create(
        code=code, name=code.replace("-", " ").title(), rule=rule, **fields
    )
