"""Staff roles: the Django groups Concord ships, and the permissions each one holds.

The table below is the single definition (docs/SECURITY.md shows it to people). A data
migration creates the groups and every `migrate` puts them back in line with this table
(`sync_roles`, connected to `post_migrate`), so a role means the same on every install:
an Owner who wants a different mix makes a group of their own.

A staff user holds what their groups hold. `is_staff` alone opens nothing: the admin and
the dashboard ask for a permission on every page, action, POST and socket. Superusers
hold every permission (Django's rule), and so do Owners, by holding all of them.

The dashboard lives at the top of the dependency graph (nothing imports it), so it is
the one app that may name every other app's permissions.
"""

from __future__ import annotations

from collections.abc import Iterable

# What every role can do: open the live dashboard and its analytics, and see the integrity
# status.
_DASHBOARD = [
    "dashboard.view_dashboard",
    "analytics.view_analytics",
    "integrity.view_integrityrun",
]


def _view(app: str, *models: str) -> list[str]:
    return [f"{app}.view_{model}" for model in models]


def _edit(app: str, *models: str) -> list[str]:
    return [f"{app}.{verb}_{model}" for model in models for verb in ("view", "add", "change")]


VIEWER = "Viewer"
MODERATOR = "Moderator"
TREASURER = "Treasurer"
ORGANISER = "Organiser"
OWNER = "Owner"

ALL = "__all__"

ROLES: dict[str, list[str] | str] = {
    # Reads the dashboards: counters, feed, leaderboards, boards, maps. Display names only.
    VIEWER: _DASHBOARD,
    # Members and their profiles, subscriptions and stories.
    MODERATOR: [
        *_DASHBOARD,
        *_edit("accounts", "member"),
        *_view("accounts", "identity", "profile", "subscription"),
        "accounts.add_subscription",
        "accounts.view_member_pii",
        "accounts.manage_subscription",
        *_edit("narrative", "story", "chapter", "character", "choice", "choiceimpact"),
        *_view("narrative", "progress", "decision", "relationship"),
        "narrative.rebuild_state",
    ],
    # Money: balances, transfers, holds, achievements. Sees members by display name.
    TREASURER: [
        *_DASHBOARD,
        "accounts.view_member",
        *_edit("ledger", "currency", "achievement"),
        *_view("ledger", "account", "transfer", "posting", "hold", "memberachievement", "streak"),
        "ledger.adjust_balance",
        "ledger.reverse_transfer",
        "ledger.release_hold",
        "ledger.grant_achievement",
        *_view("payments", "payment", "reading"),
        "payments.refund_payment",
        "payments.resolve_payment",
        "integrity.run_report",
    ],
    # Competitions: tournaments, their players and matches, and the overlays on stream.
    ORGANISER: [
        *_DASHBOARD,
        "accounts.view_member",
        "accounts.view_identity",
        "accounts.view_member_pii",
        *_edit("tournaments", "tournament"),
        *_view("tournaments", "registration", "match"),
        "tournaments.run_tournament",
        "tournaments.record_result",
        "dashboard.view_overlaytoken",
        "dashboard.manage_overlays",
    ],
    # Everything, including staff users and groups.
    OWNER: ALL,
}


def permission_names(role: str, every: Iterable[str]) -> set[str]:
    """The `app.codename` names `role` holds, given every permission there is."""
    held = ROLES[role]
    return set(every) if held == ALL else set(held)


def sync_roles(apps=None, *, using: str = "default", strict: bool = True) -> None:
    """Create the role groups and give each exactly its permissions. `apps` is the
    migration state's registry in a migration, the live one otherwise. Strict (after
    every migrate, when every model exists): raises LookupError naming a permission the
    table mentions and the database lacks (a typo, or a removed model), so a wrong table
    fails `migrate`, not a request. Not strict (the data migration, which runs before
    later migrations make the models a newer table names): what exists now."""
    if apps is None:
        from django.apps import apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    by_name = {
        f"{app}.{codename}": pk
        for pk, app, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    for role in ROLES:
        wanted = permission_names(role, by_name)
        missing = sorted(wanted - by_name.keys())
        if missing and strict:
            raise LookupError(f"role {role}: no such permission {', '.join(missing)}")
        wanted -= set(missing)
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set([by_name[name] for name in wanted])


def create_all_permissions(apps=None, *, using: str = "default") -> None:
    """Django creates permissions after `migrate` has run every migration; the roles
    need them before (in their data migration) and after each app's post_migrate."""
    from django.contrib.auth.management import create_permissions

    if apps is None:
        from django.apps import apps
    for app_config in apps.get_app_configs():
        # A migration's app configs are stubs without `models_module`, which
        # create_permissions reads only to skip apps without models.
        stub = not hasattr(app_config, "models_module")
        if stub:
            app_config.models_module = True
        try:
            create_permissions(app_config, verbosity=0, using=using, apps=apps)
        finally:
            if stub:
                del app_config.models_module
