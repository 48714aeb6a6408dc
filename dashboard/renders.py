"""What the hub renders once for all of a process's clients: leaderboard and ticker
snapshots (JSON, for overlays) and the dashboard's fragments (HTML, out-of-band swaps).

The ticker is shown on stream: its lines are written from each event's public projection
(`dashboard.public`: no staff's reasons, no external ids). The staff feed may say more
(a transfer's reason, whoever wrote it) but names members by display name only, never by
email or external id: it is shown to every staff role. (A role allowed to see personal
data sees it on the member's page, not in the feed.)"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.utils import timezone

from dashboard import boards, lines, public
from dashboard import cache as cached
from dashboard.overlay_options import ROWS_MAX
from dashboard.scopes import TICKER_KINDS
from events.models import Event

FEED_SIZE = 20
TICKER_SIZE = 20
LEADERBOARD_SIZE = 10


@dataclass(frozen=True)
class FeedItem:
    seq: int
    at: datetime
    kind: str
    segments: list  # (text, link or None): dashboard.lines
    actor: str = ""  # the staff user who did it (staff feed only)

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.segments)

    @property
    def group(self) -> str:
        return lines.group_of(self.kind)

    @property
    def label(self) -> str:
        return self.kind.partition(".")[2].replace("_", " ") or self.kind


def feed(limit: int = FEED_SIZE, kinds=None, *, public_only: bool = False) -> list[FeedItem]:
    """The latest events as lines. `public_only` (what overlays show): kinds with a public
    projection only, each line written from it, without links or staff names."""
    from django.contrib.auth import get_user_model

    rows = Event.objects.order_by("-seq")
    if public_only:
        kinds = set(kinds or public.PROJECTORS) & set(public.PROJECTORS)
    if kinds:
        rows = rows.filter(kind__in=sorted(kinds))
    shown = [(e, public.project(e.kind, e.data) if public_only else e.data) for e in rows[:limit]]
    shown = [(e, data) for e, data in shown if data is not None]
    said = lines.Lines([(e.kind, data) for e, data in shown], links=not public_only)
    actors = {}
    if not public_only:
        ids = {e.actor_id for e, _ in shown if e.actor_id}
        model = get_user_model()
        users = model.objects.filter(pk__in=ids).values_list("pk", model.USERNAME_FIELD)
        actors = dict(users) if ids else {}
    return [
        FeedItem(e.seq, e.created_at, e.kind, said.line(e.kind, data), actors.get(e.actor_id, ""))
        for e, data in shown
    ]


COUNTERS_TTL = 1.0  # seconds: aggregates over the day, shared by every process and page


def counters() -> dict:
    """The dashboard's counters, computed at most once a second for the whole deployment
    (they sum the day's postings: ~0.2 s at 100,000 members), so never more than a second
    older than the latest commit."""
    try:
        found = cache.get("dashboard:counters")
    except Exception:
        found = None
    if found is not None:
        return found
    found = _counters()
    with contextlib.suppress(Exception):  # optional here: the values came from the database
        cache.set("dashboard:counters", found, COUNTERS_TTL)
    return found


def _relay() -> dict:
    """How far the relay is behind (as /healthz says), and whether past the bound."""
    from django.conf import settings

    from events.relay import lag

    behind = lag()
    late = behind.behind_seconds > settings.RELAY_MAX_LAG_SECONDS
    return {**behind.as_dict(), "late": late}


def _counters() -> dict:
    from accounts.models import Member
    from integrity.models import IntegrityRun
    from ledger.models import Hold
    from ledger.queries import flows_since

    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    members = Member.objects.aggregate(
        total=Count("pk"), today=Count("pk", filter=Q(created_at__gte=today))
    )
    run = IntegrityRun.objects.order_by("-pk").first()
    return {
        "members": members["total"],
        "registrations_today": members["today"],
        "flows": [
            {"currency": f.currency, "issued": f.issued, "spent": f.spent}
            for f in flows_since(today)
        ],
        "open_holds": Hold.objects.filter(status="pending").count(),
        "integrity": run,
        "relay": _relay(),
    }


def leaderboard_rows(currency: str, limit: int = LEADERBOARD_SIZE) -> list[dict]:
    return [
        {
            "rank": row["rank"],
            "member_id": row["member_id"],
            "name": row["display_name"],
            "amount": row["amount"],
        }
        for row in cached.leaderboard(currency, limit)
        if row["amount"] > 0  # nobody ranks for holding nothing
    ]


def home_leaderboards(currencies: list[str]) -> list[dict]:
    """The home page's boards: {"currency", "rows"}, rows None for a board not cached
    and too large to compute before the page's first paint (more wallets than
    settings.DASHBOARD_DEFER_BOARDS_ABOVE). The page then shows its frame: the socket's
    resync brings it (and relayed updates after), else the frame fetches it
    (dashboard:leaderboard)."""
    from django.conf import settings

    large = wallets_estimate() > settings.DASHBOARD_DEFER_BOARDS_ABOVE
    return [
        {
            "currency": code,
            "rows": None if large and not cached.has_board(code) else leaderboard_rows(code),
        }
        for code in currencies
    ]


def wallets_estimate() -> int:
    """How many accounts there are, by PostgreSQL's statistics (no count: free); 0 on
    SQLite (embedded deployments are small) and before the table was first analyzed."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'ledger_account'::regclass")
        row = cursor.fetchone()
    return max(int(row[0]), 0) if row else 0


