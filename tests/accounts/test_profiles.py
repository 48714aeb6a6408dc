"""`update_profile` is the one writer of a profile after registration, validating its
JSON against the documented schemas; `note_activity` marks a member active at most once
a minute, the database deciding."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections
from django.utils import timezone

from accounts import actions
from accounts.exceptions import (
    AccountsError,
    InvalidPersonality,
    InvalidPreferences,
    InvalidProfile,
    UnknownArchetype,
)
from accounts.models import Member, Profile
from accounts.profiles import Personality, Preferences, schema_text
from events.models import Event
from ledger.actions import record_activity
from tests.helpers import refused, refused_writing_nothing

pytestmark = pytest.mark.django_db

DOCS = Path(__file__).resolve().parents[2] / "docs" / "PROFILES.md"


def test_update_profile_writes_what_changed_and_publishes_it(alice, staff):
    profile = actions.update_profile(
        alice,
        archetype="socializer",
        welcomed=True,
        preferences={"notifications": True, "theme": "system"},
        personality={"extraversion": 70},
        actor=staff,
    )
    stored = Profile.objects.get(member=alice)
    assert stored.archetype == "socializer"
    assert stored.preferences == {"notifications": True, "theme": "system"}
    assert stored.personality == {"extraversion": 70}
    assert profile.welcomed
    event = Event.objects.get(kind="member.profile_updated")
    assert event.actor_id == staff.pk
    assert event.subject == f"member:{alice.pk}"
    assert event.data == {
        "member_id": alice.pk,
        "changed": {
            "archetype": "socializer",
            "welcomed": True,
            "preferences": {"notifications": True, "theme": "system"},
            "personality": {"extraversion": 70},
        },
    }
    # The same again changes nothing and publishes nothing.
    actions.update_profile(alice, archetype="socializer", welcomed=True)
    assert Event.objects.filter(kind="member.profile_updated").count() == 1


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"archetype": "griefer"}, UnknownArchetype),
        ({"welcomed": "yes"}, AccountsError),
        ({"preferences": ["dark"]}, InvalidPreferences),
        ({"preferences": {"theme": "neon"}}, InvalidPreferences),
        ({"preferences": {"timezone": "Mars/Olympus"}}, InvalidPreferences),
        ({"preferences": {"unknown": 1}}, InvalidPreferences),
        ({"preferences": {"notifications": "true"}}, InvalidPreferences),
        ({"personality": {"openness": -1}}, InvalidPersonality),
        ({"personality": {"openness": 50.5}}, InvalidPersonality),
        ({"personality": {"charisma": 50}}, InvalidPersonality),
        ({"referral_code": "X"}, AccountsError),
    ],
)
def test_update_profile_refuses_what_the_schema_does_not_allow(alice, changes, error):
    raised = refused_writing_nothing(error, lambda: actions.update_profile(alice, **changes))
    if isinstance(raised, InvalidProfile) and not isinstance(raised, UnknownArchetype):
        assert raised.errors  # where, field by field


def test_the_documented_schemas_are_the_ones_that_validate():
    text = DOCS.read_text(encoding="utf-8")
    assert schema_text(Preferences) in text
    assert schema_text(Personality) in text


def test_a_profile_holds_json_objects_only(alice):
    for column in ("preferences", "personality"):
        refused(
            f"UPDATE accounts_profile SET {column} = '[1]' WHERE member_id = %s",
            [alice.pk],
            constraint="accounts_profile_json_objects",
        )


# --- activity ------------------------------------------------------------------------------


def test_note_activity_writes_at_most_once_a_minute(alice):
    now = timezone.now() + timedelta(minutes=5)
    assert actions.note_activity(alice, now)
    assert not actions.note_activity(alice, now + timedelta(seconds=59))
    assert Member.objects.get(pk=alice.pk).last_active_at == now
    later = now + timedelta(seconds=61)
    assert actions.note_activity(alice.pk, later)
    assert Member.objects.get(pk=alice.pk).last_active_at == later


def test_recording_todays_activity_marks_the_member_active(alice):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Member.objects.filter(pk=alice.pk).update(last_active_at=an_hour_ago)
    record_activity(alice)
    assert Member.objects.get(pk=alice.pk).last_active_at > an_hour_ago
    Member.objects.filter(pk=alice.pk).update(last_active_at=an_hour_ago)
    record_activity(alice, timezone.localdate() - timedelta(days=3))  # a late day: no
    assert Member.objects.get(pk=alice.pk).last_active_at == an_hour_ago


def test_active_in_the_last_days_reads_the_index(alice, bob):
    Member.objects.filter(pk=bob.pk).update(last_active_at=timezone.now() - timedelta(days=40))
    since = timezone.now() - timedelta(days=30)
    assert list(Member.objects.active_since(since)) == [alice]
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, "accounts_member")
    assert indexes["accounts_member_last_active_at"]["columns"] == ["last_active_at"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_busy_member_costs_one_write_a_minute_however_many_callers():
    from tests.factories import MemberFactory

    member = MemberFactory()
    Member.objects.filter(pk=member.pk).update(last_active_at=timezone.now() - timedelta(hours=1))
    callers = 8
    barrier = threading.Barrier(callers)
    wrote = []

    def call():
        barrier.wait()
        try:
            wrote.append(actions.note_activity(member.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=call) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(wrote) == [False] * (callers - 1) + [True]
