"""Readings: a hold on the price, captured as the reading is written, or released."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event
from ledger.actions import expire_holds
from ledger.exceptions import InsufficientFunds
from ledger.models import Hold, Transfer
from payments.actions import abandon_reading, begin_reading, finish_reading
from payments.exceptions import (
    InvalidReading,
    NotAReadingHold,
    ReadingAlreadyFinished,
    ReadingConflict,
    ReadingNotOpen,
)
from payments.models import Reading
from tests.helpers import refused_writing_nothing
from tests.ledger.helpers import place_hold
from tests.payments.helpers import credits

pytestmark = pytest.mark.django_db

CARDS = ["The Fool", "The Tower", "The Star"]


def begin(member, key: str = "r-1", **changes):
    values = {"spread": "three_card", "question": "Will it rain?", "price": 30}
    return begin_reading(member, idempotency_key=key, **{**values, **changes})


def finish(held, cards=CARDS, interpretation: str = "Change, then hope."):
    return finish_reading(held, cards=cards, interpretation=interpretation)


def test_beginning_a_reading_holds_its_price(reader):
    held = begin(reader)
    assert (held.status, held.amount, held.sink, held.replayed) == (
        "pending",
        30,
        "sink:readings",
        False,
    )
    assert held.context == {"spread": "three_card", "question": "Will it rain?"}
    assert credits(reader) == (100, 30)
    assert Reading.objects.count() == 0
    assert Event.objects.filter(kind="payments.reading_begun").count() == 1


def test_beginning_again_with_the_same_key_returns_the_hold(reader):
    first = begin(reader)
    again = begin(reader)
    assert (again.pk, again.replayed) == (first.pk, True)
    assert credits(reader) == (100, 30)


def test_the_same_key_for_another_reading_is_refused(reader):
    begin(reader)
    refused_writing_nothing(ReadingConflict, lambda: begin(reader, spread="celtic_cross"))


def test_a_reading_the_wallet_cannot_cover_is_refused(reader):
    refused_writing_nothing(InsufficientFunds, lambda: begin(reader, price=101))


@pytest.mark.parametrize(
    "changes",
    [{"spread": "tea_leaves"}, {"question": "x" * 1001}, {"expires_in": timedelta(0)}],
)
def test_malformed_readings_are_refused_at_the_start(reader, changes):
    refused_writing_nothing(InvalidReading, lambda: begin(reader, **changes))


def test_finishing_captures_the_hold_and_writes_the_reading(reader):
    held = begin(reader)
    reading = finish(held)
    assert (reading.spread, reading.question, reading.cards, reading.replayed) == (
        "three_card",
        "Will it rain?",
        CARDS,
        False,
    )
    held.refresh_from_db()
    assert (held.status, held.transfer_id) == ("captured", reading.transfer_id)
    paid = Transfer.objects.get(pk=reading.transfer_id)
    assert paid.kind == "spend"
    assert credits(reader) == (70, 0)
    assert Event.objects.filter(kind="payments.reading_finished").count() == 1


def test_finishing_twice_with_the_same_cards_returns_the_reading(reader):
    held = begin(reader)
    first = finish(held)
    again = finish(held)
    assert (again.pk, again.replayed) == (first.pk, True)
    assert credits(reader) == (70, 0)


def test_finishing_twice_with_other_cards_is_refused(reader):
    held = begin(reader)
    first = finish(held)
    error = refused_writing_nothing(ReadingAlreadyFinished, lambda: finish(held, cards=["Death"]))
    assert error.reading == first


@pytest.mark.parametrize(
    "cards", [[], "The Fool", ["The Fool", "The Fool"], ["  "], [1], ["x"] * 79]
)
def test_the_cards_drawn_are_a_non_empty_list_of_distinct_names(reader, cards):
    held = begin(reader)
    refused_writing_nothing(InvalidReading, lambda: finish(held, cards=cards))


def test_an_interpretation_is_required(reader):
    held = begin(reader)
    refused_writing_nothing(InvalidReading, lambda: finish(held, interpretation=" "))


def test_abandoning_releases_the_hold_and_writes_no_reading(reader):
    held = begin(reader)
    released = abandon_reading(held)
    assert released.status == "released"
    assert not released.replayed
    assert credits(reader) == (100, 0)
    assert Reading.objects.count() == 0
    assert Event.objects.filter(kind="payments.reading_abandoned").count() == 1
    assert abandon_reading(held).replayed


def test_an_abandoned_reading_cannot_be_finished(reader):
    held = begin(reader)
    abandon_reading(held)
    refused_writing_nothing(ReadingNotOpen, lambda: finish(held))


def test_a_finished_reading_cannot_be_abandoned(reader):
    held = begin(reader)
    finish(held)
    refused_writing_nothing(ReadingAlreadyFinished, lambda: abandon_reading(held))


def test_an_expired_reading_cannot_be_finished(reader):
    held = begin(reader)
    expire_holds(now=timezone.now() + timedelta(hours=1))
    refused_writing_nothing(ReadingNotOpen, lambda: finish(held))
    assert credits(reader) == (100, 0)


def test_only_a_reading_hold_makes_a_reading(reader):
    other = place_hold(reader, 10)
    refused_writing_nothing(NotAReadingHold, lambda: finish(other))
    refused_writing_nothing(NotAReadingHold, lambda: abandon_reading(other))
    assert Hold.objects.get(pk=other.pk).status == "pending"
