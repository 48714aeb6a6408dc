"""Tournament admin: records are read-only here; every change goes through
tournaments.actions, as the staff user (drafts are created and edited through
`create_tournament` / `update_tournament`; status changes, check-ins, withdrawals and
results are admin actions)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from config.admin import ReadOnlyAdmin, requires
from ledger.exceptions import LedgerError
from tournaments import actions
from tournaments.exceptions import TournamentsError
from tournaments.models import Match, MatchStatus, Registration, Status, Tournament

TERM_FIELDS = [
    "name",
    "game",
    "currency",
    "entry_fee",
    "capacity",
    "waitlist_limit",
    "format",
    "registration_opens_at",
    "registration_closes_at",
    "check_in_opens_at",
    "check_in_closes_at",
    "prize_table",
]


class TournamentForm(forms.ModelForm):
    """The add and (draft) change form: validated by the same `validate_terms` the
    actions use."""

    class Meta:
        model = Tournament
        fields = TERM_FIELDS

    def clean(self):
        data = super().clean()
        if self.errors or (self.instance.pk and self.instance.status != Status.DRAFT):
            return data  # the terms are read-only once registration opens
        try:
            self.terms = actions.validate_terms(
                **{name: data.get(name) for name in TERM_FIELDS if name != "currency"},
                currency=data["currency"].code,
            )
        except TournamentsError as exc:
            raise ValidationError(str(exc)) from None
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=255, required=False)


class ResultForm(forms.Form):
    winner = forms.ChoiceField(
        choices=[("home", "Home"), ("away", "Away")], widget=forms.RadioSelect
    )
    score = forms.CharField(max_length=32, help_text='For example "2-1".')


def _selected(queryset) -> list[str]:
    return [str(pk) for pk in queryset.values_list("pk", flat=True)]


def _confirm(modeladmin, request, queryset, *, title, action, form, objects):
    return TemplateResponse(
        request,
        "admin/ledger/confirm_action.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "objects": objects,
            "form": form,
            "action": action,
            "selected": _selected(queryset),
            "opts": modeladmin.model._meta,
        },
    )


def _acting(name: str, description: str, done: str):
    """The admin action `name`: `tournaments.actions.<name>(obj, actor=<the staff user>)`
    for each selected object in id order, as `_each` does; it needs run_tournament."""
    action = getattr(actions, name)

    @admin.action(description=description, permissions=["run_tournament"])
    def run(modeladmin, request, queryset):
        _each(
            modeladmin,
            request,
            queryset.order_by("pk"),
            lambda obj: action(obj, actor=request.user),
            done,
        )

    run.__name__ = name
    return run


def _each(modeladmin, request, objects, run, done: str) -> None:
    """Run `run(obj)` for each object; refusals become error messages, not a 500."""
    count = 0
    for obj in objects:
        try:
            run(obj)
            count += 1
        except (TournamentsError, LedgerError) as error:
            modeladmin.message_user(request, f"{obj}: {error}", messages.ERROR)
    if count:
        modeladmin.message_user(request, done.format(count=count), messages.SUCCESS)


def _with_reason(modeladmin, request, queryset, objects, run, *, title, action, done):
    """An action that asks for a reason first: the confirmation page with `ReasonForm`,
    then, on "apply" with a valid reason, `run(obj, reason)` for each object (`_each`)."""
    if "apply" in request.POST:
        form = ReasonForm(request.POST)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            _each(modeladmin, request, objects, lambda obj: run(obj, reason), done)
            return None
    else:
        form = ReasonForm()
    return _confirm(
        modeladmin, request, queryset, title=title, action=action, form=form, objects=objects
    )


@admin.register(Tournament)
class TournamentAdmin(admin.ModelAdmin):
    form = TournamentForm
    list_display = [
        "id",
        "name",
        "game",
        "status",
        "format",
        "capacity",
        "active_count",
        "waitlist_count",
        "entry_fee",
        "currency",
        "registration_opens_at",
    ]
    list_filter = ["status", "format", "currency"]
    search_fields = ["name", "game", "=id"]
    readonly_fields = ["status", "active_count", "waitlist_count", "prize_transfer", "created_at"]
    actions = [
        "open_registration",
        "open_check_in",
        "close_check_in",
        "generate_bracket",
        "finalize",
        "cancel",
    ]
    has_run_tournament_permission = requires("tournaments.run_tournament")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        if obj.status != Status.DRAFT:  # the database fixes the terms once it opens
            return [*TERM_FIELDS, *self.readonly_fields]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change and not form.changed_data:
            return
        if change:
            changes = {
                name: (
                    form.cleaned_data[name].code if name == "currency" else form.cleaned_data[name]
                )
                for name in form.changed_data
            }
            saved = actions.update_tournament(obj, actor=request.user, **changes)
        else:
            terms = {name: form.cleaned_data[name] for name in TERM_FIELDS}
            terms["currency"] = terms["currency"].code
            saved = actions.create_tournament(actor=request.user, **terms)
        obj.__dict__.update(saved.__dict__)

    def has_delete_permission(self, request, obj=None):
        return False

    open_registration = _acting(
        "open_registration",
        "Open registration",
        "Opened registration of {count} tournament(s).",
    )

    open_check_in = _acting(
        "open_check_in",
        "Open check-in (ends registration)",
        "Opened check-in of {count} tournament(s).",
    )

    close_check_in = _acting(
        "close_check_in",
        "Close check-in (no-shows out, waitlist in; starts the tournament)",
        "Closed check-in of {count} tournament(s).",
    )

    generate_bracket = _acting(
        "generate_bracket",
        "Generate the bracket",
        "Generated the bracket of {count} tournament(s).",
    )

    finalize = _acting(
        "finalize",
        "Finalize (pay the prizes, complete)",
        "Finalized {count} tournament(s).",
    )

    @admin.action(description="Cancel (refunds every fee)…", permissions=["run_tournament"])
    def cancel(self, request, queryset):
        return _with_reason(
            self,
            request,
            queryset,
            list(queryset.order_by("pk")),
            lambda t, reason: actions.cancel(t, reason=reason, actor=request.user),
            title="Cancel tournaments",
            action="cancel",
            done="Cancelled {count} tournament(s).",
        )


@admin.register(Registration)
class RegistrationAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "tournament",
        "member",
        "status",
        "waitlist_position",
        "seed",
        "placement",
        "fee_transfer",
        "refund_transfer",
        "created_at",
    ]
    list_filter = ["status", "tournament"]
    list_select_related = ["tournament", "member"]
    search_fields = ["member__display_name", "=member__id", "=tournament__id", "=id"]
    ordering = ["tournament", "waitlist_position", "created_at"]
    show_full_result_count = False
    actions = ["check_in", "withdraw", "disqualify"]
    has_run_tournament_permission = requires("tournaments.run_tournament")

    check_in = _acting(
        "check_in",
        "Check in",
        "Checked in {count} registration(s).",
    )

    withdraw = _acting(
        "withdraw",
        "Withdraw (refunds the fee, promotes the waitlist)",
        "Withdrew {count} registration(s).",
    )

    @admin.action(
        description="Disqualify (no refund, promotes the waitlist)…", permissions=["run_tournament"]
    )
    def disqualify(self, request, queryset):
        return _with_reason(
            self,
            request,
            queryset,
            list(queryset.order_by("pk").select_related("member", "tournament")),
            lambda r, reason: actions.disqualify(r, reason=reason, actor=request.user),
            title="Disqualify",
            action="disqualify",
            done="Disqualified {count} registration(s).",
        )


@admin.register(Match)
class MatchAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "tournament",
        "round",
        "slot",
        "home",
        "away",
        "winner",
        "score",
        "status",
    ]
    list_filter = ["status", "tournament"]
    list_select_related = ["tournament", "home__member", "away__member", "winner__member"]
    ordering = ["tournament", "round", "slot"]
    actions = ["record_result"]
    has_record_result_permission = requires("tournaments.record_result")

    @admin.action(description="Record result…", permissions=["record_result"])
    def record_result(self, request, queryset):
        matches = list(queryset[:2])
        if len(matches) != 1 or matches[0].status != MatchStatus.READY:
            self.message_user(request, "Select one match that is ready to play.", messages.WARNING)
            return None
        match = matches[0]
        if "apply" in request.POST:
            form = ResultForm(request.POST)
            if form.is_valid():
                winner = match.home if form.cleaned_data["winner"] == "home" else match.away
                _each(
                    self,
                    request,
                    [match],
                    lambda m: actions.record_result(
                        m, winner, form.cleaned_data["score"], actor=request.user
                    ),
                    "Recorded the result.",
                )
                return None
        else:
            form = ResultForm()
        return _confirm(
            self,
            request,
            queryset,
            title=f"Record result ({match.home} v {match.away})",
            action="record_result",
            form=form,
            objects=[match],
        )
