from __future__ import annotations

from django.contrib import admin

from config.admin import ReadOnlyAdmin
from events.models import Event


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["seq", "kind", "subject", "actor_id", "created_at"]
    list_filter = ["kind"]
    search_fields = ["kind", "subject"]
    ordering = ["-seq"]
    readonly_fields = [f.name for f in Event._meta.fields]
