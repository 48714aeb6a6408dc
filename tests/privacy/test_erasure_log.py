"""`erase_member` scrubs the event log (and the api's copies) in its transaction; the
append-only trigger lets exactly that scrub through (events/sql/event_append_only.pg.sql)."""

from __future__ import annotations

import json

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.actions import erase_member, link_identity, update_member, update_profile
from api.actions import create_endpoint, create_key
from api.delivery import enqueue
from api.models import IdempotentRequest, WebhookDelivery
from events.models import Event
from tests.api.conftest import Bot
from tests.factories import MemberFactory
from tests.helpers import refused

pytestmark = pytest.mark.django_db

PERSONAL = ("777001", "888002", "carol", "smith")  # ids, username, names, email (lowercase)


@pytest.fixture
def carol(db):
    member = MemberFactory(
        platform="telegram", external_id="777001", username="carol", email="Carol@Example.org"
    )
    link_identity(
        member,
        platform="discord",
        external_id="888002",
        username="carol#1",
        first_name="Carol",
        last_name="Smith",
    )
    update_member(member, display_name="Carol Smith", email="carol.smith@example.org")
    update_profile(member, archetype="explorer", preferences={"timezone": "Europe/Berlin"})
    return member


def log_text() -> str:
    return json.dumps(list(Event.objects.values_list("data", flat=True))).lower()


def test_erasure_leaves_nothing_personal_in_the_log(carol, officer):
    assert all(value in log_text() for value in PERSONAL)
    kinds = set(Event.objects.filter(subject=f"member:{carol.pk}").values_list("kind", flat=True))
    erase_member(carol, reason="GDPR request", actor=officer)
    text = log_text()
    assert [value for value in PERSONAL if value in text] == []
    registered = Event.objects.get(kind="member.registered", subject=f"member:{carol.pk}")
    assert registered.data == {
        "member_id": carol.pk,
        "display_name": f"erased:{carol.pk}",
        "platform": "telegram",
        "external_id": f"erased:{carol.pk}:1",
        "username": "",
        "referred_by": None,
    }
    linked = Event.objects.get(kind="member.identity_linked", subject=f"member:{carol.pk}")
    assert linked.data["external_id"] == f"erased:{carol.pk}:2"
    profile = Event.objects.get(kind="member.profile_updated", subject=f"member:{carol.pk}")
    assert profile.data["changed"] == {"archetype": "", "preferences": {}}
    # Nothing gone: the same events, kinds and order.
    after = set(Event.objects.filter(subject=f"member:{carol.pk}").values_list("kind", flat=True))
    assert after == kinds | {"member.erased"}


@pytest.fixture
def hooked(db):
    """A bot and its webhook endpoint, made before the member (it is sent what follows)."""
    bot = Bot(create_key(label="bot", scopes=("events:read", "members:write")))
    return bot, create_endpoint(bot.key, url="http://127.0.0.1:9/hook").endpoint


def test_api_events_and_webhook_bodies_show_the_tombstone(hooked, carol, officer):
    bot, endpoint = hooked
    enqueue(endpoint, Event.objects.latest("seq").seq)
    bodies = list(WebhookDelivery.objects.values_list("body", flat=True))
    assert "carol smith" in json.dumps(bodies).lower()
    erase_member(carol, reason="GDPR request", actor=officer)
    bodies = list(WebhookDelivery.objects.values_list("body", flat=True))
    assert "carol" not in json.dumps(bodies).lower()
    answer = bot.get("/events", after=0)
    assert answer.status_code == 200, answer.content
    text = answer.content.decode().lower()
    assert f"erased:{carol.pk}" in text
    assert [value for value in PERSONAL if value in text] == []


def stored_requests_text() -> str:
    """Every stored API request and answer, as one lowercase text."""
    rows = IdempotentRequest.objects.values_list("request_body", "response_body")
    return json.dumps(list(rows)).lower()


def test_stored_idempotent_answers_are_scrubbed(officer):
    bot = Bot(create_key(label="bot", scopes=("members:write",)))
    body = {"platform": "telegram", "external_id": "999003", "username": "dave"}
    made = bot.post("/members", {**body, "email": "dave@example.org"}, key="signup-dave")
    assert made.status_code == 201, made.content
    dave = made.json()["id"]
    bot.post(f"/members/{dave}/identities", {"platform": "web", "external_id": "dave-w"}, key="k2")
    from accounts.models import Member

    erase_member(Member.objects.get(pk=dave), reason="GDPR request", actor=officer)
    stored = stored_requests_text()
    assert "999003" not in stored, stored
    assert "dave" not in stored, stored


def test_refused_requests_naming_the_member_are_scrubbed_too(officer):
    """Another bot's registration with dave's email, and a link of dave's identity to
    someone else, were refused; their stored requests still name dave's email and id
    (kept for replays) until dave is erased."""
    from accounts.models import Member

    bot = Bot(create_key(label="bot", scopes=("members:write",)))
    dave = bot.post(
        "/members",
        {"platform": "telegram", "external_id": "999004", "email": "Dave@Example.org"},
        key="signup-dave",
    ).json()["id"]
    erin = bot.post("/members", {"platform": "web", "external_id": "erin-1"}, key="e").json()
    twice = {"platform": "web", "external_id": "erin-2", "email": "dave@example.org"}
    assert bot.post("/members", twice, key="twice").status_code == 409
    taken = {"platform": "telegram", "external_id": "999004"}
    linked = bot.post(f"/members/{erin['id']}/identities", taken, key="taken")
    assert linked.status_code == 409, linked.content
    erase_member(Member.objects.get(pk=dave), reason="GDPR request", actor=officer)
    stored = stored_requests_text()
    assert "999004" not in stored, stored
    assert "dave@" not in stored, stored
    # Still stored (their keys replay their refusals), with what named dave scrubbed.
    assert IdempotentRequest.objects.filter(key__in=["twice", "taken"], status=409).count() == 2


