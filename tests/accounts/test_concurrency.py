"""Many callers registering one person at once end with exactly one member."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from accounts.actions import register_member
from accounts.exceptions import EmailAlreadyRegistered
from accounts.models import Identity, Member, Profile
from events.models import Event
from ledger.models import Transfer
from tests.helpers import at_once

pytestmark = pytest.mark.django_db(transaction=True)

CALLERS = 8


def _outcome(kwargs: dict) -> tuple[str, int | None, bool | None]:
    try:
        registration = register_member(**kwargs)
        return ("registered", registration.member.pk, registration.created)
    except EmailAlreadyRegistered:
        return ("email_taken", None, None)
    finally:
        connections.close_all()


def _in_threads(calls: list[dict]) -> list[tuple]:
    barrier = threading.Barrier(len(calls))

    def run(kwargs):
        barrier.wait()
        return _outcome(kwargs)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _in_processes(calls: list[dict]) -> list[tuple]:
    return at_once(_outcome, calls)


def _assert_one_member_for_one_identity(outcomes):
    member = Member.objects.get()
    assert Identity.objects.get().member == member
    assert Profile.objects.get().member == member
    assert Event.objects.filter(kind="member.registered").count() == 1
    assert Transfer.objects.filter(kind="bonus").count() == 1
    assert sorted(o[2] for o in outcomes) == [False] * (CALLERS - 1) + [True]
    assert {o[1] for o in outcomes} == {member.pk}


def _assert_one_member_for_one_mailbox(outcomes):
    member = Member.objects.get()
    assert member.email_normalized == "racer@gmail.com"
    assert sorted(o[0] for o in outcomes) == ["email_taken"] * (CALLERS - 1) + ["registered"]
    assert Identity.objects.count() == 1
    assert Event.objects.filter(kind="member.registered").count() == 1
    # The winner's welcome bonus, paid once.
    assert Transfer.objects.filter(kind="bonus").count() == 1


# One person, three ways: the race is decided by the identity's unique constraint alone
# (no email), by the email's and the identity's together, or by the identity's while the
# emails differ.
SAME_IDENTITY = {
    "without_email": [
        {"platform": "telegram", "external_id": "777", "username": f"t{n}"} for n in range(CALLERS)
    ],
    "same_email": [
        {"platform": "telegram", "external_id": "777", "email": "same@example.org"}
        for n in range(CALLERS)
    ],
    "different_emails": [
        {"platform": "telegram", "external_id": "777", "email": f"e{n}@example.org"}
        for n in range(CALLERS)
    ],
}
EMAIL_VARIANTS = [
    {"platform": "discord", "external_id": f"{n + 1}", "email": email}
    for n, email in enumerate(
        [
            "racer@gmail.com",
            "Racer@gmail.com",
            "r.acer@gmail.com",
            "racer+1@gmail.com",
            "RACER@googlemail.com",
            "ra.cer+bot@googlemail.com",
            " racer@GMAIL.COM ",
            "r.a.c.e.r@gmail.com",
        ][:CALLERS]
    )
]


@pytest.mark.parametrize("calls", SAME_IDENTITY.values(), ids=SAME_IDENTITY.keys())
def test_threads_registering_one_identity_make_one_member(calls):
    _assert_one_member_for_one_identity(_in_threads(calls))


def test_threads_registering_email_variants_make_one_member():
    _assert_one_member_for_one_mailbox(_in_threads(EMAIL_VARIANTS))


@pytest.mark.postgres
@pytest.mark.parametrize("calls", SAME_IDENTITY.values(), ids=SAME_IDENTITY.keys())
def test_processes_registering_one_identity_make_one_member(calls):
    _assert_one_member_for_one_identity(_in_processes(calls))


@pytest.mark.postgres
def test_processes_registering_email_variants_make_one_member():
    _assert_one_member_for_one_mailbox(_in_processes(EMAIL_VARIANTS))


@pytest.mark.postgres
def test_processes_registering_different_people_all_succeed():
    calls = [
        {"platform": "web", "external_id": f"w{n}", "email": f"p{n}@example.org"}
        for n in range(CALLERS)
    ]
    outcomes = _in_processes(calls)
    assert all(o[0] == "registered" and o[2] for o in outcomes)
    assert Member.objects.count() == CALLERS
    assert len(set(Member.objects.values_list("referral_code", flat=True))) == CALLERS
