from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import override_settings

from accounts.models import Member
from events.models import Event
from ledger.models import MemberAchievement, Transfer
from tests.config.test_settings import manage

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


@override_settings(DEBUG=True)  # as `make run` runs it (pytest-django turns DEBUG off)
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


def demo_login(*args: str) -> tuple[str, str]:
    out = StringIO()
    call_command("demo_admin", *args, stdout=out)
    login = out.getvalue().strip().splitlines()[0]
    return login.split("  user ")[1].split("  password ")[0], login.split("password ")[1].strip()


@override_settings(DEBUG=True)
def test_demo_admin_resets_its_own_user_on_every_run():
    _, first = demo_login()
    _, second = demo_login()
    assert first != second
    assert authenticate(username="admin", password=first) is None
    user = authenticate(username="admin", password=second)
    assert user is not None
    assert user.is_staff
    assert user.is_superuser
    assert user.email == "demo@concord.invalid"  # what marks it as the demo user
    assert get_user_model().objects.count() == 1


@override_settings(DEBUG=True)
def test_demo_admin_puts_the_demo_user_in_the_owner_group():
    owner, _ = Group.objects.get_or_create(name="Owner")
    demo_login("--username", "demo")
    assert list(get_user_model().objects.get(username="demo").groups.all()) == [owner]


@override_settings(DEBUG=True)
def test_demo_admin_refuses_an_existing_user_that_is_not_the_demo_user():
    real = get_user_model().objects.create_superuser(
        "realadmin", "ops@example.org", "correct horse battery staple"
    )
    before = get_user_model().objects.values().get(pk=real.pk)
    with pytest.raises(CommandError, match="'realadmin' exists and is not the demo user"):
        call_command("demo_admin", "--username", "realadmin", "--force", stdout=StringIO())
    assert get_user_model().objects.values().get(pk=real.pk) == before
    assert authenticate(username="realadmin", password="correct horse battery staple")


@override_settings(DEBUG=False)
def test_demo_admin_refuses_when_debug_is_off_unless_forced():
    with pytest.raises(CommandError, match="DEBUG is off") as refused:
        call_command("demo_admin", stdout=StringIO())
    assert refused.value.returncode == 1
    assert not get_user_model().objects.exists()
    username, password = demo_login("--force")
    assert authenticate(username=username, password=password).is_superuser


@override_settings(DEBUG=True)
@pytest.mark.parametrize("username", ["bad\x1b[31mname", "[/bold] x", ""])
def test_demo_admin_refuses_a_username_django_would_not_accept(username):
    with pytest.raises(CommandError, match="not a valid username"):
        call_command("demo_admin", "--username", username, stdout=StringIO())
    assert not get_user_model().objects.exists()


def test_from_the_shell_demo_admin_with_debug_off_is_one_line_and_exit_1():
    done = manage("demo_admin", env={"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "k" * 50})
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "CommandError: DEBUG is off: demo_admin makes a superuser with a password printed"
        " on screen; give --force to do it anyway"
    ]
    assert done.stdout == ""
