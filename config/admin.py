"""What every app's admin shares: the check behind an admin action's `permissions=[...]`.

Django offers an action to a user only when each name in its `permissions` has a
`has_<name>_permission(request)` on the ModelAdmin that says yes, and it refuses a POST
of an action it would not offer (the confirmation pages post back through the same
check). So every action that moves value or changes a competition names the custom
permission it needs (dashboard/roles.py gives them to roles), and this makes the check.
"""

from __future__ import annotations

from django.contrib import admin


def requires(permission: str):
    """A `has_<name>_permission` method that asks for `permission` ("app.codename")."""

    def has_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(permission)

    has_permission.__doc__ = f"True when the user holds {permission}."
    return has_permission


class ReadOnlyAdmin(admin.ModelAdmin):
    """A model no one adds, edits or deletes from the admin: its rows are written by
    actions (or are an append-only record) and the admin only shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
