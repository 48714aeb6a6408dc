"""The tournament page as a control room: each control calls its one action for an
Organiser, is refused (403, nothing written) for a Viewer, and a refusal is answered 422
with the action's message retargeted to the control's slot, nothing written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from tests.dashboard.test_roles import changed, make_user, snapshot
from tests.factories import MemberFactory, TournamentFactory
from tournaments import actions as cup
from tournaments.models import Match, Registration, Status, Tournament

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def client_as(role: str) -> Client:
    client = Client()
    client.force_login(make_user(role, prefix=f"t-{role.lower()}"))
    return client


@pytest.fixture
def organiser():
    return client_as("Organiser")


@pytest.fixture
def viewer():
    return client_as("Viewer")


def url(tournament, tail: str = "") -> str:
    return f"/dashboard/tournaments/{tournament.pk}/{tail}"


def post(client, path: str, **data):
    return client.post(path, data, **HX)


def players(tournament, n: int) -> list[Registration]:
    return [cup.register(tournament, MemberFactory(username=f"player{i}")) for i in range(n)]


def started(n: int = 4) -> Tournament:
    """A free tournament with `n` players checked in and its bracket generated."""
    tournament = TournamentFactory(capacity=n, entry_fee=0, prize_table={"1": 300, "2": 100})
    registrations = players(tournament, n)
    cup.open_check_in(tournament)
    for registration in registrations:
        cup.check_in(registration)
    cup.close_check_in(tournament)
    cup.generate_bracket(tournament)
    return tournament


def assert_refused(response, slot: str, message: str, status: int = 422) -> None:
    assert response.status_code == status, response.content
    assert response["HX-Retarget"] == f"#refusal-{slot}"
    assert response["HX-Reswap"] == "innerHTML"
    assert message in response.content.decode()


def test_the_create_form_takes_windows_in_a_time_zone_and_prizes_as_rows(organiser):
    page = organiser.get("/dashboard/tournaments/new")
    assert page.status_code == 200
    assert b'name="prize_place"' in page.content
    assert b'type="datetime-local"' in page.content
    response = organiser.post(
        "/dashboard/tournaments/new",
        {
            "name": "Winter Cup",
            "game": "chess",
            "currency": "points",
            "entry_fee": "10",
            "capacity": "4",
            "waitlist_limit": "",
            "format": "single_elimination",
            "time_zone": "Europe/Berlin",
            "registration_opens_at": "2027-01-10T18:00",
            "registration_closes_at": "2027-01-10T19:00",
            "check_in_opens_at": "2027-01-10T19:00",
            "check_in_closes_at": "2027-01-10T19:30",
            # The form offers placements 1 to 3 filled in: the third left without an
            # amount is no prize (it was refused as "a positive whole amount, not ''").
            "prize_place": ["1", "2", "3"],
            "prize_amount": ["500", "200", ""],
        },
    )
    tournament = Tournament.objects.get(name="Winter Cup")
    assert response.status_code == 302
    assert response["Location"] == url(tournament)
    assert tournament.status == Status.DRAFT
    assert tournament.prize_table == {"1": 500, "2": 200}
    # 18:00 in Berlin in January is 17:00 UTC.
    assert tournament.registration_opens_at == datetime(2027, 1, 10, 17, 0, tzinfo=UTC)
    organiser.cookies["tz"] = "Europe/Berlin"  # what static/dashboard/controls.js remembers
    edit = organiser.get(url(tournament, "edit"))
    assert b'value="2027-01-10T18:00"' in edit.content


def test_a_refused_draft_shows_the_reason_and_writes_nothing(organiser):
    before = snapshot()
    response = organiser.post(
        "/dashboard/tournaments/new",
        {
            "name": "Backwards Cup",
            "currency": "points",
            "entry_fee": "0",
            "capacity": "4",
            "format": "single_elimination",
            "time_zone": "UTC",
            "registration_opens_at": "2027-01-10T19:00",
            "registration_closes_at": "2027-01-10T18:00",
            "check_in_opens_at": "2027-01-10T19:00",
            "check_in_closes_at": "2027-01-10T19:30",
            "prize_place": ["1"],
            "prize_amount": ["-5"],
        },
    )
    assert response.status_code == 422
    assert b"data-refusal" in response.content
    assert changed(before, snapshot()) == []


def test_editing_a_draft_changes_its_terms(organiser):
    tournament = TournamentFactory(status="draft", name="Draft Cup")
    zone_free = {
        name: getattr(tournament, name).strftime("%Y-%m-%dT%H:%M")
        for name in (
            "registration_opens_at",
            "registration_closes_at",
            "check_in_opens_at",
            "check_in_closes_at",
        )
    }
    response = organiser.post(
        url(tournament, "edit"),
        {
            "name": "Renamed Cup",
            "currency": "points",
            "entry_fee": "0",
            "capacity": "8",
            "format": "single_elimination",
            "time_zone": "UTC",
            "prize_place": ["1"],
            "prize_amount": ["50"],
            **zone_free,
        },
    )
    assert response.status_code == 302
    tournament.refresh_from_db()
    assert (tournament.name, tournament.capacity, tournament.prize_table) == (
        "Renamed Cup",
        8,
        {"1": 50},
    )


def test_a_viewer_sees_no_controls(viewer, organiser):
    tournament = TournamentFactory(capacity=4)
    players(tournament, 2)
    assert b"hx-post" not in viewer.get(url(tournament)).content
    assert b"New tournament" not in viewer.get("/dashboard/tournaments/").content
    page = organiser.get(url(tournament)).content.decode()
    assert "Open check-in" in page
    assert "Withdraw" in page
    assert 'id="tournament-panel"' in page
    assert 'id="tournament-board"' in page  # the live sink, hidden
    assert "Register a member" in page
    assert "X-CSRFToken" in page
    assert b"New tournament" in organiser.get("/dashboard/tournaments/").content


def every_control(tournament, registration, match) -> list[str]:
    steps = [
        url(tournament, f"do/{name}")
        for name in (
            "open-registration",
            "open-check-in",
            "close-check-in",
            "generate-bracket",
            "finalize",
            "cancel",
        )
    ]
    regs = [
        url(tournament, f"players/{registration.pk}/{name}")
        for name in ("check-in", "withdraw", "disqualify")
    ]
    return [
        *steps,
        *regs,
        url(tournament, "register"),
        url(tournament, f"matches/{match.pk}/result"),
    ]


def test_every_control_refuses_a_viewer_and_writes_nothing(viewer):
    tournament = started(4)
    registration = tournament.registrations.first()
    match = Match.objects.filter(tournament=tournament).first()
    member = MemberFactory()
    before = snapshot()
    for path in every_control(tournament, registration, match):
        response = post(
            viewer, path, slot="steps", member=member.pk, winner="home", score="2-0", reason="x"
        )
        assert_refused(response, "steps", "tournaments.", status=403)
    assert viewer.get(url(tournament, "search") + "?q=player").status_code == 403
    assert viewer.get("/dashboard/tournaments/new").status_code == 403
    assert changed(before, snapshot()) == []
    new = viewer.post("/dashboard/tournaments/new", {"name": "Sneaky"})
    assert new.status_code == 403
    assert not Tournament.objects.filter(name="Sneaky").exists()


def test_an_organiser_runs_a_night_from_the_page(organiser):
    tournament = TournamentFactory(status="draft", capacity=4, entry_fee=0)
    assert post(organiser, url(tournament, "do/open-registration")).status_code == 200
    members = [MemberFactory(username=f"night{i}") for i in range(4)]
    found = organiser.get(url(tournament, "search") + "?q=night2").content.decode()
    assert "night2" in found
    assert "night1" not in found
    assert (
        "night3"
        in organiser.get(url(tournament, "search") + f"?q=%23{members[3].pk}").content.decode()
    )
    for member in members:
        response = post(organiser, url(tournament, "register"), member=member.pk, slot="register")
        assert response.status_code == 200
    assert 'data-seated="4"' in response.content.decode()
    post(organiser, url(tournament, "do/open-check-in"))
    for registration in tournament.registrations.order_by("pk"):
        response = post(organiser, url(tournament, f"players/{registration.pk}/check-in"))
        assert response.status_code == 200
    post(organiser, url(tournament, "do/close-check-in"))
    panel = post(organiser, url(tournament, "do/generate-bracket")).content.decode()
    assert "Winner of R1 M1" in panel
    assert "Winner of R1 M2" in panel
    assert ">bye<" not in panel
    for match in Match.objects.filter(tournament=tournament).order_by("round", "slot"):
        match.refresh_from_db()
        response = post(
            organiser, url(tournament, f"matches/{match.pk}/result"), winner="home", score="2-1"
        )
        assert response.status_code == 200, response.content
    assert '<span class="score">2-1</span>' in response.content.decode()
    assert post(organiser, url(tournament, "do/finalize")).status_code == 200
    tournament.refresh_from_db()
    assert tournament.status == Status.COMPLETED
    assert tournament.prize_transfer_id is not None


def test_refusals_are_explained_in_place_and_write_nothing(organiser):
    tournament = TournamentFactory(capacity=2, waitlist_limit=0, entry_fee=0)
    first, _second = players(tournament, 2)
    late = MemberFactory(username="late")
    before = snapshot()
    assert_refused(
        post(organiser, url(tournament, "do/finalize"), slot="steps"),
        "steps",
        "cannot become completed",
    )
    assert_refused(
        post(organiser, url(tournament, "register"), member=late.pk, slot="register"),
        "register",
        "",
    )
    assert_refused(
        post(organiser, url(tournament, f"players/{first.pk}/check-in"), slot=f"reg-{first.pk}"),
        f"reg-{first.pk}",
        "not checking in",
    )
    assert_refused(
        post(organiser, url(tournament, f"players/{first.pk}/disqualify"), slot=f"reg-{first.pk}"),
        f"reg-{first.pk}",
        "reason is required",
    )
    assert changed(before, snapshot()) == []


def test_a_result_needs_a_winner_and_a_score(organiser):
    tournament = started(4)
    match = Match.objects.get(tournament=tournament, round=1, slot=1)
    before = snapshot()
    slot = f"match-{match.pk}"
    path = url(tournament, f"matches/{match.pk}/result")
    assert_refused(post(organiser, path, slot=slot, score="2-1"), slot, "Choose the winner")
    assert_refused(post(organiser, path, slot=slot, winner="away"), slot, "a score is required")
    assert changed(before, snapshot()) == []


def test_withdraw_disqualify_and_cancel_call_their_actions(organiser):
    tournament = TournamentFactory(capacity=4, entry_fee=10)
    one, two, three = players(tournament, 3)
    page = organiser.get(url(tournament)).content.decode()
    assert "entry fee (10 points) is refunded" in page
    post(organiser, url(tournament, f"players/{one.pk}/withdraw"))
    post(organiser, url(tournament, f"players/{two.pk}/disqualify"), reason="smurf account")
    one.refresh_from_db(), two.refresh_from_db()
    assert (one.status, one.refund_transfer_id is not None) == ("withdrawn", True)
    assert (two.status, two.refund_transfer_id) == ("disqualified", None)
    post(organiser, url(tournament, "do/cancel"), reason="venue closed")
    tournament.refresh_from_db()
    three.refresh_from_db()
    assert tournament.status == Status.CANCELLED
    assert three.refund_transfer_id is not None


def test_the_board_labels_unplayed_slots_and_puts_the_score_by_the_winner(staff):
    from dashboard import boards

    tournament = TournamentFactory(capacity=8, entry_fee=0)
    registrations = players(tournament, 5)
    cup.open_check_in(tournament)
    for registration in registrations:
        cup.check_in(registration)
    cup.close_check_in(tournament)
    cup.generate_bracket(tournament)
    board = boards.tournament_board(tournament.pk)
    first, second, final = board["rounds"]
    labels = [(m["home_label"], m["away_label"]) for m in second["matches"]]
    assert all("bye" not in pair for pair in labels), labels
    assert any("Winner of R1 M" in label for pair in labels for label in pair)
    assert final["matches"][0]["home_label"] == "Winner of R2 M1"
    assert final["matches"][0]["away_label"] == "Winner of R2 M2"
    byes = [m for m in first["matches"] if m["status"] == "bye"]
    assert byes
    assert all("bye" in (m["home_label"], m["away_label"]) for m in byes)
    client = Client()
    client.force_login(staff)
    page = client.get(url(tournament)).content.decode()
    assert "Winner of R2 M1" in page


def test_a_waitlisted_player_is_taken_off_the_waitlist_from_the_page(organiser):
    tournament = TournamentFactory(capacity=2, entry_fee=0)
    *_, waiting = players(tournament, 3)
    path = url(tournament, f"players/{waiting.pk}/withdraw")
    assert path in organiser.get(url(tournament)).content.decode()
    assert post(organiser, path).status_code == 200
    waiting.refresh_from_db()
    assert waiting.status == "withdrawn"


def test_the_register_search_finds_by_username_only_for_those_who_may_see_it(organiser):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    tournament = TournamentFactory(capacity=4)
    MemberFactory(platform="discord", external_id="445566", username="quietfox")
    search = url(tournament, "search")
    assert "quietfox" in organiser.get(search, {"q": "445566"}).content.decode()
    runner = UserFactory(username="runner-no-pii")
    runner.user_permissions.set(
        Permission.objects.filter(codename__in=["view_dashboard", "run_tournament"])
    )
    client = Client()
    client.force_login(runner)
    assert "Register" not in client.get(search, {"q": "445566"}).content.decode()
    found = client.get(search, {"q": "quiet"}).content.decode()
    assert "Register quietfox" in found  # the display name (the username by default)
    assert "@quietfox" not in found


def test_a_live_refresh_keeps_the_member_search_and_a_registration_starts_it_afresh(organiser):
    """The panel's refresh (GET) carries the search over (hx-preserve), so the query and
    the members found stay; a control's answer (here a registration) renders it empty."""
    tournament = TournamentFactory(entry_fee=0)
    member = MemberFactory(username="searched")
    region = '<div class="register-player" id="register-player" data-kept'
    page = organiser.get(url(tournament)).content.decode()
    assert region + ">" in page
    refreshed = organiser.get(url(tournament, "panel"), **HX).content.decode()
    assert region + " hx-preserve>" in refreshed
    answer = post(organiser, url(tournament, "register"), member=member.pk, slot="register")
    assert answer.status_code == 200
    assert region + ">" in answer.content.decode()
