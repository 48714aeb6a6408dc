"""Rate rules: blocked duplicate e-mails and refused transfers above a count per window
alert once (delivered through Apprise to a real receiver on the loopback) and resolve once
when the window no longer holds that many."""

from __future__ import annotations

import pytest

from accounts.actions import register_member
from accounts.exceptions import EmailAlreadyRegistered
from ledger import actions as ledger
from ledger.exceptions import InsufficientFunds
from ops.alerts import evaluate
from ops.models import Alert, RateSample
from ops.rates import increase
from ops.rules import RULES
from tests.ops.receiver import receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def rates(settings):
    """Only the rate rules, 3 per 10 minutes, sent to a receiver."""
    settings.ALERT_RATE_WINDOW_SECONDS = 600
    settings.ALERT_DUPLICATE_EMAILS_PER_WINDOW = 3
    settings.ALERT_REFUSED_TRANSFERS_PER_WINDOW = 3
    with receiver() as (url, received):
        settings.ALERT_URLS = [url]
        yield {rule: RULES[rule] for rule in ("duplicate_emails", "refused_transfers")}, received


def duplicate_signups(count: int) -> None:
    for n in range(count):
        with pytest.raises(EmailAlreadyRegistered):
            register_member(platform="web", external_id=f"dup{n}", email="taken@example.org")


def test_duplicate_emails_above_the_rate_alert_once_and_resolve_once(rates, clock):
    rules, received = rates
    register_member(platform="web", external_id="first", email="taken@example.org")
    evaluate(rules)  # the baseline reading
    duplicate_signups(3)
    evaluate(rules)
    assert received == []  # 3 is not above 3
    duplicate_signups(1)
    evaluate(rules)
    evaluate(rules)  # still above: still one alert
    assert len(received) == 1
    assert received[0]["type"] == "failure"
    assert "blocked duplicate e-mails: 4 in 600 s" in received[0]["title"]
    alert = Alert.objects.get(rule="duplicate_emails")
    assert alert.state == "open"

    clock.advance(seconds=700)  # the window holds no refusal now
    evaluate(rules)
    evaluate(rules)
    assert [m["type"] for m in received] == ["failure", "success"]
    alert.refresh_from_db()
    assert alert.state == "resolved"
    assert not Alert.objects.filter(rule="refused_transfers").exists()
    # Samples older than the window's baseline are deleted.
    assert RateSample.objects.filter(rule="duplicate_emails").count() <= 3


def test_refused_transfers_above_the_rate_alert(rates, alice):
    rules, received = rates
    evaluate(rules)
    for n in range(4):
        with pytest.raises(InsufficientFunds):
            ledger.spend(
                alice, 10**9, currency="points", sink="shop", reason="x", idempotency_key=f"r{n}"
            )
    evaluate(rules)
    assert [a.rule for a in Alert.objects.filter(state="open")] == ["refused_transfers"]
    assert len(received) == 1
    assert "refused transfers" in received[0]["title"]


def test_the_increase_counts_a_restart_from_zero():
    assert increase([5, 7, 7, 9]) == 4
    assert increase([5, 7, 2, 3]) == 2 + 2 + 1  # the processes restarted after 7
    assert increase([4]) == 0


def test_a_negative_sample_is_refused_by_the_database():
    from django.db import IntegrityError, connection, transaction
    from django.utils import timezone

    with (
        pytest.raises(IntegrityError, match="ops_ratesample_total_not_negative"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO ops_ratesample (rule, at, total) VALUES ('r', %s, -1)", [timezone.now()]
        )
