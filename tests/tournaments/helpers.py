"""Helpers shared by the tournament tests."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from events.models import Event
from ledger.models import Account
from tests.factories import MemberFactory
from tests.helpers import sql, table_contents
from tournaments.actions import register
from tournaments.models import Registration

APPS = ("accounts", "events", "ledger", "tournaments")
NOW = timezone.now()


def settle() -> None:
    """On PostgreSQL, run the deferred checks now, as COMMIT would, then defer again."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def reload(obj):
    obj.refresh_from_db()
    return obj


def waitlist(tournament) -> list[tuple[int, int]]:
    """(position, member id) of the waitlist, in order."""
    return list(
        Registration.objects.filter(tournament=tournament, status="waitlisted")
        .order_by("waitlist_position")
        .values_list("waitlist_position", "member_id")
    )


def events_of(kind: str, after: int = 0) -> list[Event]:
    return list(Event.objects.filter(kind=kind, seq__gt=after).order_by("seq"))


def last_seq() -> int:
    last = Event.objects.order_by("-seq").first()
    return last.seq if last else 0


def everything() -> dict:
    return table_contents(*APPS)


def balance(member, currency: str = "points") -> int:
    return Account.objects.get(member=member, currency__code=currency).balance


def fill(tournament, count: int) -> list[Registration]:
    return [register(tournament, member) for member in [MemberFactory() for _ in range(count)]]


def without_triggers() -> None:
    """PostgreSQL: skip the (BEFORE) triggers for the rest of the transaction, so a CHECK
    is proven by itself rather than by a trigger that refuses the row first."""
    if connection.vendor == "postgresql":
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql("SET LOCAL session_replication_role = replica")


def checks_at_the_end(request):
    """An autouse fixture's body (each app's conftest makes it one): a test's transaction
    is rolled back, so the deferred constraint triggers (counters, waitlist numbering,
    paid slots, balanced transfers) would never run; run them at the end of every test
    instead. A test that left the database inconsistent fails here."""
    if request.node.get_closest_marker("django_db") is None:
        yield
        return
    request.getfixturevalue("db")  # set up first, so torn down after this
    yield
    if not connection.needs_rollback:
        settle()