def currencies() -> list[str]:
    from ledger.models import Currency

    return list(Currency.objects.order_by("code").values_list("code", flat=True))


def render_view(view: str, seq: int) -> str:
    if view.startswith("leaderboard:"):
        currency = view.split(":", 1)[1]
        return json.dumps(
            {
                "type": "leaderboard",
                "currency": currency,
                "seq": seq,
                # As many as an overlay may ask to show (`?rows=`, at most ROWS_MAX).
                "rows": leaderboard_rows(currency, ROWS_MAX),
            },
            separators=(",", ":"),
        )
    if view == "ticker":
        # The latest of *each* kind, newest first: a ticker told to show some kinds only
        # (`?kinds=`, filtered in the page) still has its own latest TICKER_SIZE.
        items = sorted(
            (i for kind in TICKER_KINDS for i in feed(TICKER_SIZE, {kind}, public_only=True)),
            key=lambda i: i.seq,
            reverse=True,
        )
        return json.dumps(
            {
                "type": "ticker",
                "seq": seq,
                "items": [
                    {
                        "seq": i.seq,
                        "at": i.at.isoformat().replace("+00:00", "Z"),
                        "kind": i.kind,
                        "text": i.text,
                    }
                    for i in items
                ],
            },
            separators=(",", ":"),
        )
    if view == "dashboard:counters":
        return render_to_string("dashboard/_counters.html", {"counters": counters(), "oob": True})
    if view == "dashboard:feed":
        return render_to_string("dashboard/_feed.html", {"feed": feed(), "oob": True})
    if view.startswith("dashboard:leaderboard:"):
        currency = view.rsplit(":", 1)[1]
        return render_to_string(
            "dashboard/_leaderboard.html",
            {"currency": currency, "rows": leaderboard_rows(currency), "oob": True},
        )
    if view.startswith("tournament:"):
        board = boards.tournament_board(int(view.split(":", 1)[1]))
        return json.dumps({"type": "tournament", "seq": seq, "board": board}, separators=(",", ":"))
    if view.startswith("dashboard:tournament:"):
        board = boards.tournament_board(int(view.rsplit(":", 1)[1]))
        return render_to_string("dashboard/_tournament.html", {"board": board, "oob": True})
    if view.startswith("dashboard:story:"):
        found = boards.story_board(int(view.rsplit(":", 1)[1]))
        return render_to_string("dashboard/_story.html", {"map": found, "oob": True})
    if view.startswith("dashboard:member:"):
        # News, not content: the page fetches its blocks with its own session (what the
        # viewer's role may see), so nothing personal is ever pushed.
        return MEMBER_CHANGED.format(member=int(view.rsplit(":", 1)[1]), seq=int(seq))
    raise ValueError(f"no such view: {view}")


MEMBER_CHANGED = (
    '<div id="member-changed" hx-swap-oob="true" hidden'
    ' data-member="{member}" data-seq="{seq}"></div>'
)
