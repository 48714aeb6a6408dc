"""Who may do what: every admin action, every dashboard page and POST, and the dashboard
socket, tried as each role and as a staff user with no group. Each is allowed exactly
where docs/SECURITY.md's table says, and a refused one changes nothing (every table is
compared before and after).

The expected table is written out here, not derived from dashboard/roles.py: a change
of a role's permissions that moves an operation fails this test until the table (and
the docs) say so too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from accounts.actions import start_subscription
from dashboard.actions import create_token
from ledger import actions as ledger
from ledger.models import Account
from narrative.demo import load_demo_story
from payments import actions as pay
from payments.models import Payment
from tests.accounts.test_admin import hidden_inputs
from tests.factories import MemberFactory, TournamentFactory, UserFactory
from tournaments import actions as cup
from tournaments.models import Match

pytestmark = pytest.mark.django_db

NONE = "(no group)"
# What the probe had: a staff user given every *view* permission and nothing else
# (it could mint points through admin actions). Allowed nowhere beyond reading.
VIEW_ONLY = "(view permissions only)"
ROLES = [NONE, VIEW_ONLY, "Viewer", "Moderator", "Treasurer", "Organiser", "Owner"]
EVERY_ROLE = {"Viewer", "Moderator", "Treasurer", "Organiser", "Owner"}
MONEY = {"Treasurer", "Owner"}
MEMBERS = {"Moderator", "Owner"}
COMPETITIONS = {"Organiser", "Owner"}

# Tables a request writes whoever makes it (the session of the logged-in user, axes'
# login records): not part of what an operation changes.
UNCOMPARED = {"django_session"}


def snapshot() -> dict[str, list[str]]:
    tables = {}
    for model in apps.get_models(include_auto_created=True):
        table = model._meta.db_table
        if table in UNCOMPARED or table.startswith("axes_") or table == "pghistory_events":
            continue  # pghistory_events: not a table, pghistory's query over the histories
        tables[table] = sorted(map(repr, model._base_manager.order_by().values_list()))
    return tables


def changed(before: dict, after: dict) -> list[str]:
    return sorted(table for table in before if before[table] != after.get(table))


def make_user(role: str, prefix: str = "user"):
    """A staff user holding `role` (a group, no group, or every model's view permission)."""
    user = UserFactory(username=f"{prefix}-{role.strip('()').replace(' ', '-').lower()}")
    if role == VIEW_ONLY:
        models = Permission.objects.filter(codename__startswith="view_").exclude(
            # not a model's view
            codename__in=["view_dashboard", "view_analytics", "view_member_pii"]
        )
        user.user_permissions.set(models)
    elif role != NONE:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def login(client):
    def as_role(role: str):
        user = make_user(role)
        client.force_login(user)
        return user

    return as_role


# --- the operations --------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    name: str
    allowed: set[str]
    prepare: Callable[[], tuple[str, dict]]  # makes what it needs; returns (url, POST data)

    def __str__(self) -> str:
        return self.name


def admin_action(model_path: str, action: str, objects, **extra) -> tuple[str, dict]:
    return (
        f"/admin/{model_path}/",
        {"action": action, "_selected_action": [o.pk for o in objects], **extra},
    )


def wallet():
    member = MemberFactory()
    return Account.objects.get(member=member, currency__code="points")


def a_transfer():
    member = MemberFactory()
    return ledger.award(member, 50, reason="prize", idempotency_key="matrix-award")


def a_hold():
    member = MemberFactory()
    return ledger.hold(
        member,
        10,
        sink="reading",
        reason="a reading",
        idempotency_key="matrix-hold",
        expires_at=timezone.now() + timedelta(hours=1),
    )


def a_payment(reference: str, *, completed: bool):
    pay.start_payment(
        MemberFactory(),
        provider="stripe",
        reference=reference,
        amount=99,
        currency="EUR",
        credit_amount=100,
    )
    if completed:
        return pay.complete_payment("stripe", reference)
    return Payment.objects.get(payment_reference=reference)


def a_subscription():
    return start_subscription(
        MemberFactory(), tier="premium", expires_at=timezone.now() + timedelta(days=30)
    )


def open_cup(players: int = 2, **terms):
    tournament = TournamentFactory(capacity=2, entry_fee=0, **terms)
    registrations = [cup.register(tournament, MemberFactory()) for _ in range(players)]
    return tournament, registrations


def checking_in_cup():
    tournament, registrations = open_cup()
    cup.open_check_in(tournament)
    return tournament, registrations


def started_cup():
    tournament, registrations = checking_in_cup()
    for registration in registrations:
        cup.check_in(registration)
    cup.close_check_in(tournament)
    tournament.refresh_from_db()
    return tournament


def bracket_cup():
    tournament = started_cup()
    cup.generate_bracket(tournament)
    return tournament


def finished_cup():
    tournament = bracket_cup()
    match = Match.objects.get(tournament=tournament)
    cup.record_result(match, match.home, "1-0")
    return tournament


ADMIN_ACTIONS = [
    Op(
        "ledger: adjust balance",
        MONEY,
        lambda: admin_action(
            "ledger/account",
            "adjust_balance",
            [wallet()],
            apply="1",
            amount="1000000",
            reason="mint",
            token="matrix-token-1",
        ),
    ),
    Op(
        "ledger: reverse a transfer",
        MONEY,
        lambda: admin_action(
            "ledger/transfer", "reverse_transfers", [a_transfer()], apply="1", reason="oops"
        ),
    ),
    Op(
        "ledger: release a hold",
        MONEY,
        lambda: admin_action("ledger/hold", "release_holds", [a_hold()]),
    ),
    Op(
        "payments: refund",
        MONEY,
        lambda: admin_action("payments/payment", "refund", [a_payment("m-1", completed=True)]),
    ),
    Op(
        "payments: refund, writing off what was spent",
        MONEY,
        lambda: admin_action(
            "payments/payment", "refund_clamped", [a_payment("m-2", completed=True)]
        ),
    ),
    Op(
        "payments: mark completed",
        MONEY,
        lambda: admin_action(
            "payments/payment", "mark_completed", [a_payment("m-3", completed=False)]
        ),
    ),
    Op(
        "payments: mark failed",
        MONEY,
        lambda: admin_action(
            "payments/payment", "mark_failed", [a_payment("m-4", completed=False)]
        ),
    ),
    Op(
        "accounts: cancel a subscription",
        MEMBERS,
        lambda: admin_action("accounts/subscription", "cancel", [a_subscription()]),
    ),
    Op(
        "tournaments: open registration",
        COMPETITIONS,
        lambda: admin_action(
            "tournaments/tournament", "open_registration", [TournamentFactory(status="draft")]
        ),
    ),
    Op(
        "tournaments: open check-in",
        COMPETITIONS,
        lambda: admin_action("tournaments/tournament", "open_check_in", [open_cup()[0]]),
    ),
    Op(
        "tournaments: check a player in",
        COMPETITIONS,
        lambda: admin_action("tournaments/registration", "check_in", checking_in_cup()[1][:1]),
    ),
    Op(
        "tournaments: withdraw a player",
        COMPETITIONS,
        lambda: admin_action("tournaments/registration", "withdraw", open_cup()[1][:1]),
    ),
    Op(
        "tournaments: disqualify a player",
        COMPETITIONS,
        lambda: admin_action(
            "tournaments/registration", "disqualify", open_cup()[1][:1], apply="1", reason="x"
        ),
    ),
    Op(
        "tournaments: close check-in",
        COMPETITIONS,
        lambda: admin_action("tournaments/tournament", "close_check_in", [checking_in_cup()[0]]),
    ),
    Op(
        "tournaments: generate the bracket",
        COMPETITIONS,
        lambda: admin_action("tournaments/tournament", "generate_bracket", [started_cup()]),
    ),
    Op(
        "tournaments: record a result",
        COMPETITIONS,
        lambda: admin_action(
            "tournaments/match",
            "record_result",
            [Match.objects.get(tournament=bracket_cup())],
            apply="1",
            winner="home",
            score="2-0",
        ),
    ),
    Op(
        "tournaments: finalize (pays the prizes)",
        COMPETITIONS,
        lambda: admin_action("tournaments/tournament", "finalize", [finished_cup()]),
    ),
    Op(
        "tournaments: cancel",
        COMPETITIONS,
        lambda: admin_action(
            "tournaments/tournament", "cancel", [open_cup()[0]], apply="1", reason="x"
        ),
    ),
    Op(
        "narrative: rebuild members' state",
        MEMBERS,
        lambda: admin_action("narrative/story", "rebuild_members", [load_demo_story()]),
    ),
    Op(
        "dashboard: revoke an overlay token (admin)",
        COMPETITIONS,
        lambda: admin_action(
            "dashboard/overlaytoken", "revoke_tokens", [create_token("ticker", label="x")]
        ),
    ),
]


def _changes_something(op: Op) -> bool:
    # Rebuilding consistent state fixes nothing and writes nothing: it is allowed or
    # refused by its response, not by a change.
    return op.name != "narrative: rebuild members' state"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", ADMIN_ACTIONS, ids=str)
def test_every_admin_action_is_allowed_exactly_for_its_roles(client, login, op, role):
    url, data = op.prepare()
    login(role)
    before = snapshot()
    response = client.post(url, data)
    after = snapshot()
    if role in op.allowed:
        assert response.status_code in (200, 302), response.status_code
        if _changes_something(op):
            assert changed(before, after), f"{op} as {role} changed nothing"
        else:
            followed = client.get(url).content.decode()
            assert "fixed" in followed, f"{op} as {role} did not run"
    else:
        assert changed(before, after) == [], f"{op} as {role} wrote"
        if response.status_code == 403:
            return
        # It may read the list, not act on it: the changelist comes back (200, or 302
        # with "No action selected" when it may run other actions), without the action.
        page = response if response.status_code == 200 else client.get(response.url)
        assert response.status_code in (200, 302), response.status_code
        assert page.status_code == 200
        assert f'value="{data["action"]}"' not in page.content.decode()


# --- the admin's add and change forms that act ----------------------------------------


def member_change():
    member = MemberFactory()
    url = f"/admin/accounts/member/{member.pk}/change/"
    owner = Client()  # what a browser would post back: the inlines' management forms
    owner.force_login(UserFactory(username="form-owner", is_superuser=True))
    form = hidden_inputs(owner.get(url).content.decode())
    form.update({"display_name": "Renamed", "language": "en", "is_active": "on"})
    return url, form


def subscription_add():
    member = MemberFactory()
    starts = timezone.now()
    return "/admin/accounts/subscription/add/", {
        "member": member.pk,
        "tier": "premium",
        "starts_at_0": starts.strftime("%Y-%m-%d"),
        "starts_at_1": starts.strftime("%H:%M:%S"),
        "expires_at_0": (starts + timedelta(days=30)).strftime("%Y-%m-%d"),
        "expires_at_1": starts.strftime("%H:%M:%S"),
    }


FORMS = [
    Op(
        "accounts: register a member",
        MEMBERS,
        lambda: (
            "/admin/accounts/member/add/",
            {"platform": "telegram", "external_id": "9090", "username": "new"},
        ),
    ),
    Op("accounts: edit a member", MEMBERS, member_change),
    Op("accounts: start a subscription", MEMBERS, subscription_add),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", FORMS, ids=str)
def test_every_admin_form_that_acts_is_allowed_exactly_for_its_roles(client, login, op, role):
    url, data = op.prepare()
    login(role)
    before = snapshot()
    response = client.post(url, data)
    after = snapshot()
    if role in op.allowed:
        assert response.status_code == 302, response.content.decode()[:3000]
        assert changed(before, after)
    else:
        assert response.status_code == 403
        assert changed(before, after) == []


# --- the dashboard ---------------------------------------------------------------------


def dashboard_pages():
    member = MemberFactory()
    tournament = TournamentFactory()
    story = load_demo_story()
    return {
        "/dashboard/": EVERY_ROLE,
        "/dashboard/leaderboards/points/": EVERY_ROLE,
        "/dashboard/members/": EVERY_ROLE,
        f"/dashboard/members/{member.pk}/": EVERY_ROLE,
        "/dashboard/tournaments/": EVERY_ROLE,
        f"/dashboard/tournaments/{tournament.pk}/": EVERY_ROLE,
        "/dashboard/stories/": EVERY_ROLE,
        f"/dashboard/stories/{story.pk}/": EVERY_ROLE,
        "/dashboard/overlays/": COMPETITIONS,
        "/dashboard/overlays/fleet/": COMPETITIONS,
    }


@pytest.mark.parametrize("role", ROLES)
def test_every_dashboard_page_is_shown_exactly_to_its_roles(client, login, role):
    pages = dashboard_pages()
    login(role)
    for url, allowed in pages.items():
        response = client.get(url)
        expected = 200 if role in allowed else 403
        assert response.status_code == expected, (url, role, response.status_code)
        if expected == 403:
            body = response.content.decode()
            assert ("has no role yet" in body) == (role in {NONE, VIEW_ONLY}), body


def overlay_posts():
    token = create_token("ticker", label="matrix")
    return [
        ("/dashboard/overlays/new", {"scope": "events", "label": "new"}),
        (f"/dashboard/overlays/{token.pk}/revoke", {}),
    ]


@pytest.mark.parametrize("role", ROLES)
def test_every_dashboard_post_is_allowed_exactly_for_its_roles(client, login, role):
    posts = overlay_posts()
    login(role)
    for url, data in posts:
        before = snapshot()
        response = client.post(url, data)
        after = snapshot()
        if role in COMPETITIONS:
            assert response.status_code == 302, (url, role)
            assert changed(before, after), (url, role)
        else:
            assert response.status_code == 403, (url, role)
            assert changed(before, after) == [], (url, role)
    reload = client.post("/dashboard/overlays/connections/abc123/reload")
    assert reload.status_code == (302 if role in COMPETITIONS else 403)


def test_a_staff_user_with_no_group_sees_nothing_but_a_page_that_says_so(client, login):
    login(NONE)
    response = client.get("/dashboard/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "Your account has no role yet" in body
    assert "leaderboard" not in body.lower()
    admin = client.get("/admin/")
    assert "permission to view or edit anything" in admin.content.decode()


# --- personal data ---------------------------------------------------------------------

PII_ROLES = {"Moderator", "Organiser", "Owner"}


@pytest.mark.parametrize("role", sorted(EVERY_ROLE))
def test_emails_and_external_ids_are_shown_only_to_roles_that_need_them(client, login, role):
    member = MemberFactory(
        platform="discord", external_id="778899001122", username="zed", email="zed@example.org"
    )
    login(role)
    page = client.get(f"/dashboard/members/{member.pk}/").content.decode()
    listing = client.get("/dashboard/members/").content.decode()
    by_id = client.get("/dashboard/members/", {"q": "778899001122"}).content.decode()
    sees = role in PII_ROLES
    for body in (page, listing):
        assert ("zed@example.org" in body) == sees, role
    assert ("778899001122" in page) == sees
    # Without the permission, a platform id is not a search key either (no lookup oracle).
    assert (f"/dashboard/members/{member.pk}/" in by_id) == sees
    if role in {"Moderator", "Treasurer", "Organiser", "Owner"}:
        admin = client.get(f"/admin/accounts/member/{member.pk}/change/")
        assert admin.status_code == 200
        assert ("zed@example.org" in admin.content.decode()) == sees
        assert ("778899001122" in admin.content.decode()) == sees
        listing = client.get("/admin/accounts/member/").content.decode()
        assert ("zed@example.org" in listing) == sees
        # Nor read through a URL filter, a letter at a time.
        for lookup in ("email", "email__startswith", "email_normalized__regex"):
            probe = client.get("/admin/accounts/member/", {lookup: "zed@example.org"[:3]})
            if sees:
                assert probe.status_code == 200
            else:
                assert probe.status_code == 400 or f"/{member.pk}/change/" not in (
                    probe.content.decode()
                ), lookup
