"""`erase_member`: personal data becomes tombstones, the books stay as they were."""

from __future__ import annotations

import pytest

from accounts.actions import erase_member, link_identity, update_member, update_profile
from accounts.exceptions import (
    ErasureNotPermitted,
    ErasureReasonRequired,
    MemberAlreadyErased,
    MemberErased,
)
from accounts.models import Identity, Member
from events.models import Event
from events.payloads import check
from ledger.actions import award, spend
from ledger.models import Account, Posting
from tests.factories import MemberFactory, TournamentFactory, UserFactory
from tests.helpers import integrity_json, refused_writing_nothing
from tournaments.actions import register
from tournaments.models import Registration

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(db):
    member = MemberFactory(
        platform="telegram", external_id="777001", username="carol", email="Carol@Example.org"
    )
    link_identity(member, platform="discord", external_id="888002", username="carol#1")
    award(member, 50, reason="welcome back", idempotency_key="t:carol:1")
    spend(member, 20, sink="shop", reason="shop", idempotency_key="t:carol:2")
    return member


def balances() -> dict:
    return dict(Account.objects.filter(member__isnull=False).values_list("pk", "balance"))


def test_erasure_replaces_personal_data_by_tombstones(carol, officer):
    erase_member(carol, reason="GDPR request #12", actor=officer)
    carol.refresh_from_db()
    assert carol.display_name == f"erased:{carol.pk}"
    assert carol.email == ""
    assert carol.email_normalized is None
    assert not carol.is_active
    identities = list(carol.identities.order_by("pk").values_list("external_id", "username"))
    assert identities == [(f"erased:{carol.pk}:1", ""), (f"erased:{carol.pk}:2", "")]
    assert carol.profile.preferences == {}


def test_erased_member_cannot_be_found_by_old_identifiers(carol, officer):
    erase_member(carol, reason="GDPR request", actor=officer)
    assert Member.objects.by_identity("telegram", "777001") is None
    assert Member.objects.by_identity("discord", "888002") is None
    assert not Member.objects.filter(email_normalized="carol@example.org").exists()
    assert not Identity.objects.filter(username__in=["carol", "carol#1"]).exists()


def test_erasure_keeps_balances_postings_registrations_and_a_clean_integrity_report(carol, officer):
    cup = TournamentFactory(entry_fee=10)
    register(cup, carol)
    before = (balances(), Posting.objects.count(), Registration.objects.count())
    erase_member(carol, reason="GDPR request", actor=officer)
    assert (balances(), Posting.objects.count(), Registration.objects.count()) == before
    code, report = integrity_json()
    assert code == 0, report


def test_erasure_event_holds_no_erased_data(carol, officer):
    erase_member(carol, reason="GDPR request #12", actor=officer)
    event = Event.objects.filter(kind="member.erased").get()
    check("member.erased", event.data)
    assert event.data == {"member_id": carol.pk, "identities": 2, "reason": "GDPR request #12"}
    assert event.actor_id == officer.pk
    latest = Event.objects.filter(subject=f"member:{carol.pk}").order_by("seq")
    for later in latest.filter(seq__gte=event.seq - 1):
        text = str(later.data).lower()
        assert "777001" not in text
        assert "carol@" not in text


def test_erasing_twice_is_refused_and_writes_nothing(carol, officer):
    erase_member(carol, reason="GDPR request", actor=officer)
    refused_writing_nothing(
        MemberAlreadyErased, lambda: erase_member(carol, reason="again", actor=officer)
    )


def test_erasing_without_a_reason_is_refused_and_writes_nothing(carol, officer):
    refused_writing_nothing(
        ErasureReasonRequired, lambda: erase_member(carol, reason="  ", actor=officer)
    )


def test_erasing_without_the_permission_is_refused(carol):
    staff = UserFactory()
    refused_writing_nothing(
        ErasureNotPermitted, lambda: erase_member(carol, reason="x", actor=staff)
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda m: update_member(m, display_name="Carol again"),
        lambda m: update_member(m, email="carol@example.org"),
        lambda m: update_member(m, is_active=True),
        lambda m: update_profile(m, archetype="explorer"),
        lambda m: update_profile(m.pk, welcomed=True),
        lambda m: link_identity(m, platform="telegram", external_id="777001", username="carol"),
    ],
    ids=["name", "email", "active", "profile", "profile-by-id", "identity"],
)
def test_an_erased_member_is_not_changed_again(carol, officer, change):
    erase_member(carol, reason="GDPR request", actor=officer)
    refused_writing_nothing(MemberErased, lambda: change(carol))
