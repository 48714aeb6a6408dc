"""Retention: old events and activity days move to checksummed files; the ledger, replay
and the integrity report carry on; the database lets go only what an archive covers."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from dashboard.consumers import _replay_page
from dashboard.scopes import Scope
from events.archive import archive_events, parse_age, verify
from events.models import Archive, Event, RelayPosition
from ledger.achievements import record_activity
from ledger.actions import award
from ledger.archive import archive_activity_days
from ledger.models import Account, ActivityDay, Streak
from tests.factories import MemberFactory
from tests.helpers import integrity_json, refused, sql

pytestmark = pytest.mark.django_db

LATER = timezone.now() + timedelta(days=400)  # every event of the test is then a year old


def relay_passed_everything() -> int:
    top = Event.objects.aggregate(top=Max("seq"))["top"]
    RelayPosition.objects.update_or_create(
        name="default", defaults={"seq": top, "moved_at": timezone.now()}
    )
    return top


@pytest.fixture
def history(db):
    members = [MemberFactory() for _ in range(3)]
    for n, member in enumerate(members):
        award(member, 10 + n, reason="old quiz", idempotency_key=f"t:old:{n}")
    return members


def test_archiving_writes_a_checksummed_file_of_the_events_and_removes_them(history, tmp_path):
    top = relay_passed_everything()
    before = list(Event.objects.order_by("seq").values("seq", "kind", "data"))
    [written] = archive_events(timedelta(days=365), tmp_path, now=LATER)
    assert written.rows == len(before)
    assert written.last == top
    path = tmp_path / written.file
    assert hashlib.sha256(path.read_bytes()).hexdigest() == written.sha256
    lines = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
    assert [(e["seq"], e["kind"], e["data"]) for e in lines] == [
        (e["seq"], e["kind"], e["data"]) for e in before
    ]
    assert verify(tmp_path, Archive.objects.get())
    kept = list(Event.objects.values_list("kind", flat=True))
    assert kept == ["events.archived"]


def test_archiving_keeps_what_the_relay_has_not_sent(history, tmp_path):
    position = relay_passed_everything()
    award(history[0], 5, reason="new", idempotency_key="t:new")
    written = archive_events(timedelta(days=365), tmp_path, now=LATER)
    assert written[0].last == position
    assert Event.objects.filter(seq__gt=position, kind="ledger.transfer_posted").exists()


def test_balances_integrity_and_replay_after_archiving(history, tmp_path):
    balances = dict(Account.objects.filter(member__isnull=False).values_list("pk", "balance"))
    relay_passed_everything()
    archive_events(timedelta(days=365), tmp_path, now=LATER)
    assert dict(Account.objects.filter(member__isnull=False).values_list("pk", "balance")) == (
        balances
    )
    new = award(history[1], 7, reason="after", idempotency_key="t:after")
    code, report = integrity_json()
    assert code == 0, report
    top = Event.objects.aggregate(top=Max("seq"))["top"]
    replayed = _replay_page(Scope.parse("leaderboard:points"), 0, top, 100)
    assert [e["data"]["transfer_id"] for e in replayed] == [new.pk]


def test_nothing_is_archived_younger_than_the_age(history, tmp_path):
    relay_passed_everything()
    assert archive_events(timedelta(days=365), tmp_path) == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.postgres
def test_database_refuses_deleting_an_event_no_archive_covers(history):
    relay_passed_everything()
    seq = Event.objects.order_by("seq").values_list("seq", flat=True).first()
    refused("DELETE FROM events_event WHERE seq = %s", [seq], says="append-only")
    refused("UPDATE events_event SET kind = 'x' WHERE seq = %s", [seq], says="append-only")


@pytest.mark.postgres
def test_database_refuses_deleting_events_newer_than_the_archive_cutoff(history, tmp_path):
    relay_passed_everything()
    archive_events(timedelta(days=365), tmp_path, now=LATER)
    archive = Archive.objects.get()
    # An archive row claiming the range but with a cutoff before the events were made.
    award(history[0], 1, reason="young", idempotency_key="t:young")
    top = relay_passed_everything()
    with transaction.atomic():
        sql(
            "INSERT INTO events_archive (first_seq, last_seq, before, rows, file, sha256,"
            " created_at) VALUES (%s, %s, %s, 1, 'x', %s, now())",
            [archive.last_seq + 1, top, timezone.now() - timedelta(days=1), "0" * 64],
        )
    refused("DELETE FROM events_event WHERE seq = %s", [top], says="append-only")
    refused("DELETE FROM events_archive", says="archives are kept")


def test_archive_events_command(history, tmp_path):
    relay_passed_everything()
    out = StringIO()
    call_command("archive_events", "--older-than", "0d", "--to", str(tmp_path), stdout=out)
    assert "archived" in out.getvalue()
    with pytest.raises(CommandError, match="an age is"):
        call_command("archive_events", "--older-than", "soon", "--to", str(tmp_path))
    assert parse_age("52w") == timedelta(days=364)


def test_activity_days_before_the_current_run_are_archived_and_the_streak_kept(tmp_path):
    member = MemberFactory()
    old = date(2024, 1, 1)
    for offset in (0, 1, 2, 3, 10):  # a run of 4, a gap, then one day
        record_activity(member, old + timedelta(days=offset))
    recent = timezone.localdate()
    record_activity(member, recent - timedelta(days=1))
    record_activity(member, recent)
    streak = Streak.objects.get(member=member)
    assert (streak.current, streak.longest) == (2, 4)
    [written] = archive_activity_days(timedelta(days=365), tmp_path)
    assert written.rows == 5
    assert sorted(ActivityDay.objects.values_list("day", flat=True)) == [
        recent - timedelta(days=1),
        recent,
    ]
    record_activity(member, recent - timedelta(days=5))  # a late day recounts the runs
    streak.refresh_from_db()
    assert (streak.current, streak.longest) == (2, 4)
    code, report = integrity_json()
    assert code == 0, report
