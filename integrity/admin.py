from __future__ import annotations

from django.contrib import admin

from integrity.models import IntegrityRun


@admin.register(IntegrityRun)
class IntegrityRunAdmin(admin.ModelAdmin):
    list_display = ["started_at", "ok", "failed_checks", "finished_at"]
    list_filter = ["ok"]
    readonly_fields = ["started_at", "finished_at", "ok", "failed_checks", "report"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
