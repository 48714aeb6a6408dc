"""When a member page's socket is told its page may have changed (`#member-changed`,
dashboard.consumers.DashboardConsumer): an event that names the member
(`dashboard.scopes.member_ids`), or one that changes one of the member's tournaments as
"Tournaments played" shows it (its status, name or results: TOURNAMENT_WIDE), which
names nobody. Other players' check-ins, matches and waitlist moves in those tournaments
change nothing on the page and are not passed on.

The socket reads the member's tournaments once subscribed (`tournaments_of`: a
registration committed meanwhile is in the rows read or in an event it hears) and adds
those the member registers for while the page is open, a batch registration included
(`tournament.registered_many` names nobody: it is passed on and its tournament kept, as
it may have been the member's; a page refreshed for nothing costs one fetch)."""

from __future__ import annotations

from dashboard.scopes import member_ids

TOURNAMENT_WIDE = frozenset(
    {"tournament.status_changed", "tournament.updated", "tournament.finalized"}
)
REGISTERED_MANY = "tournament.registered_many"


def tournaments_of(member: int) -> frozenset[int]:
    """The tournaments the member has registered for (any status)."""
    from tournaments.models import Registration

    found = Registration.objects.filter(member_id=member).values_list("tournament_id", flat=True)
    return frozenset(found)


def heard(
    member: int, tournaments: frozenset[int], kind: str, data, tournament: int | None
) -> tuple[bool, frozenset[int]]:
    """(whether the member's page may have changed, the member's tournaments after the
    event) for an event of `kind` with `data`, about `tournament` (or None)."""
    if tournament is None:
        return member in member_ids(data), tournaments
    if member in member_ids(data):  # e.g. registered: the tournament's changes count now
        return True, tournaments | {tournament}
    if kind == REGISTERED_MANY:
        return True, tournaments | {tournament}
    return kind in TOURNAMENT_WIDE and tournament in tournaments, tournaments
