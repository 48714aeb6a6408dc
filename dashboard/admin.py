from __future__ import annotations

from django.contrib import admin, messages

from config.admin import requires
from dashboard import actions
from dashboard.models import OverlayToken


@admin.register(OverlayToken)
class OverlayTokenAdmin(admin.ModelAdmin):
    """Tokens are made with `overlay_token create` or on the dashboard's overlays page."""

    list_display = ["key", "scope", "label", "created_at", "revoked_at"]
    list_filter = ["scope"]
    search_fields = ["key", "label", "scope"]
    readonly_fields = ["key", "scope", "label", "created_at", "created_by", "revoked_at"]
    actions = ["revoke_tokens"]
    has_manage_overlays_permission = requires("dashboard.manage_overlays")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description="Revoke the selected tokens (closes their overlays)",
        permissions=["manage_overlays"],
    )
    def revoke_tokens(self, request, queryset):
        for token in queryset:
            actions.revoke(token, actor=request.user)
        messages.success(request, f"Revoked {queryset.count()} token(s).")


def _member_on_dashboard(member) -> str:
    from django.urls import reverse

    return reverse("dashboard:member", args=[member.pk])


def _link_members_to_the_dashboard() -> None:
    """The member change page's "View on site" button opens the member's dashboard page
    (and the dashboard links back). Set from here, not in accounts/admin.py: accounts
    may not name the dashboard (dependencies point one way); `dashboard` comes after
    `accounts` in INSTALLED_APPS, so its admin module is imported after accounts'."""
    from accounts.models import Member

    registered = admin.site._registry.get(Member)
    if registered is not None:
        registered.view_on_site = _member_on_dashboard


_link_members_to_the_dashboard()
