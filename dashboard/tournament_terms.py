"""Creating and editing a draft tournament from the dashboard: a real form, not JSON.

The windows are typed in the staff member's time zone (the browser's, preselected by
static/dashboard/controls.js; any IANA zone may be chosen) and shown in UTC beside it;
the prize table is rows of (placement, amount). The form only parses: the terms are
validated by `tournaments.actions.create_tournament` / `update_tournament`, whose
refusal message is shown above the form (422), nothing written."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from functools import cache

from django import forms
from django.shortcuts import get_object_or_404, redirect, render

from config.errors import Refusal
from dashboard.controls import permitted
from dashboard.tournament_controls import ADD, CHANGE

WINDOWS = [
    ("registration_opens_at", "Registration opens"),
    ("registration_closes_at", "Registration closes"),
    ("check_in_opens_at", "Check-in opens"),
    ("check_in_closes_at", "Check-in closes"),
]
BASICS = ["name", "game", "currency", "entry_fee", "capacity", "waitlist_limit", "format"]
PRIZE_ROWS_EXTRA = 3
LOCAL = "%Y-%m-%dT%H:%M"


@cache
def _zones() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class TermsForm(forms.Form):
    name = forms.CharField(max_length=150)
    game = forms.CharField(max_length=100, required=False)
    currency = forms.ChoiceField(initial="points")
    entry_fee = forms.IntegerField(min_value=0, initial=0)
    capacity = forms.IntegerField(min_value=2, initial=8)
    waitlist_limit = forms.IntegerField(
        min_value=0, required=False, help_text="Empty: no limit; 0: no waitlist."
    )
    format = forms.ChoiceField()
    time_zone = forms.ChoiceField(initial="UTC")
    registration_opens_at = forms.CharField()
    registration_closes_at = forms.CharField()
    check_in_opens_at = forms.CharField()
    check_in_closes_at = forms.CharField()

    def __init__(self, *args, **kwargs):
        from ledger.models import Currency
        from tournaments.models import Format

        super().__init__(*args, **kwargs)
        codes = Currency.objects.order_by("code").values_list("code", flat=True)
        self.fields["currency"].choices = [(code, code) for code in codes]
        self.fields["format"].choices = Format.choices
        self.fields["time_zone"].choices = _zones()
        for name, _ in WINDOWS:
            self.fields[name].widget = forms.DateTimeInput(attrs={"type": "datetime-local"})

    def clean(self):
        data = super().clean()
        zone = zoneinfo.ZoneInfo(data.get("time_zone") or "UTC")
        for name, label in WINDOWS:
            raw = data.get(name)
            if raw is None:
                continue
            try:
                local = datetime.strptime(raw.strip()[:16], LOCAL)
            except ValueError:
                self.add_error(name, f"{label}: a date and time, e.g. 2026-12-24T18:00")
                continue
            data[name] = local.replace(tzinfo=zone)
        return data


def _prize_rows(post) -> tuple[dict, list[tuple[str, str]]]:
    """The prize table from the rows, and the rows as typed. A row without an amount is
    no prize (the form offers placements 1 to 3 filled in: one left empty is skipped)."""
    rows = list(zip(post.getlist("prize_place"), post.getlist("prize_amount"), strict=False))
    table = {}
    for place, amount in rows:
        place, amount = place.strip(), amount.strip().replace(",", "")
        if not amount:
            continue
        table[place] = int(amount) if amount.isascii() and amount.isdigit() else amount
    return table, rows


def _initial(tournament, zone_name: str) -> tuple[dict, list[tuple[str, str]]]:
    zone = zoneinfo.ZoneInfo(zone_name)
    initial = {
        "name": tournament.name,
        "game": tournament.game,
        "currency": tournament.currency.code,
        "entry_fee": tournament.entry_fee,
        "capacity": tournament.capacity,
        "waitlist_limit": tournament.waitlist_limit,
        "format": tournament.format,
        "time_zone": zone_name,
    }
    for name, _ in WINDOWS:
        initial[name] = getattr(tournament, name).astimezone(zone).strftime(LOCAL)
    return initial, [(p, str(a)) for p, a in (tournament.prize_table or {}).items()]


def _utc(form) -> dict[str, str]:
    """Each window in UTC, for the hint beside it (when it parses)."""
    shown = {}
    data = getattr(form, "cleaned_data", None) or {}
    for name, _ in WINDOWS:
        if isinstance(data.get(name), datetime):
            shown[name] = data[name].astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return shown


def _page(request, form, rows, *, tournament=None, refusal="", status=200):
    rows = list(rows) + [("", "")] * PRIZE_ROWS_EXTRA
    return render(
        request,
        "dashboard/tournament_form.html",
        {
            "form": form,
            "basics": [form[name] for name in BASICS],
            "windows": [(form[name], label) for name, label in WINDOWS],
            "utc": _utc(form),
            "rows": rows,
            "tournament": tournament,
            "refusal": refusal,
        },
        status=status,
    )


def _submit(request, tournament=None):
    """Parse the form and call the one action; the page again with the refusal if any."""
    from tournaments import actions as cup

    form = TermsForm(request.POST)
    table, rows = _prize_rows(request.POST)
    if not form.is_valid():
        return _page(request, form, rows, tournament=tournament, status=422)
    terms = {k: v for k, v in form.cleaned_data.items() if k != "time_zone"}
    try:
        if tournament is None:
            tournament = cup.create_tournament(actor=request.user, prize_table=table, **terms)
        else:
            cup.update_tournament(tournament, actor=request.user, prize_table=table, **terms)
    except Refusal as error:
        return _page(request, form, rows, tournament=tournament, refusal=str(error), status=422)
    return redirect("dashboard:tournament", tournament.pk)


@permitted(ADD)
def new(request):
    if request.method == "POST":
        return _submit(request)
    zone = request.COOKIES.get("tz", "UTC")
    form = TermsForm(initial={"time_zone": zone if (zone, zone) in _zones() else "UTC"})
    return _page(request, form, [("1", ""), ("2", "")])


@permitted(CHANGE)
def edit(request, tournament_id: int):
    from tournaments.models import Tournament

    tournament = get_object_or_404(Tournament.objects.select_related("currency"), pk=tournament_id)
    if request.method == "POST":
        return _submit(request, tournament)
    zone = request.COOKIES.get("tz", "UTC")
    initial, rows = _initial(tournament, zone if (zone, zone) in _zones() else "UTC")
    return _page(request, TermsForm(initial=initial), rows, tournament=tournament)
