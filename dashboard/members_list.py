"""The members list: columns (platform, balance, last active, premium), sorting, filters,
search (name, referral code, `#id`; with `accounts.view_member_pii` also username, part
of an email and platform id), a CSV export of the current filter (each recorded as a
`members.exported` event), and a bulk award to
the selected members (one `ledger.award_many`, Treasurer's `ledger.adjust_balance`).

One `Listing` reads the query string once; the page, the CSV and the bulk form's return
address all use it, so what is exported is exactly what is shown."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Exists, F, FilteredRelation, OuterRef, Q, Subquery
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from config.text import csv_writer
from dashboard.actions import record_members_export
from dashboard.controls import PII, VIEW, permitted
from dashboard.member_controls import ADJUST

PAGE = 50
# A filtered page sorted by balance walks the ranks in chunks, at most this far.
WALK_CHUNK = 1_000
WALK_MAX = 20_000
# A search finding at least this many members is tested row by row (`Listing._matching`).
BROAD = 10_000
COUNT_CAP = 10_000  # rows the pager counts beyond the page asked for; past it, "N+ pages"
CSV_MAX = 100_000
SORTS = {
    "joined": ("-created_at", "-pk"),
    "oldest": ("created_at", "pk"),
    "name": ("display_name", "pk"),
    # Ties by id ascending and members without a wallet last, as the leaderboard ranks
    # (`Listing.by_balance` reads the pages from the boards the relay keeps).
    "balance": (F("balance").desc(nulls_last=True), "pk"),
    "active": ("-last_active_at", "-pk"),
}
ACTIVE_DAYS = ("1", "7", "30", "90")
TOKEN = re.compile(r"\A[A-Za-z0-9_-]{16,64}\Z")


@dataclass(frozen=True)
class Listing:
    query: str
    platform: str
    premium: str  # "", "yes", "no"
    active: str  # "", or days
    sort: str
    currency: str

    @classmethod
    def of(cls, data) -> Listing:
        from accounts.models import Platform

        def pick(name: str, allowed, default: str = "") -> str:
            value = data.get(name, default)
            return value if value in allowed else default

        return cls(
            query=data.get("q", "").replace("\x00", "").strip()[:100],
            platform=pick("platform", Platform.values),
            premium=pick("premium", ("yes", "no")),
            active=pick("active", ACTIVE_DAYS),
            sort=pick("sort", SORTS, "joined"),
            currency=data.get("currency", "points")[:32] or "points",
        )

    def params(self, **changes) -> str:
        values = {
            "q": self.query,
            "platform": self.platform,
            "premium": self.premium,
            "active": self.active,
            "sort": self.sort,
            "currency": self.currency,
            **changes,
        }
        return urlencode({k: v for k, v in values.items() if v})

    @cached_property
    def now(self):
        """The moment the list is read as of (premium now, active in the last days)."""
        return timezone.now()

    @cached_property
    def currency_id(self) -> int:
        """The chosen currency's id (0, matching no wallet, if there is none)."""
        from ledger.models import Currency

        found = Currency.objects.filter(code=self.currency).values_list("pk", flat=True)
        return found.first() or 0

    def members(self, pii: bool):
        from accounts.models import Identity

        now = self.now
        found = self.columns()
        if self.query and self._broad(pii):
            found = found.filter(self._matching(pii))
        elif self.query:
            found = found.filter(pk__in=self._matching_ids(pii))
        if self.platform:  # a semi-join: no DISTINCT over every column of every row
            found = found.filter(
                pk__in=Identity.objects.filter(platform=self.platform).values("member_id")
            )
        if self.premium:
            found = found.filter(premium_now=self.premium == "yes")
        if self.active:
            found = found.filter(last_active_at__gte=now - timedelta(days=int(self.active)))
        return found.order_by(*SORTS[self.sort])

    def columns(self):
        """Every member with the list's computed columns (no filter, no order)."""
        from accounts.models import Identity, Member, Subscription

        # The wallet of the chosen currency joined (a member has at most one), not read
        # by a subquery per member: sorting by balance then sorts a join (0.3-0.6 s at a
        # million members) instead of running a million subqueries first (2 s).
        return Member.objects.annotate(
            wallet=FilteredRelation("wallets", condition=Q(wallets__currency_id=self.currency_id)),
        ).annotate(
            balance=F("wallet__balance"),
            platform=Subquery(
                Identity.objects.filter(member=OuterRef("pk")).order_by("pk").values("platform")[:1]
            ),
            premium_now=Exists(
                Subscription.objects.premium(self.now).filter(member=OuterRef("pk"))
            ),
        )

    def by_balance(self, found, number: int, *, pii: bool = False) -> list | None:
        """Page `number` sorted by balance in the order of the boards the relay keeps, or
        None (a board that cannot say, a page reaching members without a wallet: the
        query). Unfiltered, page 1 is the cached leaderboard (top LEADERBOARD_DEPTH:
        dashboard.cache) and a later one a slice of every member's rank
        (dashboard.ranks); filtered (a search, platform, premium, activity), the ranks
        are walked from the top in chunks, each chunk's ids filtered by the query, until
        the page is full or WALK_MAX ranks were read; a search that finds fewer than
        BROAD members is the query (few rows to sort). Sorting every wallet takes seconds
        at a million members, and no index covers balance (wallet updates stay in place:
        ledger.0005). The balances shown are read now; the order is the board's, which
        trails a commit by the relay's moment."""
        from dashboard import cache as cached
        from dashboard import ranks
        from ledger.exceptions import LedgerError

        if self.sort != "balance":
            return None
        if self.query and not self._broad(pii):
            return None  # a search that finds few: sorting them is quicker than a walk
        filtered = bool(self.query or self.platform or self.premium or self.active)
        try:
            if number == 1 and not filtered:
                board = cached.leaderboard(self.currency, PAGE)
            elif cached.unrelayed(cached.leaderboard_name(self.currency)):
                return None  # this process wrote what the board may not show yet
            elif filtered:
                return self._walk(found, number)
            else:
                board = ranks.window(self.currency, PAGE, offset=(number - 1) * PAGE) or []
        except LedgerError:  # no such currency: the query shows no balances
            return None
        if len(board) < PAGE:
            return None
        return _in_order(found, [row["member_id"] for row in board])

    def _walk(self, found, number: int) -> list | None:
        from dashboard import ranks

        wanted, ids = number * PAGE, []
        for offset in range(0, WALK_MAX, WALK_CHUNK):
            rows = ranks.window(self.currency, WALK_CHUNK, offset=offset)
            if rows is None:
                return None
            chunk = [row["member_id"] for row in rows]
            kept = set(found.order_by().filter(pk__in=chunk).values_list("pk", flat=True))
            ids += [pk for pk in chunk if pk in kept]
            if len(ids) >= wanted:
                return _in_order(found, ids[wanted - PAGE : wanted])
            if len(rows) < WALK_CHUNK:
                return None  # past the last wallet: members without one follow
        return None

    def _lookups(self, pii: bool) -> list:
        """One query of member ids per key the search reads, each served by its own index
        (trigram indexes for the parts of names, usernames and emails: dashboard.0004)."""
        from accounts.models import Identity, Member

        query = self.query
        lookups = [
            Member.objects.filter(display_name__icontains=query).values_list("pk", flat=True),
            Member.objects.filter(referral_code=query.upper()).values_list("pk", flat=True),
        ]
        if pii:  # a search by email, username or platform id is a lookup of personal data
            lookups += [
                Member.objects.filter(email_normalized__icontains=query.lower()).values_list(
                    "pk", flat=True
                ),
                Identity.objects.filter(external_id=query).values_list("member_id", flat=True),
                Identity.objects.filter(username__icontains=query.removeprefix("@")).values_list(
                    "member_id", flat=True
                ),
            ]
        if self._number is not None:
            lookups.append(Member.objects.filter(pk=self._number).values_list("pk", flat=True))
        return lookups

    @property
    def _number(self) -> int | None:
        number = self.query.removeprefix("#")
        return int(number) if number.isascii() and number.isdigit() and len(number) <= 18 else None

    def _matching_ids(self, pii: bool):
        """The ids of the members the search finds: a UNION of the lookups, where one OR
        across a join scanned every member. For a search that finds few."""
        lookups = self._lookups(pii)
        return lookups[0].union(*lookups[1:])

    def _matching(self, pii: bool) -> Q:
        """The search as a test of each row, for a search that finds many: a page in any
        order then reads rows until it is full, where the UNION found every match first
        (a name in all 1,000,000 members: 0.35 s for each of the page's queries)."""
        from accounts.models import Identity

        query = self.query
        found = Q(display_name__icontains=query) | Q(referral_code=query.upper())
        if pii:
            found |= Q(email_normalized__icontains=query.lower()) | Exists(
                Identity.objects.filter(member=OuterRef("pk")).filter(
                    Q(external_id=query) | Q(username__icontains=query.removeprefix("@"))
                )
            )
        if self._number is not None:
            found |= Q(pk=self._number)
        return found

    def _broad(self, pii: bool) -> bool:
        """Whether the search finds at least BROAD members: each lookup reads at most
        that many ids (a few ms either way), and their union decides. Asked once per
        listing (the page and its pager, the CSV and its count agree)."""
        known = self.__dict__.setdefault("_broad_known", {})  # frozen: no attribute set
        if pii not in known:
            found: set[int] = set()
            for lookup in self._lookups(pii):
                found.update(lookup[:BROAD])
                if len(found) >= BROAD:
                    break
            known[pii] = len(found) >= BROAD
        return known[pii]


