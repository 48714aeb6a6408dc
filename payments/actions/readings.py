"""Paid Tarot readings: a hold while the cards are drawn, a capture when it is written.

`begin_reading` places a ledger hold on the price (sink `sink:readings`, the spread and
question in its context); the member's available balance drops at once, so nothing else
spends it meanwhile. `finish_reading` locks that hold, captures it and writes the
`Reading` in one transaction; `abandon_reading` releases it; a hold left alone expires
(`ledger.actions.expire_holds`) and the reading can no longer be finished.

Finished twice (a bot's retry, two workers): the hold's row lock queues the second call,
which finds the reading written. With the same cards and interpretation it is answered
with that reading (`replayed`); with others it is refused (`ReadingAlreadyFinished`):
the member was shown the first. Either way one capture, one reading. The database holds
the pairing both ways on PostgreSQL: `payments_reading_guard` (a reading needs its hold
captured into its transfer) and, at commit, `payments_reading_written` (a captured
reading hold has its reading).
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

import events
from config.db import pk_of
from ledger.actions import capture, hold, release
from ledger.exceptions import HoldExpired, HoldNotPending, IdempotencyConflict
from ledger.models import Hold, HoldStatus
from ledger.plans import SystemKey
from payments import payloads
from payments.exceptions import (
    InvalidReading,
    NotAReadingHold,
    ReadingAlreadyFinished,
    ReadingConflict,
    ReadingNotOpen,
)
from payments.models import READING_SINK, Reading, Spread

QUESTION_MAX = 1000
CARDS_MAX = 78  # a Tarot deck
DEFAULT_EXPIRY = timedelta(minutes=15)


def _spread(spread) -> str:
    if spread not in Spread.values:
        raise InvalidReading(f"a spread is one of {', '.join(Spread.values)}, not {spread!r}")
    return str(spread)


def _question(question) -> str:
    if not isinstance(question, str) or len(question) > QUESTION_MAX or "\x00" in question:
        raise InvalidReading(f"a question is text of at most {QUESTION_MAX} characters")
    return question.strip()


def _cards(cards) -> list[str]:
    if not isinstance(cards, list) or not cards:
        raise InvalidReading("the cards drawn are a non-empty list of card names")
    if len(cards) > CARDS_MAX:
        raise InvalidReading(f"a reading draws at most {CARDS_MAX} cards")
    if not all(isinstance(card, str) and card.strip() and "\x00" not in card for card in cards):
        raise InvalidReading("each card drawn is a non-blank name")
    if len(set(cards)) != len(cards):
        raise InvalidReading("a card is drawn at most once")
    return cards


def _publish(kind: str, held: Hold, actor, reading: Reading | None = None) -> None:
    events.publish(
        f"payments.{kind}",
        payloads.reading_changed(
            hold_id=held.pk,
            member_id=held.account.member_id,
            spread=held.context["spread"],
            price=held.amount,
            currency=held.account.currency.code,
            reading_id=reading.pk if reading else None,
            transfer_id=reading.transfer_id if reading else None,
        ),
        actor=actor,
        subject=f"hold:{held.pk}",
    )


@transaction.atomic
def begin_reading(
    member,
    *,
    spread: str,
    question: str = "",
    price: int,
    currency: str = "credits",
    idempotency_key: str,
    expires_in: timedelta = DEFAULT_EXPIRY,
    actor=None,
) -> Hold:
    """Hold `price` of the member's `currency` for a reading of `spread`; returns the
    hold, which `finish_reading` or `abandon_reading` settle. The same key again returns
    the same hold (`replayed`); for another reading raises `ReadingConflict`. A short
    wallet raises the ledger's `InsufficientFunds`."""
    member_id = pk_of(member, "member", InvalidReading, ids=False)
    context = {"spread": _spread(spread), "question": _question(question)}
    if not isinstance(idempotency_key, str) or not idempotency_key.strip():
        raise InvalidReading("a reading needs an idempotency key")
    if not isinstance(expires_in, timedelta) or expires_in <= timedelta(0):
        raise InvalidReading("expires_in is a positive timedelta")
    key = SystemKey(f"reading:{member_id}:{idempotency_key}")
    existing = Hold.objects.select_related("account__currency").filter(idempotency_key=key).first()
    if existing is None:
        try:
            with transaction.atomic():
                placed = hold(
                    member,
                    price,
                    currency=currency,
                    sink=READING_SINK,
                    reason=f"Tarot reading: {Spread(context['spread']).label}",
                    idempotency_key=key,
                    expires_at=timezone.now() + expires_in,
                    actor=actor,
                    context=context,
                )
        except IdempotencyConflict as conflict:  # a concurrent call with this key won
            existing = conflict.original
        else:
            placed = Hold.objects.select_related("account__currency").get(pk=placed.pk)
            placed.replayed = False
            _publish("reading_begun", placed, actor)
            return placed
    asked = (member_id, price, currency, context)
    first = (
        existing.account.member_id,
        existing.amount,
        existing.account.currency.code,
        existing.context,
    )
    if asked != first:
        raise ReadingConflict(f"reading key {idempotency_key!r} was used for another reading")
    existing.replayed = True
    return existing


