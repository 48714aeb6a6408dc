"""Staff dashboard pages and the overlay pages (which use no cookies).

Every staff page asks for a permission (`@permitted`), not just `is_staff`: the roles in
dashboard/roles.py say who holds which. A staff user without the permission gets a page
that says what is missing (403), and a POST without it changes nothing."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from analytics.queries import period
from analytics.report import home_trends
from dashboard import actions, boards, lines, overlay_options, renders
from dashboard import cache as cached
from dashboard.controls import PII, VIEW, permitted
from dashboard.exceptions import DashboardError, InvalidToken, TokenRevoked
from dashboard.hub import read_fleet
from dashboard.models import OverlayToken

SEARCH_PAGE = 50
OVERLAYS = "dashboard.manage_overlays"
ADD = "tournaments.add_tournament"


@permitted(VIEW)
@require_GET
def home(request):
    return render(
        request,
        "dashboard/home.html",
        {
            "counters": renders.counters(),
            # Sparklines of the last 7 days (rollups), for those who may see analytics.
            "trends": home_trends(period("7d", timezone.now()))
            if request.user.has_perm("analytics.view_analytics")
            else None,
            "feed": renders.feed(),
            "feed_groups": lines.FEED_GROUPS,
            "leaderboards": renders.home_leaderboards(renders.currencies()),
        },
    )


@permitted(VIEW)
@require_GET
def leaderboard(request, currency: str):
    """One leaderboard's table: what the home page fetches after painting when the board
    was not cached and is large (renders.home_leaderboards)."""
    if currency not in renders.currencies():
        raise Http404("no such currency")
    rows = renders.leaderboard_rows(currency)
    return render(request, "dashboard/_leaderboard.html", {"currency": currency, "rows": rows})


@permitted(VIEW)
@require_GET
def member(request, member_id: int):
    from accounts.models import Member

    found = get_object_or_404(Member, pk=member_id)
    return render(request, "dashboard/member.html", _member_context(request, found))


@permitted(VIEW)
@require_GET
def member_live(request, member_id: int):
    """The member page's blocks, each to be swapped out of band: what the page fetches
    when the hub says an event named the member (its socket carries nothing more), so
    they show what this user's role may see, checked on this request."""
    from accounts.models import Member

    found = get_object_or_404(Member, pk=member_id)
    return render(request, "dashboard/_member_live.html", _member_context(request, found))


def member_body(request, found, *, status: int = 200) -> HttpResponse:
    """The member page's body alone: what a member control answers with (fresh)."""
    return render(
        request, "dashboard/_member_body.html", _member_context(request, found), status=status
    )


def _member_context(request, found) -> dict:
    from accounts.queries import current_subscription
    from ledger.models import Account, MemberAchievement, Transfer
    from ledger.queries import statement
    from narrative.queries import member_stories
    from payments.queries import member_payments, member_readings

    card = cached.member_card(found.pk) or {}
    # The wallets as they are now (the card may be a moment old after a control's write).
    balances = dict(
        Account.objects.filter(member_id=found.pk)
        .order_by("currency__code")
        .values_list("currency__code", "balance")
    )
    currency = request.GET.get("currency") or request.POST.get("currency")
    if currency not in balances:
        # The wallet with the most in it (its statement is the one most likely wanted).
        currency = max(balances, key=lambda code: (balances[code], code), default=None)
    before = request.GET.get("before", "")
    before_version = (
        int(before) if before.isascii() and before.isdigit() and len(before) <= 18 else None
    )
    lines = statement(found, currency, limit=25, before=before_version) if currency else []
    reversed_ids = set(
        Transfer.objects.filter(reverses_id__in=[line.transfer_id for line in lines]).values_list(
            "reverses_id", flat=True
        )
    )
    # What the live refresh asks for: the same wallet's statement, the same page of it.
    live = {"currency": currency} if currency else {}
    if currency and before_version is not None:
        live["before"] = before_version
    return {
        "member": found,
        "live_query": urlencode(live),
        "card": card,
        "balances": balances,
        "pii": request.user.has_perm(PII),
        "identities": found.identities.order_by("platform", "external_id"),
        "subscription": current_subscription(found.pk, timezone.now()),
        "stories": member_stories(found.pk),
        "currency": currency,
        "lines": lines,
        "next_before": lines[-1].version if len(lines) == 25 else None,
        "reversed": reversed_ids,
        "achievements": MemberAchievement.objects.filter(member=found)
        .select_related("achievement")
        .order_by("-pk"),
        "played": found.tournament_registrations.select_related("tournament").order_by("-pk")[:50],
        # Payments and readings are money and the member's own questions: their roles.
        "payments": member_payments(found.pk)
        if request.user.has_perm("payments.view_payment")
        else None,
        "readings": member_readings(found.pk)
        if request.user.has_perm("payments.view_reading")
        else None,
        **member_controls_context(request, found, balances),
    }