# --- the trigger ----------------------------------------------------------------------


def registered(member) -> Event:
    return Event.objects.get(kind="member.registered", subject=f"member:{member.pk}")


def scrub_as(member_id, statement: str, params) -> None:
    """Run `statement` with `concord.erasing` naming `member_id`, in a savepoint."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('concord.erasing', %s, true)", [str(member_id)])
        cursor.execute(statement, params)


TOMBSTONE_NAME = (
    "UPDATE events_event SET data = jsonb_set(data, '{display_name}', to_jsonb(%s::text))"
    " WHERE seq = %s"
)


@pytest.mark.postgres
def test_an_event_is_not_scrubbed_without_the_setting(carol):
    refused(TOMBSTONE_NAME, [f"erased:{carol.pk}", registered(carol).seq], says="append-only")


SET_DATA = "UPDATE events_event SET data = {} WHERE seq = %s"
SET = "UPDATE events_event SET {} WHERE seq = %s"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("erasing", "statement"),
    [
        # the setting names another member (the new value is the right tombstone)
        ("other", SET_DATA.format("jsonb_set(data, '{display_name}', to_jsonb('erased:' || %s))")),
        # a value that is no tombstone of the member
        ("member", SET_DATA.format("jsonb_set(data, '{display_name}', to_jsonb('Eve' || %s))")),
        (
            "member",
            SET_DATA.format("jsonb_set(data, '{username}', to_jsonb('erased:' || %s || 'x'))"),
        ),
        # a key added, or taken away, or the data emptied
        ("member", SET_DATA.format("data || jsonb_build_object('note', '' || %s)")),
        ("member", SET_DATA.format("data - 'username' - %s::text")),
        ("member", SET_DATA.format("jsonb_build_object() || jsonb_build_object() - %s::text")),
        # anything but data, even to no change
        ("member", SET.format("kind = 'member.renamed' || left(%s, 0)")),
        ("member", SET.format("subject = 'member:0' || left(%s, 0)")),
        ("member", SET.format("actor_id = length(%s)")),
        ("member", SET.format("created_at = now() + make_interval(secs => length(%s))")),
        ("member", "DELETE FROM events_event WHERE %s <> '' AND seq = %s"),
    ],
)
def test_the_erasing_setting_lets_through_only_a_scrub_of_that_members_data(
    carol, erasing, statement
):
    other = MemberFactory()
    event = registered(carol)
    with pytest.raises(IntegrityError, match="append-only"):
        scrub_as(
            other.pk if erasing == "other" else carol.pk, statement, [str(carol.pk), event.seq]
        )
    assert registered(carol).data == event.data


@pytest.mark.postgres
def test_the_erasing_setting_reaches_only_that_members_events(carol):
    other = MemberFactory()
    with pytest.raises(IntegrityError, match="append-only"):
        scrub_as(carol.pk, TOMBSTONE_NAME, [f"erased:{carol.pk}", registered(other).seq])


@pytest.mark.postgres
def test_the_erasing_setting_lets_a_tombstone_through_and_ends_with_the_erasure(carol, officer):
    seq = registered(carol).seq
    erase_member(carol, reason="GDPR request", actor=officer)
    assert registered(carol).data["display_name"] == f"erased:{carol.pk}"  # the scrub's
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('concord.erasing', true)")
        assert cursor.fetchone()[0] in (None, "")
    refused(TOMBSTONE_NAME, [f"erased:{carol.pk}", seq], says="append-only")


@pytest.mark.postgres
def test_the_erasing_setting_scrubs_nothing_of_a_member_not_erased(carol):
    """Any transaction may set `concord.erasing`: the trigger also asks the member row
    whether the erasure happened (tombstoned name, inactive)."""
    event = registered(carol)
    with pytest.raises(IntegrityError, match="append-only"):
        scrub_as(carol.pk, TOMBSTONE_NAME, [f"erased:{carol.pk}", event.seq])
    assert registered(carol).data == event.data


@pytest.mark.postgres
def test_a_scrub_never_empties_a_number_or_a_flag(carol):
    with connection.cursor() as cursor:  # erased as erase_member leaves the row
        cursor.execute(
            "UPDATE accounts_member SET display_name = %s, is_active = false WHERE id = %s",
            [f"erased:{carol.pk}", carol.pk],
        )
    event = registered(carol)
    with pytest.raises(IntegrityError, match="append-only"):
        scrub_as(
            carol.pk,
            SET_DATA.format("jsonb_set(data, '{member_id}', 'null'::jsonb || %s::jsonb)"),
            ["null", event.seq],
        )
    scrub_as(carol.pk, TOMBSTONE_NAME, [f"erased:{carol.pk}", event.seq])  # text may go


def test_machine_written_text_naming_the_member_is_emptied_but_not_an_exact_word(officer):
    from accounts.erasure import Scrub

    member = MemberFactory(platform="telegram", external_id="4242", username="premium")
    member.display_name = "Alice Wonder"
    scrub = Scrub.of(member, list(member.identities.all()))
    data = {
        "repairs": [
            "update_member(display_name='Alice Wonder', email='')",
            "link_identity(telegram:4242)",
        ],
        "tier": "premium",  # the same word as the username, as a whole value: kept
        "note": "Alice Wonderland",  # not the name as a whole token: kept
        "count": 3,
    }
    assert scrub.apply(data) == {
        "repairs": ["", ""],
        "tier": "premium",
        "note": "Alice Wonderland",
        "count": 3,
    }