@permitted(VIEW)
@require_GET
def members(request):
    from accounts.models import Platform
    from accounts.queries import subscription_counts
    from ledger.models import Currency

    listing = Listing.of(request.GET)
    pii = request.user.has_perm(PII)
    if request.GET.get("format") == "csv":
        return _csv(listing, pii, actor=request.user)
    found = listing.members(pii)
    page = _page(found, request.GET.get("page"))
    ranked = listing.by_balance(found, page.number, pii=pii)
    page.object_list = ranked if ranked is not None else _rows(listing, page.object_list)
    return render(
        request,
        "dashboard/members.html",
        {
            "listing": listing,
            "query": listing.query,
            "page": page,
            "pii": pii,
            "platforms": Platform.choices,
            "currencies": list(Currency.objects.order_by("code").values_list("code", flat=True)),
            "sorts": list(SORTS),
            "active_days": ACTIVE_DAYS,
            "subscriptions": subscription_counts(timezone.now()),
            "can_award": request.user.has_perm(ADJUST),
            "token": secrets.token_urlsafe(16),
        },
    )


def _page(found, asked):
    """The page `asked` for, counting at most COUNT_CAP rows past it (or past the
    start): counting every match of a filter (every telegram member, 0.7 s and more at a
    million members) was most of the page's time. When more rows match, the pager says
    "of N+" (`paginator.more`) and "next" is always offered; the rows of each page are
    the query's, as before."""
    try:
        number = min(max(1, int(asked)), 1_000_000)  # past any count: the last page
    except (TypeError, ValueError):
        number = 1
    limit = number * PAGE + COUNT_CAP + 1
    paginator = Paginator(found, PAGE)
    counted = found.order_by().values("pk")[:limit].count()
    paginator.count = counted  # a cached_property: what num_pages and the pages use
    paginator.more = counted == limit
    paginator.at_least = (limit - 1) // PAGE
    return paginator.get_page(number)


