from __future__ import annotations

from django.contrib import admin, messages

from api import actions
from api.models import ApiKey
from config.admin import requires


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made and rotated with `manage.py api_key` (the secret is printed once, to
    the operator's terminal, never through a page or a message cookie); here they are
    listed and revoked."""

    list_display = [
        "prefix",
        "label",
        "scopes",
        "actor",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    search_fields = ["prefix", "label"]
    readonly_fields = [field.name for field in ApiKey._meta.fields if field.name != "secret_hash"]
    exclude = ["secret_hash"]
    actions = ["revoke_keys"]
    has_manage_api_keys_permission = requires("api.manage_api_keys")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description="Revoke the selected keys (refused from now on)",
        permissions=["manage_api_keys"],
    )
    def revoke_keys(self, request, queryset):
        for key in queryset:
            actions.revoke_key(key.prefix, actor=request.user)
        messages.success(request, f"Revoked {queryset.count()} key(s).")
