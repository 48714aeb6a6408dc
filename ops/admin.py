"""Operations' records in the admin, read-only: they are written by the alert rules, the
backup commands and the drill, never by hand."""

from __future__ import annotations

from django.contrib import admin

from ops.models import Alert, BackupRun, DrillRun


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(ReadOnly):
    list_display = ["key", "state", "title", "raised_at", "resolved_at", "raised_sent"]
    list_filter = ["state", "rule"]
    search_fields = ["key", "title"]


@admin.register(BackupRun)
class BackupRunAdmin(ReadOnly):
    list_display = ["started_at", "kind", "ok", "size_bytes", "path"]
    list_filter = ["ok", "kind"]


@admin.register(DrillRun)
class DrillRunAdmin(ReadOnly):
    list_display = ["started_at", "ok", "restore_seconds", "path", "error"]
    list_filter = ["ok"]