def _rows(listing: Listing, sliced) -> list:
    """The page's members: their ids in the page's order first (a sort of ids and sort
    keys only), then the columns of those ids alone (not filtered again). Sorting whole
    rows of a million members spilled to disk (1.2 s of the page sorted by balance at
    1,000,000 members)."""
    return _in_order(listing.columns(), list(sliced.values_list("pk", flat=True)))


def _in_order(found, ids: list[int]) -> list:
    """The members of `found` with these ids, in the ids' order (missing ones left out)."""
    rows = {m.pk: m for m in found.filter(pk__in=ids)}
    return [rows[pk] for pk in ids if pk in rows]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv(listing: Listing, pii: bool, *, actor) -> StreamingHttpResponse:
    """The current filter as CSV (at most CSV_MAX rows), personal data only for `pii`;
    recorded first as `members.exported` (who, the filter, how many rows, whether personal
    data was in it)."""
    record_members_export(
        listing, rows=listing.members(pii)[:CSV_MAX].count(), pii=pii, actor=actor
    )
    header = ["id", "name", "platform", f"balance_{listing.currency}", "premium"]
    header += ["last_active", "joined"] + (["email"] if pii else [])
    writer = csv_writer(_Echo())

    def rows():
        yield writer.writerow(header)
        for m in listing.members(pii)[:CSV_MAX].iterator(chunk_size=2000):
            row = [m.pk, m.display_name, m.platform or "", m.balance or 0]
            row += ["yes" if m.premium_now else "no"]
            row += [m.last_active_at.isoformat() if m.last_active_at else ""]
            row += [m.created_at.isoformat()] + ([m.email or ""] if pii else [])
            yield writer.writerow(row)

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="members.csv"'
    return response


@permitted(ADJUST)
@require_POST
def bulk_award(request) -> HttpResponse:
    """Award the same amount to every selected member: one transfer (`award_many`), paid
    once however often the form is sent (its token is the idempotency key). A refusal is
    shown above the list and nothing is written."""
    from accounts.models import Member
    from ledger import actions as ledger
    from ledger.exceptions import LedgerError
    from ledger.models import TransferKind
    from ledger.plans import SystemKey

    back = redirect(f"/dashboard/members/?{Listing.of(request.POST).params()}")
    ids = sorted({int(v) for v in request.POST.getlist("member") if v.isascii() and v.isdigit()})
    amount, token = request.POST.get("amount", ""), request.POST.get("token", "")
    if not ids:
        messages.error(request, "Select at least one member to award.")
        return back
    if not (amount.isascii() and amount.isdigit() and 0 < len(amount) <= 18 and int(amount)):
        messages.error(request, "The amount is a positive whole number.")
        return back
    if not TOKEN.match(token):
        messages.error(request, "This form has expired: reload the page.")
        return back
    found = list(Member.objects.filter(pk__in=ids).only("pk"))
    try:
        ledger.award_many(
            [(member, int(amount)) for member in found],
            currency=request.POST.get("currency", "points"),
            kind=TransferKind.ADJUSTMENT,
            reason=request.POST.get("reason", ""),
            idempotency_key=SystemKey(f"admin-adjust:dashboard-bulk:{token}"),
            actor=request.user,
        )
    except LedgerError as exc:
        messages.error(request, str(exc))
    else:
        gone = len(ids) - len(found)
        note = f" ({gone} selected no longer exist)" if gone else ""
        messages.success(
            request, f"Awarded {int(amount):,} to {len(found)} members in one transfer{note}."
        )
    return back
