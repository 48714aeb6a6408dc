"""The tournament page as a control room: every step of a tournament night, each an htmx
POST calling one `tournaments.actions` function (dashboard/controls.py says how
permissions and refusals work).

Who presses what (dashboard/roles.py): creating a draft needs `add_tournament`, editing
one `change_tournament`, running it (registration, check-in, bracket, finalize, cancel,
registering, withdrawing and disqualifying players) `run_tournament`, and recording a
result `record_result`.

Live updates: the board fragment the hub pushes is rendered once for every socket of the
tournament, so it carries no buttons (nor anyone's CSRF token). A page with controls
keeps that pushed board hidden and shows its own panel (the same template, with the
controls this user may press), fetched again after each push (static/dashboard/
controls.js); a control's answer is the fresh panel itself."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from dashboard import boards
from dashboard.controls import PII, VIEW, Unparsable, control, permitted

RUN = "tournaments.run_tournament"
RECORD = "tournaments.record_result"
ADD = "tournaments.add_tournament"
CHANGE = "tournaments.change_tournament"
FOUND_SHOWN = 10


def controls_for(user, tournament) -> dict | None:
    """What `user` may press on `tournament`'s page, with the confirmations that say what
    a destructive step will do; None for a user who may press nothing."""
    run, record = user.has_perm(RUN), user.has_perm(RECORD)
    edit = user.has_perm(CHANGE) and tournament.status == "draft"
    if not (run or record or edit):
        return None
    fee = f"{tournament.entry_fee:,} {tournament.currency.code}"
    no_shows = (
        tournament.active_count - tournament.registrations.filter(status="checked_in").count()
    )
    prizes = ", ".join(
        f"#{place}: {amount:,}" for place, amount in (tournament.prize_table or {}).items()
    )
    return {
        "run": run,
        "record": record,
        "edit": edit,
        "confirm_close": f"Close check-in? {no_shows} registered player(s) who have not"
        " checked in become no-shows (their entry fees are not refunded); their slots go to"
        " the waitlist in order, checked in at once. The tournament then starts.",
        "confirm_finalize": "Finalize? Placements are recorded and the prizes paid"
        f" ({prizes or 'no prize table'}, in {tournament.currency.code}). This cannot be"
        " undone.",
        "confirm_cancel": f"Cancel {tournament.name}? All {tournament.active_count} player(s)"
        f" and {tournament.waitlist_count} on the waitlist are withdrawn"
        + (f" and every paid entry fee ({fee}) is refunded" if tournament.entry_fee else "")
        + "; no prizes are paid. This cannot be undone.",
        "confirm_withdraw": "Withdraw this player?"
        + (f" Their entry fee ({fee}) is refunded." if tournament.entry_fee else "")
        + " Their slot goes to the first on the waitlist.",
        "confirm_disqualify": "Disqualify this player? Their entry fee is not refunded,"
        " their slot goes to the first on the waitlist and they cannot register again.",
    }


def _panel(request, tournament_id: int, *, keep_search: bool = False) -> HttpResponse:
    """The panel. `keep_search` (a live refresh): its member search is the page's own,
    kept as it is (hx-preserve); a control's answer starts it afresh."""
    from tournaments.models import Tournament

    board = boards.tournament_board(tournament_id)
    if board is None:
        raise Http404("no such tournament")
    tournament = Tournament.objects.select_related("currency").get(pk=tournament_id)
    return render(
        request,
        "dashboard/_tournament.html",
        {
            "board": board,
            "ctl": controls_for(request.user, tournament),
            "panel": True,
            "keep_search": keep_search,
        },
    )


@permitted(VIEW)
@require_GET
def panel(request, tournament_id: int):
    """The tournament's board with the controls this user may press (the page's live
    refresh)."""
    return _panel(request, tournament_id, keep_search=True)


def _tournament(tournament_id: int):
    from tournaments.models import Tournament

    return get_object_or_404(Tournament, pk=tournament_id)


def _steps():
    from tournaments import actions as cup

    return {
        "open-registration": lambda t, r: cup.open_registration(t, actor=r.user),
        "open-check-in": lambda t, r: cup.open_check_in(t, actor=r.user),
        "close-check-in": lambda t, r: cup.close_check_in(t, actor=r.user),
        "generate-bracket": lambda t, r: cup.generate_bracket(t, actor=r.user),
        "finalize": lambda t, r: cup.finalize(t, actor=r.user),
        "cancel": lambda t, r: cup.cancel(t, reason=r.POST.get("reason", ""), actor=r.user),
    }


@control(RUN)
def step(request, tournament_id: int, name: str):
    """One status step of the tournament (open registration ... finalize, cancel)."""
    steps = _steps()
    if name not in steps:
        raise Http404("no such step")
    steps[name](_tournament(tournament_id), request)
    return _panel(request, tournament_id)


@control(RUN)
def player(request, tournament_id: int, registration_id: int, name: str):
    """Check a player in, withdraw them, or disqualify them (with a reason)."""
    from tournaments import actions as cup
    from tournaments.models import Registration

    registration = get_object_or_404(Registration, pk=registration_id, tournament_id=tournament_id)
    if name == "check-in":
        cup.check_in(registration, actor=request.user)
    elif name == "withdraw":
        cup.withdraw(registration, actor=request.user)
    elif name == "disqualify":
        reason = request.POST.get("reason", "").strip()
        if not reason:
            raise Unparsable("Say why the player is disqualified (a reason is required).")
        cup.disqualify(registration, reason=reason, actor=request.user)
    else:
        raise Http404("no such step")
    return _panel(request, tournament_id)


@control(RUN)
def register(request, tournament_id: int):
    """Register the member chosen in the search."""
    from accounts.models import Member
    from tournaments import actions as cup

    member_id = request.POST.get("member", "")
    member = Member.objects.filter(pk=int(member_id)).first() if member_id.isdigit() else None
    if member is None:
        raise Unparsable("Choose a member to register (search by name, username or id).")
    cup.register(_tournament(tournament_id), member, actor=request.user)
    return _panel(request, tournament_id)


@permitted(RUN)
@require_GET
def search(request, tournament_id: int):
    """Members matching the query (name, username, `#id`; platform id for those who may
    see it), each with a Register button."""
    from django.db.models import Q

    from accounts.models import Member

    query = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    pii = request.user.has_perm(PII)
    found = []
    if query:
        match = Q(display_name__icontains=query)
        if pii:  # usernames and platform ids are personal data (docs/SECURITY.md)
            match |= Q(identities__username__icontains=query) | Q(identities__external_id=query)
        number = query.removeprefix("#")
        if number.isascii() and number.isdigit() and len(number) <= 18:
            match |= Q(pk=int(number))
        found = list(
            Member.objects.filter(match)
            .distinct()
            .order_by("display_name", "pk")
            .prefetch_related("identities")[:FOUND_SHOWN]
        )
    return render(
        request,
        "dashboard/_register_search.html",
        {"found": found, "query": query, "tournament_id": tournament_id, "pii": pii},
    )


@control(RECORD)
def result(request, tournament_id: int, match_id: int):
    """Record a match's result: the winner chosen in the bracket, the score typed."""
    from tournaments import actions as cup
    from tournaments.models import Match

    match = get_object_or_404(Match, pk=match_id, tournament_id=tournament_id)
    side = request.POST.get("winner", "")
    winner = {"home": match.home_id, "away": match.away_id}.get(side)
    if winner is None:
        raise Unparsable("Choose the winner.")
    cup.record_result(match, winner, request.POST.get("score", ""), actor=request.user)
    return _panel(request, tournament_id)
