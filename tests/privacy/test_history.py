"""Configuration history (config/history.py): PostgreSQL keeps every version of a
configuration row, whoever wrote it, with who and when, and each change is a
`config.changed` event; SQLite publishes the event for ORM writes."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from config.history import UnknownVersion, acting, revert_to_version
from events.models import Event
from events.payloads import check
from ledger.models import Achievement, Currency
from narrative.models import Story
from tests.factories import UserFactory
from tests.helpers import integrity_json, raw_write, sql

pytestmark = pytest.mark.django_db(transaction=False)


def changes(subject: str) -> list[Event]:
    return list(Event.objects.filter(kind="config.changed", subject=subject).order_by("seq"))


@pytest.mark.postgres
def test_raw_sql_update_of_a_currency_is_kept_in_its_history_and_published():
    currency = Currency.objects.get(code="points")
    before = currency.signup_bonus
    sql("UPDATE ledger_currency SET signup_bonus = signup_bonus + 7 WHERE id = %s", [currency.pk])
    version = currency.versions.order_by("-pgh_id").first()
    assert version.pgh_label == "update"
    assert version.signup_bonus == before + 7
    [event] = changes(f"ledger.currency:{currency.pk}")
    check("config.changed", event.data)
    assert event.data["operation"] == "update"
    assert "signup_bonus" in event.data["fields"]
    assert str(before + 7) not in str(event.data)  # names fields, never values


@pytest.mark.postgres
def test_history_names_the_acting_user_and_only_the_fields_that_changed():
    staff = UserFactory()
    story = Story.objects.create(title="Tale", slug="tale", currency=Currency.objects.first())
    with transaction.atomic(), acting(staff):
        story.title = "Tale, retold"
        story.save()
    insert, update = story.versions.order_by("pgh_id")  # a new row: no baseline
    assert (insert.pgh_label, update.pgh_label) == ("insert", "update")
    assert update.pgh_context.metadata["user"] == staff.pk
    created, changed = changes(f"narrative.story:{story.pk}")
    assert changed.actor_id == staff.pk
    assert created.actor_id is None
    assert changed.data["fields"] == ["title"]


@pytest.mark.postgres
def test_history_rows_are_append_only():
    currency = Currency.objects.get(code="points")
    sql("UPDATE ledger_currency SET name = 'Pts' WHERE id = %s", [currency.pk])
    with pytest.raises(IntegrityError), transaction.atomic():
        sql("DELETE FROM ledger_currencyevent")


@pytest.mark.postgres
def test_revert_to_a_version_restores_it_as_a_new_version_by_the_actor():
    staff = UserFactory()
    achievement = Achievement.objects.create(
        code="rich",
        name="Rich",
        rule="balance",
        threshold=100,
        reward_amount=5,
        reward_currency=Currency.objects.first(),
    )
    sql("UPDATE ledger_achievement SET threshold = 1 WHERE id = %s", [achievement.pk])
    original = achievement.versions.get(pgh_label="insert")
    assert revert_to_version(Achievement, original.pgh_id, actor=staff) == ["threshold"]
    achievement.refresh_from_db()
    assert achievement.threshold == 100
    latest = achievement.versions.order_by("-pgh_id").first()
    assert latest.threshold == 100
    assert latest.pgh_context.metadata["user"] == staff.pk
    assert changes(f"ledger.achievement:{achievement.pk}")[-1].actor_id == staff.pk


def test_revert_to_an_unknown_version_is_refused():
    with pytest.raises(UnknownVersion):
        revert_to_version(Currency, 999_999, actor=None)


def test_an_orm_change_is_a_config_changed_event_on_every_backend():
    staff = UserFactory()
    currency = Currency.objects.get(code="points")
    with transaction.atomic(), acting(staff):
        currency.referral_bonus += 1
        currency.save()
    event = changes(f"ledger.currency:{currency.pk}")[-1]
    check("config.changed", event.data)
    assert event.data["fields"] == ["referral_bonus"]
    assert event.actor_id == staff.pk


@pytest.mark.postgres
def test_integrity_report_finds_a_configuration_row_changed_with_the_triggers_off():
    currency = Currency.objects.get(code="points")
    assert integrity_json("--check", "ledger.configuration_history_current")[0] == 0
    raw_write("UPDATE ledger_currency SET referral_bonus = 1 WHERE id = %s", [currency.pk])
    code, report = integrity_json("--check", "ledger.configuration_history_current")
    assert code == 1
    assert report["checks"][0]["sample"] == [f"currency:{currency.pk}"]
