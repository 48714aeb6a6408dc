from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from accounts.models import Member
from events.models import Event
from ledger.models import MemberAchievement, Transfer

pytestmark = pytest.mark.django_db


def test_seed_demo_registers_through_the_action_and_is_safe_twice():
    call_command("seed_demo", "--members", "25", stdout=StringIO())
    members = Member.objects.count()
    assert members == 25
    assert Event.objects.filter(kind="member.registered").count() == 25
    assert Member.objects.exclude(referred_by=None).exists()
    # And their ledger life: every kind of movement, through the ledger's actions.
    kinds = set(Transfer.objects.values_list("kind", flat=True))
    assert {"bonus", "referral_bonus", "award", "spend", "transfer"} <= kinds
    assert MemberAchievement.objects.exists()
    transfers, events = Transfer.objects.count(), Event.objects.count()
    call_command("seed_demo", "--members", "25", stdout=StringIO())
    assert Member.objects.count() == 25
    assert (Transfer.objects.count(), Event.objects.count()) == (transfers, events)
    out = StringIO()
    call_command("seed_demo", "--once", stdout=out)
    assert "already loaded" in out.getvalue()
    call_command("integrity_report", stdout=StringIO())  # clean: no SystemExit


def test_seed_demo_refuses_a_silly_count():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("seed_demo", "--members", "0")


def test_demo_admin_prints_a_login_that_works():
    out = StringIO()
    call_command("demo_admin", stdout=out)
    login, dashboard = out.getvalue().strip().splitlines()
    password = login.split("password ")[1].strip()
    assert dashboard.endswith("/dashboard/")
    user = authenticate(username="admin", password=password)
    assert user is not None
    assert user.is_superuser


def test_seed_demo_loads_the_demo_story_with_readers_and_reruns_write_nothing():
    from narrative.models import Decision, Progress, Story

    call_command("seed_demo", "--members", "40", stdout=StringIO())
    story = Story.objects.get(slug="lighthouse")
    assert story.published
    assert Decision.objects.filter(story=story).exists()
    assert Progress.objects.filter(story=story, status="started").exists()
    decisions = Decision.objects.count()
    call_command("seed_demo", "--members", "40", stdout=StringIO())
    assert Decision.objects.count() == decisions
