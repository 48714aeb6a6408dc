"""Payments and readings in the admin: shown, never edited. Staff act through the
actions (refund, and resolving a payment whose callback never came), each declaring
the permission it needs."""

from __future__ import annotations

from django.contrib import admin, messages

from config.admin import ReadOnlyAdmin, requires
from config.errors import Refusal
from payments import actions
from payments.models import Payment, PaymentStatus, Reading


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "provider",
        "payment_reference",
        "member",
        "amount",
        "currency",
        "credit_amount",
        "credit_currency",
        "status",
        "created_at",
    ]
    list_filter = ["status", "provider", "currency"]
    search_fields = ["payment_reference"]
    list_select_related = ["member", "credit_currency"]
    actions = ["refund", "refund_clamped", "mark_completed", "mark_failed"]
    has_refund_payment_permission = requires("payments.refund_payment")
    has_resolve_payment_permission = requires("payments.resolve_payment")

    def _each(self, request, queryset, status: str, verb: str, act) -> None:
        done = 0
        for payment in queryset.filter(status=status).order_by("pk"):
            try:
                act(payment)
                done += 1
            except Refusal as error:  # ours, or the ledger's (a short wallet)
                self.message_user(request, f"{payment}: {error}", messages.ERROR)
        self.message_user(request, f"{verb} {done} payment(s).")

    def _refund(self, request, queryset, settle) -> None:
        reason = f"Refunded by {request.user.get_username()} in the admin"
        self._each(
            request,
            queryset,
            PaymentStatus.COMPLETED,
            "Refunded",
            lambda p: actions.refund_payment(
                p.provider, p.payment_reference, reason=reason, settle=settle, actor=request.user
            ),
        )

    @admin.action(description="Refund selected payments", permissions=["refund_payment"])
    def refund(self, request, queryset):
        self._refund(request, queryset, None)

    @admin.action(
        description="Refund selected payments, writing off credit already spent",
        permissions=["refund_payment"],
    )
    def refund_clamped(self, request, queryset):
        self._refund(request, queryset, "clamp")

    @admin.action(
        description="Mark selected pending payments completed", permissions=["resolve_payment"]
    )
    def mark_completed(self, request, queryset):
        self._each(
            request,
            queryset,
            PaymentStatus.PENDING,
            "Completed",
            lambda p: actions.complete_payment(p.provider, p.payment_reference, actor=request.user),
        )

    @admin.action(
        description="Mark selected pending payments failed", permissions=["resolve_payment"]
    )
    def mark_failed(self, request, queryset):
        message = f"Marked failed by {request.user.get_username()} in the admin"
        self._each(
            request,
            queryset,
            PaymentStatus.PENDING,
            "Failed",
            lambda p: actions.fail_payment(
                p.provider, p.payment_reference, error_message=message, actor=request.user
            ),
        )


@admin.register(Reading)
class ReadingAdmin(ReadOnlyAdmin):
    list_display = ["id", "member", "spread", "created_at", "transfer"]
    list_filter = ["spread"]
    list_select_related = ["member"]
