"""Ledger admin: the ledger is read-only here; adjustments and reversals go through actions.

Both actions ask first (an intermediate form), carry a one-time token so a resubmitted
form replays instead of paying twice, and record the staff user as the actor."""

from __future__ import annotations

import secrets

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from accounts.admin import ReadOnlyInline
from config.admin import ReadOnlyAdmin, requires
from ledger import actions
from ledger.exceptions import LedgerError
from ledger.models import (
    Account,
    Achievement,
    Currency,
    Hold,
    MemberAchievement,
    Posting,
    Streak,
    Transfer,
    TransferKind,
)
from ledger.plans import MAX_AMOUNT, REASON_MAX, SystemKey


@admin.register(Currency)
class CurrencyAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "signup_bonus", "referral_bonus", "opens_on_signup"]

    def get_readonly_fields(self, request, obj=None):
        # Wallets opened at signup are checked against `opens_on_signup` (and the
        # currency's age): switching it on later would leave existing members without.
        return ["code", "opens_on_signup", "created_at"] if obj else ["created_at"]

    def has_delete_permission(self, request, obj=None):
        return False


class AdjustForm(forms.Form):
    amount = forms.IntegerField(
        min_value=-MAX_AMOUNT,
        max_value=MAX_AMOUNT,
        help_text="Positive adds to each selected wallet, negative takes from it.",
    )
    reason = forms.CharField(max_length=REASON_MAX)
    token = forms.CharField(widget=forms.HiddenInput)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment of 0 changes nothing.")
        return amount


class ReverseForm(forms.Form):
    reason = forms.CharField(max_length=REASON_MAX)


def _selected(request, queryset) -> list[str]:
    return [str(pk) for pk in queryset.values_list("pk", flat=True)]


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "currency", "member", "name", "balance", "held", "version"]
    list_filter = ["currency"]
    search_fields = ["name", "member__display_name", "member__referral_code", "=member__id"]
    list_select_related = ["currency", "member"]
    actions = ["adjust_balance"]
    has_adjust_balance_permission = requires("ledger.adjust_balance")

    @admin.action(description="Adjust balance…", permissions=["adjust_balance"])
    def adjust_balance(self, request, queryset):
        wallets = list(queryset.filter(member__isnull=False).select_related("currency", "member"))
        if not wallets:
            self.message_user(request, "Select member wallets to adjust.", messages.WARNING)
            return None
        if "apply" in request.POST:
            form = AdjustForm(request.POST)
            if form.is_valid():
                self._adjust(request, wallets, form.cleaned_data)
                return None
        else:
            form = AdjustForm(initial={"token": secrets.token_urlsafe(16)})
        return TemplateResponse(
            request,
            "admin/ledger/confirm_action.html",
            {
                **self.admin_site.each_context(request),
                "title": "Adjust balance",
                "objects": wallets,
                "form": form,
                "action": "adjust_balance",
                "selected": _selected(request, queryset),
                "opts": self.model._meta,
            },
        )

    def _adjust(self, request, wallets, data) -> None:
        amount, reason, token = data["amount"], data["reason"], data["token"]
        done = 0
        for wallet in wallets:
            key = SystemKey(f"admin-adjust:{token}:{wallet.pk}")
            arguments = {
                "currency": wallet.currency.code,
                "kind": TransferKind.ADJUSTMENT,
                "reason": reason,
                "idempotency_key": key,
                "actor": request.user,
            }
            try:
                if amount > 0:
                    actions.award(wallet.member, amount, **arguments)
                else:
                    actions.spend(wallet.member, -amount, sink="adjustment", **arguments)
                done += 1
            except LedgerError as error:
                self.message_user(request, f"{wallet}: {error}", messages.ERROR)
        if done:
            self.message_user(request, f"Adjusted {done} wallet(s) by {amount:+d}.")


class PostingInline(ReadOnlyInline, admin.TabularInline):
    model = Posting
    fields = ["account", "amount", "balance_after", "version"]
    readonly_fields = fields


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "reason", "idempotency_key", "actor", "created_at", "reverses"]
    list_filter = ["kind"]
    search_fields = ["idempotency_key", "reason", "=id"]
    date_hierarchy = "created_at"
    inlines = [PostingInline]
    actions = ["reverse_transfers"]
    has_reverse_transfer_permission = requires("ledger.reverse_transfer")

    @admin.action(description="Reverse…", permissions=["reverse_transfer"])
    def reverse_transfers(self, request, queryset):
        transfers = list(queryset.order_by("pk"))
        if "apply" in request.POST:
            form = ReverseForm(request.POST)
            if form.is_valid():
                self._reverse(request, transfers, form.cleaned_data["reason"])
                return None
        else:
            form = ReverseForm()
        return TemplateResponse(
            request,
            "admin/ledger/confirm_action.html",
            {
                **self.admin_site.each_context(request),
                "title": "Reverse transfers",
                "objects": transfers,
                "form": form,
                "action": "reverse_transfers",
                "selected": _selected(request, queryset),
                "opts": self.model._meta,
            },
        )

    def _reverse(self, request, transfers, reason: str) -> None:
        done = 0
        for original in transfers:
            try:
                actions.reverse(
                    original,
                    reason=reason,
                    # A transfer is reversed at most once, so its reversal has one key.
                    idempotency_key=SystemKey(f"admin-reverse:{original.pk}"),
                    actor=request.user,
                )
                done += 1
            except LedgerError as error:
                self.message_user(request, f"Transfer {original.pk}: {error}", messages.ERROR)
        if done:
            self.message_user(request, f"Reversed {done} transfer(s).")


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = ["id", "transfer", "account", "amount", "balance_after", "version"]
    list_select_related = ["transfer", "account__currency"]
    search_fields = ["=transfer__id", "=account__member__id"]


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "amount", "sink", "status", "expires_at", "transfer"]
    list_filter = ["status"]
    actions = ["release_holds"]
    has_release_hold_permission = requires("ledger.release_hold")

    @admin.action(description="Release selected pending holds", permissions=["release_hold"])
    def release_holds(self, request, queryset):
        released = 0
        for pending in queryset.filter(status="pending"):
            try:
                actions.release(pending, actor=request.user)
                released += 1
            except LedgerError as error:
                self.message_user(request, f"{pending}: {error}", messages.ERROR)
        self.message_user(request, f"Released {released} hold(s).")


@admin.register(Achievement)
class AchievementAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "rule", "threshold", "reward_amount", "reward_currency"]
    list_filter = ["rule", "category", "is_active"]

    def get_readonly_fields(self, request, obj=None):
        # Grants are keyed by code and checked against the reward: fixed once created.
        return ["code", "reward_amount", "reward_currency"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(MemberAchievement)
class MemberAchievementAdmin(ReadOnlyAdmin):
    list_display = ["member", "achievement", "granted_at", "transfer"]
    list_select_related = ["member", "achievement"]


@admin.register(Streak)
class StreakAdmin(ReadOnlyAdmin):
    list_display = ["member", "current", "longest", "last_day"]
