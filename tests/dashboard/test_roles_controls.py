"""The dashboard's controls (tournament and member pages) in the roles table: each is
allowed exactly for the roles docs/SECURITY.md names, tried as every role; a refused one
answers 403 and changes nothing (every table compared before and after)."""

from __future__ import annotations

import pytest

from ledger.models import Achievement, Currency
from tests.dashboard.test_roles import (
    COMPETITIONS,
    MEMBERS,
    MONEY,
    ROLES,
    Op,
    a_subscription,
    a_transfer,
    bracket_cup,
    changed,
    checking_in_cup,
    finished_cup,
    make_user,
    open_cup,
    snapshot,
    started_cup,
)
from tests.factories import MemberFactory, TournamentFactory
from tournaments.models import Match

pytestmark = pytest.mark.django_db


@pytest.fixture
def login(client):
    def as_role(role: str):
        user = make_user(role)
        client.force_login(user)
        return user

    return as_role


def step(name: str, make):
    def prepare():
        tournament = make()
        tournament = tournament[0] if isinstance(tournament, tuple) else tournament
        return f"/dashboard/tournaments/{tournament.pk}/do/{name}", {"reason": "r"}

    return prepare


def player(name: str):
    def prepare():
        tournament, (registration, _) = checking_in_cup()
        url = f"/dashboard/tournaments/{tournament.pk}/players/{registration.pk}/{name}"
        return url, {"reason": "smurf"}

    return prepare


def register():
    tournament, _ = open_cup(players=0)
    member = MemberFactory()
    return f"/dashboard/tournaments/{tournament.pk}/register", {"member": member.pk}


def result():
    tournament = bracket_cup()
    match = Match.objects.get(tournament=tournament)
    url = f"/dashboard/tournaments/{tournament.pk}/matches/{match.pk}/result"
    return url, {"winner": "home", "score": "1-0"}


def create():
    return "/dashboard/tournaments/new", {
        "name": "Matrix Cup",
        "currency": "points",
        "entry_fee": "0",
        "capacity": "4",
        "format": "single_elimination",
        "time_zone": "UTC",
        "registration_opens_at": "2027-01-10T18:00",
        "registration_closes_at": "2027-01-10T19:00",
        "check_in_opens_at": "2027-01-10T19:00",
        "check_in_closes_at": "2027-01-10T20:00",
    }


def adjust(direction: str):
    def prepare():
        member = MemberFactory()
        return f"/dashboard/members/{member.pk}/adjust", {
            "direction": direction,
            "amount": "5",
            "currency": "points",
            "reason": "matrix",
            "token": f"matrix-{direction}",
        }

    return prepare


def reverse():
    paid = a_transfer()
    member_id = paid.postings.filter(account__member__isnull=False).first().account.member_id
    return f"/dashboard/members/{member_id}/transfers/{paid.pk}/reverse", {"reason": "matrix"}


def grant():
    Achievement.objects.create(
        code="matrix",
        name="Matrix",
        rule="granted",
        reward_amount=1,
        reward_currency=Currency.objects.get(code="points"),
    )
    member = MemberFactory()
    return f"/dashboard/members/{member.pk}/grant", {"achievement": "matrix"}


def subscribe():
    member = MemberFactory()
    return f"/dashboard/members/{member.pk}/subscribe", {"tier": "premium"}


def unsubscribe():
    subscription = a_subscription()
    member = subscription.member_id
    return f"/dashboard/members/{member}/subscriptions/{subscription.pk}/cancel", {}


def erase():
    member = MemberFactory()
    return f"/dashboard/members/{member.pk}/erase", {"reason": "subject request #7"}


CONTROLS = [
    Op("tournaments: create a draft", COMPETITIONS, create),
    Op(
        "tournaments: open registration",
        COMPETITIONS,
        step("open-registration", lambda: TournamentFactory(status="draft")),
    ),
    Op("tournaments: register a member", COMPETITIONS, register),
    Op("tournaments: open check-in", COMPETITIONS, step("open-check-in", open_cup)),
    Op("tournaments: check a player in", COMPETITIONS, player("check-in")),
    Op("tournaments: withdraw a player", COMPETITIONS, player("withdraw")),
    Op("tournaments: disqualify a player", COMPETITIONS, player("disqualify")),
    Op("tournaments: close check-in", COMPETITIONS, step("close-check-in", checking_in_cup)),
    Op("tournaments: generate the bracket", COMPETITIONS, step("generate-bracket", started_cup)),
    Op("tournaments: record a result", COMPETITIONS, result),
    Op("tournaments: finalize", COMPETITIONS, step("finalize", finished_cup)),
    Op("tournaments: cancel", COMPETITIONS, step("cancel", open_cup)),
    Op("ledger: award from the member page", MONEY, adjust("award")),
    Op("ledger: deduct from the member page", MONEY, adjust("deduct")),
    Op("ledger: reverse from the member page", MONEY, reverse),
    Op("ledger: grant an achievement", MONEY, grant),
    Op("accounts: start a subscription (dashboard)", MEMBERS, subscribe),
    Op("accounts: cancel a subscription (dashboard)", MEMBERS, unsubscribe),
    Op("accounts: erase personal data (dashboard)", {"Owner"}, erase),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", CONTROLS, ids=str)
def test_every_dashboard_control_is_allowed_exactly_for_its_roles(client, login, op, role):
    url, data = op.prepare()
    login(role)
    before = snapshot()
    response = client.post(url, data, HTTP_HX_REQUEST="true")
    after = snapshot()
    if role in op.allowed:
        assert response.status_code in (200, 302), (response.status_code, response.content[:500])
        assert changed(before, after), f"{op} as {role} changed nothing"
    else:
        assert response.status_code == 403, response.status_code
        assert changed(before, after) == [], f"{op} as {role} wrote"
