"""seed_scale makes a history every integrity check accepts, and rolls up as counted."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from accounts.models import Member
from analytics.actions import rebuild_days
from analytics.models import Rollup
from integrity.runner import run_checks
from ledger.models import Posting, Transfer


@pytest.mark.postgres
def test_a_seeded_history_passes_every_integrity_check(db):
    call_command("seed_scale", members="300", days="30")
    assert Member.objects.count() == 300
    # 5 transfers a member, a referral bonus for every tenth, a gift for every fifth.
    assert Transfer.objects.count() == 300 * 5 + 30 + 60
    assert Posting.objects.count() == 2 * Transfer.objects.count()
    today = timezone.now().date()
    rebuild_days(today - timedelta(days=31), today)
    registered = sum(
        Rollup.objects.filter(grain="day", metric="members.registered").values_list(
            "value", flat=True
        )
    )
    assert registered == 300
    report = run_checks()
    failed = {c.name: c.sample for c in report.checks if c.status != "ok"}
    failed.pop("events.relay_keeps_up", None)  # no relay runs in this test
    assert not failed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--members", "0"], "must be at least 1: 0"),
        (["--members", "lots"], "not a whole number: lots"),
        (["--members", "5", "--days", "99999"], "--days: at most 3650"),
    ],
)
def test_seed_scale_refuses_bad_arguments_in_one_line(db, args, message):
    with pytest.raises(CommandError) as refused:
        call_command("seed_scale", *args)
    assert str(refused.value) == message
    assert refused.value.returncode == 2


def test_seed_scale_says_it_needs_postgresql(db):
    if connection.vendor == "postgresql":
        pytest.skip("on SQLite only")
    with pytest.raises(CommandError, match="seed_scale needs PostgreSQL"):
        call_command("seed_scale", members="5")
