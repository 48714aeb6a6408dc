"""The activity feed says every event kind in words: who, what, where, with links to the
member, tournament or story, the staff user who did it, and a filter group; the ticker's
lines (public projections) carry no links and no staff names."""

from __future__ import annotations

import pytest
from django.test import Client

from dashboard import lines, renders
from events import payloads
from ledger import actions as ledger
from narrative.actions import make_choice, start_story
from narrative.demo import load_demo_story
from narrative.models import Choice
from tests.dashboard.test_roles import make_user
from tests.factories import MemberFactory, TournamentFactory
from tournaments import actions as cup
from tournaments.models import Match

pytestmark = pytest.mark.django_db


def test_every_kind_with_a_schema_has_its_own_describer():
    assert set(payloads.kinds()) - set(lines.DESCRIBERS) == set()


def texts(limit: int = 30) -> list[str]:
    return [item.text for item in renders.feed(limit)]


def test_money_lines_say_who_gave_whom_how_much_and_why(alice, bob, staff):
    ledger.award(alice, 40, reason="quiz", idempotency_key="l1", actor=staff)
    gift = ledger.transfer(alice, bob, 15, reason="thanks", idempotency_key="l2")
    ledger.reverse(gift, reason="sent twice", idempotency_key="l3")
    newest, middle, oldest = texts(3)
    assert oldest == f"{alice.display_name} +40 points (quiz)"
    assert middle == f"{alice.display_name} gave {bob.display_name} 15 points (thanks)"
    assert newest == (
        f"reversal of transfer {gift.pk}: {bob.display_name} gave {alice.display_name}"
        " 15 points (sent twice)"
    )
    award = renders.feed(3)[2]
    assert award.actor == staff.get_username()
    assert award.group == "money"
    assert (alice.display_name, f"/dashboard/members/{alice.pk}/") in award.segments


def test_a_tournament_night_reads_as_players_and_scores(staff):
    tournament = TournamentFactory(name="Friday Cup", capacity=2, entry_fee=0)
    ann, ben = MemberFactory(username="Ann"), MemberFactory(username="Ben")
    registrations = [cup.register(tournament, m) for m in (ann, ben)]
    cup.open_check_in(tournament)
    for registration in registrations:
        cup.check_in(registration)
    cup.close_check_in(tournament)
    cup.generate_bracket(tournament)
    match = Match.objects.get(tournament=tournament)
    cup.record_result(match, match.home, "3-1")
    said = " | ".join(texts())
    assert "Ann registered for Friday Cup (1/2)" in said
    assert "Ben checked in for Friday Cup" in said
    assert "Friday Cup: bracket drawn, 2 players, 1 rounds" in said
    winner = match.home.member.display_name
    loser = "Ben" if winner == "Ann" else "Ann"
    assert f"Friday Cup (round 1, match 1): {winner} beat {loser} 3-1" in said
    item = next(i for i in renders.feed() if i.kind == "tournament.match_recorded")
    assert ("Friday Cup", f"/dashboard/tournaments/{tournament.pk}/") in item.segments
    assert item.group == "tournaments"


def test_story_lines_name_the_story_and_the_choice(alice):
    story = load_demo_story()
    start_story(alice, story)
    choice = Choice.objects.filter(chapter__story=story, chapter__number=1).first()
    make_choice(alice, choice)
    said = texts(5)
    chose = f"{alice.display_name} chose “{choice.text}” in {story.title}"
    assert any(line.startswith(chose) for line in said), said
    assert f"{alice.display_name} started {story.title}" in said


def test_ticker_lines_have_no_links_and_no_staff_names(alice, staff):
    ledger.award(alice, 5, reason="quiz", idempotency_key="t1", actor=staff)
    (item,) = renders.feed(1, public_only=True)
    assert all(link is None for _, link in item.segments)
    assert item.actor == ""
    assert alice.display_name in item.text


def test_a_malformed_old_row_still_gets_a_line():
    said = lines.Lines([("tournament.match_recorded", {"round": "x"})])
    assert said.text("tournament.match_recorded", {"round": "x"})
    assert said.text("something.new_kind", {"member_id": 5}) == "something: new kind — member 5"


def test_the_home_feed_links_names_and_offers_filters(alice, staff):
    ledger.award(alice, 7, reason="quiz", idempotency_key="h1", actor=staff)
    client = Client()
    client.force_login(make_user("Viewer"))
    body = client.get("/dashboard/").content.decode()
    assert f'<a href="/dashboard/members/{alice.pk}/">{alice.display_name}</a> +7 points' in body
    assert f"· by {staff.get_username()}" in body
    assert 'data-group="money"' in body
    for value, _ in lines.FEED_GROUPS:
        assert f'data-feed-filter="{value}"' in body


def test_the_nav_marks_the_current_page_and_only_live_pages_show_the_live_dot(alice):
    client = Client()
    client.force_login(make_user("Viewer"))
    pages = {
        "/dashboard/": ("Live", True),
        "/dashboard/members/": ("Members", False),
        f"/dashboard/members/{alice.pk}/": ("Members", True),
        "/dashboard/tournaments/": ("Tournaments", False),
        "/dashboard/stories/": ("Stories", False),
        "/dashboard/integrity/": ("Integrity", False),
    }
    for url, (current, live) in pages.items():
        body = client.get(url).content.decode()
        assert body.count('aria-current="page"') == 1, url
        assert f'aria-current="page">{current}</a>' in body, url
        assert ('id="live-dot"' in body) == live, url


def test_a_story_path_is_numbered_by_step_and_names_each_chapter(alice):
    """Users read "1, 2, 4" as a step missing: the list counts steps, each names its
    chapter (a path may skip one)."""
    story = load_demo_story()
    start_story(alice, story)
    make_choice(alice, Choice.objects.get(chapter__story=story, text="Row out to the wreck"))
    client = Client()
    client.force_login(make_user("Viewer"))
    page = client.get(f"/dashboard/members/{alice.pk}/").content.decode()
    path = page.split('<ol class="path">')[1].split("</ol>")[0]
    assert "<li value=" not in path
    assert "chapter 1, A light in the storm:" in path


def test_the_feed_shows_no_webhook_secret_and_no_login_address(staff):
    """A webhook URL often carries its secret (Discord's, Slack's) and the feed is every
    staff role's: the host only. A locked address is personal data: not named."""
    said = lines.Lines([])
    webhook = {"webhook_id": 3, "key_id": 1, "url": "https://discord.com/api/webhooks/1/SECRET"}
    text = said.text("api.webhook_created", webhook)
    assert "SECRET" not in text
    assert "discord.com" in text
    locked = {"username": "", "address": "198.51.100.7", "failures": 10}
    assert "198.51.100.7" not in said.text("staff.login_locked", locked)


def test_a_member_without_a_display_name_is_still_named_in_the_feed(alice):
    from accounts.models import Member

    Member.objects.filter(pk=alice.pk).update(display_name="")
    said = lines.Lines([("member.registered", {"member_id": alice.pk})])
    assert said.text("member.registered", {"member_id": alice.pk}).startswith(
        f"member {alice.pk} joined"
    )
