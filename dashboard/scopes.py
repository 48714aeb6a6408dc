"""Stream scopes: which events a stream (an overlay token) receives.

They are the dashboard's: `/ws/stream/` (dashboard.consumers) filters by them and an
overlay token (dashboard.models) stores one.

A scope is a string: `events` (everything), `ticker` (what a ticker shows),
`leaderboard:<currency>` (transfers in one currency) or `tournament:<id>` (events whose
data names the tournament). The same rule filters the live stream (`matches`) and the
replay from the log (`q`), so a reconnecting client gets exactly what it would have seen.
A scope filters on the event's full data; what a stream is then sent of each event is
its public projection, and nothing of a kind without one (`dashboard.public`): `events`
means every public event, not every event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Q

from dashboard.exceptions import InvalidOverlayScope
from ledger.posting import EVENT_KIND as TRANSFER_POSTED

# What a ticker shows (its overlay and the dashboard's): a kind each of accounts' and
# the ledger's public events.
TICKER_KINDS = frozenset({TRANSFER_POSTED, "member.registered", "ledger.achievement_granted"})
PATTERN = re.compile(
    r"\A(?:(?P<plain>events|ticker)"
    r"|leaderboard:(?P<currency>[a-z0-9][a-z0-9_-]{0,31})"
    r"|tournament:(?P<tournament>[1-9][0-9]{0,17}))\Z"
)
# The same rule for the database's CHECK on stored scopes (dashboard.OverlayToken).
SQL_PATTERN = r"^(events|ticker|leaderboard:[a-z0-9][a-z0-9_-]{0,31}|tournament:[1-9][0-9]{0,17})$"


@dataclass(frozen=True)
class Scope:
    name: str
    kind: str  # events | ticker | leaderboard | tournament
    arg: str = ""

    @classmethod
    def parse(cls, text: str) -> Scope:
        match = PATTERN.match(text or "")
        if not match:
            raise InvalidOverlayScope(
                f"{text!r} is not a scope: use events, ticker, leaderboard:<currency>"
                " or tournament:<id>"
            )
        if match["plain"]:
            return cls(text, match["plain"])
        if match["currency"]:
            return cls(text, "leaderboard", match["currency"])
        return cls(text, "tournament", match["tournament"])

    def matches(self, kind: str, data) -> bool:
        if self.kind == "events":
            return True
        if self.kind == "ticker":
            return kind in TICKER_KINDS
        if not isinstance(data, dict):
            return False
        if self.kind == "leaderboard":
            return kind == TRANSFER_POSTED and data.get("currency") == self.arg
        return str(data.get("tournament_id")) == self.arg

    def q(self) -> Q:
        """The same rule as a filter on `events.Event`."""
        if self.kind == "events":
            return Q()
        if self.kind == "ticker":
            return Q(kind__in=sorted(TICKER_KINDS))
        if self.kind == "leaderboard":
            return Q(kind=TRANSFER_POSTED, data__currency=self.arg)
        return Q(data__tournament_id=int(self.arg)) | Q(data__tournament_id=self.arg)

    def __str__(self) -> str:
        return self.name


def member_ids(data) -> set[int]:
    """The members an event's data names: `member_id`, `referred_by`, `member_ids`, and
    the `member_id` of each row of `postings`, `placements` and `seeds`. The feed names
    them (`dashboard.lines`); a member page's socket is told of its member's events
    (`dashboard.consumers`)."""
    if not isinstance(data, dict):
        return set()
    ids = data.get("member_ids")
    found = [data.get("member_id"), data.get("referred_by")]
    found += ids if isinstance(ids, list) else []
    for nested in ("postings", "placements", "seeds"):
        rows = data.get(nested)
        if isinstance(rows, list):
            found += [row.get("member_id") for row in rows if isinstance(row, dict)]
    return {value for value in found if type(value) is int}