def _locked_hold(reading_hold) -> Hold:
    pk = pk_of(reading_hold, "hold", InvalidReading, ids=False)
    locked = (
        Hold.objects.select_for_update(of=("self",))
        .select_related("account__currency")
        .filter(pk=pk)
        .first()
    )
    if locked is None or locked.sink != READING_SINK:
        raise NotAReadingHold(f"hold {pk} is not a reading's (begin_reading places them)")
    return locked


@transaction.atomic
def finish_reading(reading_hold, *, cards: list[str], interpretation: str, actor=None) -> Reading:
    """Capture the reading's hold and write the reading, in one transaction. Finishing it
    again with the same cards and interpretation returns the reading (`replayed`); with
    others raises `ReadingAlreadyFinished`; a released or expired hold `ReadingNotOpen`."""
    cards = _cards(cards)
    if not isinstance(interpretation, str) or not interpretation.strip():
        raise InvalidReading("an interpretation is required")
    if "\x00" in interpretation:
        raise InvalidReading("an interpretation cannot contain NUL")
    locked = _locked_hold(reading_hold)
    written = Reading.objects.filter(hold_id=locked.pk).first()
    if written is not None:
        if (written.cards, written.interpretation) != (cards, interpretation):
            raise ReadingAlreadyFinished(
                f"the reading of hold {locked.pk} was written with other cards", written
            )
        written.replayed = True
        return written
    try:
        paid = capture(locked, actor=actor)
    except (HoldExpired, HoldNotPending) as error:
        raise ReadingNotOpen(f"the reading of hold {locked.pk} is closed: {error}") from error
    reading = Reading.objects.create(
        member_id=locked.account.member_id,
        spread=locked.context["spread"],
        question=locked.context.get("question", ""),
        cards=cards,
        interpretation=interpretation,
        created_at=timezone.now(),
        hold=locked,
        transfer=paid,
    )
    reading.replayed = False
    _publish("reading_finished", locked, actor, reading)
    return reading


@transaction.atomic
def abandon_reading(reading_hold, *, actor=None) -> Hold:
    """Release the reading's hold: nothing is paid, nothing written. Abandoning a
    released or expired one returns it; a finished reading raises
    `ReadingAlreadyFinished`."""
    locked = _locked_hold(reading_hold)
    if locked.status == HoldStatus.CAPTURED:
        raise ReadingAlreadyFinished(
            f"the reading of hold {locked.pk} is written; it cannot be abandoned",
            Reading.objects.filter(hold_id=locked.pk).first(),
        )
    if locked.status != HoldStatus.PENDING:
        locked.replayed = True
        return locked
    released = release(locked, actor=actor)
    released = Hold.objects.select_related("account__currency").get(pk=released.pk)
    released.replayed = False
    _publish("reading_abandoned", released, actor)
    return released
