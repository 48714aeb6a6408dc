"""The admin's history of configuration rows (pghistory's event list, `/admin/pghistory/
events/`): one line per change with its diff and who made it, and an action that reverts
a row to a chosen version through `config.history.revert_to_version`. PostgreSQL only
(SQLite keeps no history: the page is left out of the index there and lists nothing)."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin, messages
from django.db import IntegrityError, connection
from django.http import HttpResponseBadRequest
from pghistory.admin import EventsAdmin

from config.history import HistoryError, revert_to_version, tracked_models


class ConfigHistoryAdmin(EventsAdmin):
    list_display = ["pgh_created_at", "pgh_obj_model", "pgh_obj_id", "pgh_label", "who", "pgh_diff"]
    actions = ["revert_to_this_version"]

    def changelist_view(self, request, extra_context=None):
        # pghistory's filters unpack these without checking ("app.Model", "app.Model:pk"):
        # anything else is a 400 here, not a crash there.
        for name in ("event_model", "model", "obj"):
            value = request.GET.get(name)
            if value is not None and not _names_a_model(value.partition(":")[0]):
                return HttpResponseBadRequest(f"{name}: no such model")
        return super().changelist_view(request, extra_context)

    def get_list_display(self, request):
        return self.list_display

    def has_module_permission(self, request):
        return connection.vendor == "postgresql" and super().has_module_permission(request)

    def get_queryset(self, request):
        if connection.vendor != "postgresql":  # no history kept: an empty list, no query
            return self.model.objects.none()
        return super().get_queryset(request)

    @admin.display(description="who")
    def who(self, event) -> str:
        user = (event.pgh_context or {}).get("user")
        return f"user {user}" if user is not None else "-"

    @admin.action(description="Revert each object to the selected version")
    def revert_to_this_version(self, request, queryset):
        for event in queryset:
            model = apps.get_model(event.pgh_obj_model)
            label = model._meta.label_lower
            if label not in tracked_models():
                continue
            perm = f"{model._meta.app_label}.change_{model._meta.model_name}"
            if not request.user.has_perm(perm):
                self.message_user(request, f"{label}: you need {perm}", messages.ERROR)
                continue
            try:
                changed = revert_to_version(model, int(event.pgh_id), actor=request.user)
            except (HistoryError, IntegrityError) as refused:
                self.message_user(request, f"{label} {event.pgh_obj_id}: {refused}", messages.ERROR)
                continue
            done = ", ".join(changed) if changed else "nothing to change"
            self.message_user(request, f"{label} {event.pgh_obj_id} reverted: {done}")


def _names_a_model(label: str) -> bool:
    app_label, dot, name = label.partition(".")
    if not dot:
        return False
    try:
        apps.get_model(app_label, name)
    except (LookupError, ValueError):
        return False
    return True
