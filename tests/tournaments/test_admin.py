"""The admin shows tournaments read-mostly; every change goes through the actions, as the
staff user."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event
from ledger.models import Currency
from tests.factories import MemberFactory, TournamentFactory
from tests.tournaments.helpers import reload
from tournaments.actions import check_in, close_check_in, open_check_in, register
from tournaments.models import Match, Registration, Tournament

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def form_data(**overrides) -> dict:
    now = timezone.now()
    moments = {
        "registration_opens_at": now,
        "registration_closes_at": now + timedelta(days=1),
        "check_in_opens_at": now + timedelta(days=1),
        "check_in_closes_at": now + timedelta(days=1, hours=2),
    }
    data = {
        "name": "Admin Cup",
        "game": "go",
        "currency": Currency.objects.get(code="points").pk,
        "entry_fee": "5",
        "capacity": "8",
        "waitlist_limit": "",
        "format": "single_elimination",
        "prize_table": '{"1": 50}',
    }
    for name, moment in moments.items():
        data[f"{name}_0"] = moment.strftime("%Y-%m-%d")
        data[f"{name}_1"] = moment.strftime("%H:%M:%S")
    return {**data, **overrides}


def act(admin_client, model: str, action: str, objects, **extra):
    return admin_client.post(
        f"/admin/tournaments/{model}/",
        {"action": action, "_selected_action": [o.pk for o in objects], **extra},
    )


def messages_of(admin_client, response) -> str:
    return admin_client.get(response.url).content.decode()


def test_the_add_form_creates_a_draft_as_the_staff_user(admin_client, staff):
    response = admin_client.post("/admin/tournaments/tournament/add/", form_data())
    assert response.status_code == 302, response.content.decode()[:2000]
    cup = Tournament.objects.get(name="Admin Cup")
    assert (cup.status, cup.capacity, cup.prize_table) == ("draft", 8, {"1": 50})
    assert Event.objects.get(kind="tournament.created").actor_id == staff.pk


def test_the_add_form_refuses_what_the_action_refuses(admin_client):
    response = admin_client.post(
        "/admin/tournaments/tournament/add/", form_data(prize_table='{"first": 5}')
    )
    assert response.status_code == 200
    assert "not a whole number" in response.content.decode()
    assert not Tournament.objects.exists()


def test_a_draft_is_edited_through_the_action_and_an_open_one_is_read_only(admin_client):
    cup = TournamentFactory(status="draft", capacity=4)
    data = form_data(name=cup.name, capacity="6")
    response = admin_client.post(f"/admin/tournaments/tournament/{cup.pk}/change/", data)
    assert response.status_code == 302
    assert reload(cup).capacity == 6
    assert Event.objects.filter(kind="tournament.updated").exists()
    act(admin_client, "tournament", "open_registration", [cup])
    page = admin_client.get(f"/admin/tournaments/tournament/{cup.pk}/change/").content.decode()
    assert 'name="capacity"' not in page
    saved = admin_client.post(f"/admin/tournaments/tournament/{cup.pk}/change/", {})
    assert saved.status_code == 302  # nothing to change, nothing refused
    assert reload(cup).capacity == 6


def test_the_lifecycle_runs_from_the_admin_actions(admin_client, staff):
    cup = TournamentFactory(capacity=2, entry_fee=0, prize_table={"1": 20})
    players = [register(cup, MemberFactory()) for _ in range(2)]
    act(admin_client, "tournament", "open_check_in", [cup])
    assert reload(cup).status == "check_in"
    act(admin_client, "registration", "check_in", players)
    assert set(Registration.objects.values_list("status", flat=True)) == {"checked_in"}
    act(admin_client, "tournament", "close_check_in", [cup])
    act(admin_client, "tournament", "generate_bracket", [cup])
    [match] = Match.objects.all()
    response = act(admin_client, "match", "record_result", [match])
    assert response.status_code == 200  # asks for the winner and the score
    act(admin_client, "match", "record_result", [match], apply="1", winner="away", score="0-2")
    assert (reload(match).winner_id, match.score) == (match.away_id, "0-2")
    act(admin_client, "tournament", "finalize", [cup])
    assert reload(cup).status == "completed"
    kinds = Event.objects.filter(kind__startswith="tournament.", actor_id=staff.pk)
    assert {"tournament.checked_in", "tournament.match_recorded", "tournament.finalized"} <= set(
        kinds.values_list("kind", flat=True)
    )


def test_a_refused_action_is_a_message_not_an_error(admin_client):
    cup = TournamentFactory()
    registration = register(cup, MemberFactory())
    response = act(admin_client, "registration", "check_in", [registration])
    assert response.status_code == 302
    assert "is not checking in" in messages_of(admin_client, response)
    assert reload(registration).status == "registered"


def test_withdraw_and_disqualify_from_the_admin(admin_client):
    cup = TournamentFactory(capacity=2, entry_fee=10)
    first, second, waiting = [register(cup, MemberFactory()) for _ in range(3)]
    act(admin_client, "registration", "withdraw", [first])
    assert reload(first).status == "withdrawn"
    assert reload(waiting).status == "registered"
    response = act(admin_client, "registration", "disqualify", [second])
    assert response.status_code == 200  # asks for a reason first
    act(admin_client, "registration", "disqualify", [second], apply="1", reason="smurfing")
    assert reload(second).status == "disqualified"
    assert Event.objects.get(kind="tournament.disqualified").data["reason"] == "smurfing"


def test_cancel_asks_for_a_reason_and_refunds(admin_client):
    cup = TournamentFactory(capacity=2, entry_fee=10)
    register(cup, MemberFactory())
    response = act(admin_client, "tournament", "cancel", [cup])
    assert response.status_code == 200
    assert reload(cup).status == "registration"
    act(admin_client, "tournament", "cancel", [cup], apply="1", reason="no venue")
    assert reload(cup).status == "cancelled"
    assert Registration.objects.get().refund_transfer_id is not None


def test_nothing_is_deleted_or_added_behind_the_actions(admin_client):
    cup = TournamentFactory(capacity=2, entry_fee=0)
    players = [register(cup, MemberFactory()) for _ in range(2)]
    open_check_in(cup)
    for registration in players:
        check_in(registration)
    close_check_in(cup)
    assert admin_client.get(f"/admin/tournaments/tournament/{cup.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/tournaments/registration/add/").status_code == 403
    assert admin_client.get("/admin/tournaments/match/add/").status_code == 403
    page = admin_client.get(f"/admin/tournaments/registration/{players[0].pk}/change/")
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()
