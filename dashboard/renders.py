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
from django.db.models import Count, Q, Sum
from django.template.loader import render_to_string
from django.utils import timezone

from dashboard import boards, public
from dashboard import cache as cached
from dashboard.scopes import TICKER_KINDS, TRANSFER_POSTED
from events.models import Event

FEED_SIZE = 20
TICKER_SIZE = 20
LEADERBOARD_SIZE = 10


@dataclass(frozen=True)
class FeedItem:
    seq: int
    at: datetime
    kind: str
    text: str


def _names(member_ids) -> dict[int, str]:
    from accounts.models import Member

    ids = {m for m in member_ids if isinstance(m, int)}
    return dict(Member.objects.filter(pk__in=ids).values_list("pk", "display_name")) if ids else {}


def _member_ids(data) -> list[int]:
    data = data if isinstance(data, dict) else {}
    postings = data.get("postings")
    ids = [p.get("member_id") for p in postings or [] if isinstance(p, dict)]
    ids.append(data.get("member_id"))
    return [i for i in ids if isinstance(i, int)]


def describe(event: Event, names: dict[int, str], data=None) -> str:
    """One line a person reads, for the feed and the ticker, from `data` (the event's own
    data unless given: the ticker gives its public projection)."""
    data = event.data if data is None else data
    data = data if isinstance(data, dict) else {}

    def who(member_id) -> str:
        return names.get(member_id, f"member {member_id}")

    if event.kind == TRANSFER_POSTED:
        parts = []
        for posting in data.get("postings") or []:
            if posting.get("member_id") is not None:
                amount = posting.get("amount", 0)
                parts.append(f"{who(posting['member_id'])} {amount:+,} {data.get('currency', '')}")
        reason = data.get("reason") or data.get("kind") or ""
        shown = ", ".join(parts[:3]) + (f" and {len(parts) - 3} more" if len(parts) > 3 else "")
        return f"{shown} ({reason})" if reason else shown
    if event.kind == "member.registered":
        return f"{who(data.get('member_id'))} joined"
    if event.kind == "ledger.achievement_granted":
        title = data.get("name") or data.get("achievement") or data.get("code") or ""
        return f"{who(data.get('member_id'))} earned {title}".strip()
    if event.kind in {"system.alert_raised", "system.alert_resolved"}:  # ops.alerts
        state = "raised" if event.kind.endswith("raised") else "resolved"
        return f"alert {state}: {data.get('title') or data.get('key') or ''}".strip()
    label = event.kind.replace("_", " ").replace(".", ": ", 1)
    if isinstance(data.get("member_id"), int):
        return f"{label} — {who(data['member_id'])}"
    return label


def feed(limit: int = FEED_SIZE, kinds=None, *, public_only: bool = False) -> list[FeedItem]:
    """The latest events as lines. `public_only` (what overlays show): kinds with a public
    projection only, each line written from it."""
    rows = Event.objects.order_by("-seq")
    if public_only:
        kinds = set(kinds or public.PROJECTORS) & set(public.PROJECTORS)
    if kinds:
        rows = rows.filter(kind__in=sorted(kinds))
    shown = [(e, public.project(e.kind, e.data) if public_only else e.data) for e in rows[:limit]]
    shown = [(e, data) for e, data in shown if data is not None]
    names = _names(m for _, data in shown for m in _member_ids(data))
    return [FeedItem(e.seq, e.created_at, e.kind, describe(e, names, data)) for e, data in shown]


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
    from ledger.models import Hold, Posting

    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    members = Member.objects.aggregate(
        total=Count("pk"), today=Count("pk", filter=Q(created_at__gte=today))
    )
    flows = (
        Posting.objects.filter(transfer__created_at__gte=today, account__member__isnull=True)
        .values("account__currency__code")
        .annotate(
            issued=Sum("amount", filter=Q(account__name="issuance")),
            spent=Sum("amount", filter=Q(account__name__startswith="sink:")),
        )
        .order_by("account__currency__code")
    )
    run = IntegrityRun.objects.order_by("-pk").first()
    return {
        "members": members["total"],
        "registrations_today": members["today"],
        "flows": [
            {
                "currency": row["account__currency__code"],
                "issued": -(row["issued"] or 0),
                "spent": row["spent"] or 0,
            }
            for row in flows
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
                "rows": leaderboard_rows(currency),
            },
            separators=(",", ":"),
        )
    if view == "ticker":
        items = feed(TICKER_SIZE, TICKER_KINDS, public_only=True)
        return json.dumps(
            {
                "type": "ticker",
                "seq": seq,
                "items": [
                    {"seq": i.seq, "at": i.at.isoformat().replace("+00:00", "Z"), "text": i.text}
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
    raise ValueError(f"no such view: {view}")