def member_controls_context(request, found, balances: dict) -> dict:
    """What the member page's controls need: who may press what, a fresh form token."""
    import secrets

    from accounts.erasure import is_erased
    from accounts.models import Archetype, Tier
    from ledger.models import Achievement, Currency

    user = request.user
    ctl = {
        "adjust": user.has_perm("ledger.adjust_balance"),
        "reverse": user.has_perm("ledger.reverse_transfer"),
        "grant": user.has_perm("ledger.grant_achievement"),
        "subscribe": user.has_perm("accounts.manage_subscription"),
        "profile": user.has_perm("accounts.change_member"),
        "erase": user.has_perm("accounts.erase_member"),
        "admin": user.has_perm("accounts.view_member") or user.has_perm("accounts.change_member"),
    }
    return {
        "ctl": ctl,
        "token": secrets.token_urlsafe(16),
        "currencies": list(Currency.objects.order_by("code").values_list("code", flat=True))
        if ctl["adjust"]
        else [],
        "grantable": Achievement.objects.filter(is_active=True)
        .exclude(grants__member=found)
        .order_by("name")
        if ctl["grant"]
        else [],
        "tiers": Tier.choices,
        "archetypes": Archetype.choices,
        "erased": is_erased(found),
    }


@permitted(VIEW)
@require_GET
def tournaments(request):
    return render(
        request,
        "dashboard/tournaments.html",
        {"tournaments": boards.tournaments_list(), "can_add": request.user.has_perm(ADD)},
    )


@permitted(VIEW)
@require_GET
def tournament(request, tournament_id: int):
    from dashboard.tournament_controls import controls_for
    from tournaments.models import Tournament

    board = boards.tournament_board(tournament_id)
    if board is None:
        raise Http404("no such tournament")
    found = Tournament.objects.select_related("currency").get(pk=tournament_id)
    return render(
        request,
        "dashboard/tournament.html",
        {"board": board, "ctl": controls_for(request.user, found)},
    )


@permitted(VIEW)
@require_GET
def stories(request):
    return render(request, "dashboard/stories.html", {"stories": boards.stories_list()})


@permitted(VIEW)
@require_GET
def story(request, story_id: int):
    found = boards.story_board(story_id)
    if found is None:
        raise Http404("no such story")
    return render(request, "dashboard/story.html", {"map": found})


@permitted(OVERLAYS)
@require_GET
def overlays(request):
    return render(
        request,
        "dashboard/overlays.html",
        {
            "tokens": OverlayToken.objects.all()[:200],
            "fleet": read_fleet(),
            "currencies": renders.currencies(),
            "tournaments": boards.tournaments_list()[:20],
            "site_url": request.build_absolute_uri("/").rstrip("/"),
        },
    )


@permitted(OVERLAYS)
@require_POST
def overlay_create(request):
    try:
        token = actions.create_token(
            request.POST.get("scope", ""), label=request.POST.get("label", ""), actor=request.user
        )
    except DashboardError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Created: {request.build_absolute_uri(token.path)}")
    return redirect("dashboard:overlays")


@permitted(OVERLAYS)
@require_POST
def overlay_revoke(request, token_id: int):
    actions.revoke(get_object_or_404(OverlayToken, pk=token_id), actor=request.user)
    messages.success(request, "Revoked: overlays on that token are being closed.")
    return redirect("dashboard:overlays")


@permitted(OVERLAYS)
@require_POST
def overlay_reload(request, connection_id: str):
    actions.reload_connection(connection_id)
    messages.success(request, f"Asked overlay {connection_id} to reload.")
    return redirect("dashboard:overlays")


@permitted(OVERLAYS)
@require_GET
def fleet(request):
    """The fleet table alone (the overlays page refreshes it every few seconds)."""
    return render(request, "dashboard/_fleet.html", {"fleet": read_fleet()})


# --- overlays: token in the URL, no cookies, no session --------------------------------


@never_cache
@require_GET
def overlay_page(request, token: str, page: str):
    try:
        found = actions.resolve(token)
    except TokenRevoked:
        return HttpResponse("This overlay link was revoked.", status=410, content_type="text/plain")
    except InvalidToken:
        raise Http404("no such overlay") from None
    if page == "leaderboard" and not found.scope.startswith("leaderboard:"):
        raise Http404("this token is not for a leaderboard")
    if page == "ticker" and found.scope not in {"ticker", "events"}:
        raise Http404("this token is not for a ticker")
    if page == "tournament" and not found.scope.startswith("tournament:"):
        raise Http404("this token is not for a tournament")
    try:
        options = overlay_options.parse(request.GET, page)
    except overlay_options.BadOption as exc:
        return HttpResponse(f"Overlay option: {exc}.", status=400, content_type="text/plain")
    response = render(
        request,
        f"overlays/{page}.html",
        {
            "token": token,
            "overlay": found,
            "options": options,
            "ws_url": f"/ws/stream/?token={token}&view={page}",
        },
    )
    # An OBS browser source keeps no state we want: nothing here sets a cookie.
    response.cookies.clear()
    return response
