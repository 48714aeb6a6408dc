"""Factories. Members are made the only way production makes them: register_member."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from accounts.actions import register_member
from accounts.models import Member, User
from tournaments.actions import create_tournament, open_registration
from tournaments.models import Format, Status, Tournament


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True


class MemberFactory(factory.Factory):
    class Meta:
        model = Member

    platform = "telegram"
    # Telegram ids are numbers (accounts_identity_numeric_external_id): from a range no
    # test names by hand.
    external_id = factory.Sequence(lambda n: str(880_000_000_000 + n))
    username = factory.Faker("user_name")
    email = None
    referral_code = None
    actor = None

    @classmethod
    def _create(cls, model_class, **kwargs):
        return register_member(**kwargs).member

    _build = _create


class TournamentFactory(factory.Factory):
    """A tournament made as production makes one: `create_tournament`, then (unless
    `status="draft"`) `open_registration`. Registration is open now, for a day; check-in
    follows it."""

    class Meta:
        model = Tournament

    name = factory.Sequence(lambda n: f"Cup {n}")
    game = "chess"
    currency = "points"
    entry_fee = 10
    capacity = 4
    waitlist_limit = None
    format = Format.SINGLE_ELIMINATION
    registration_opens_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    registration_closes_at = factory.LazyAttribute(
        lambda o: o.registration_opens_at + timedelta(days=1)
    )
    check_in_opens_at = factory.LazyAttribute(
        lambda o: o.registration_closes_at + timedelta(hours=1)
    )
    check_in_closes_at = factory.LazyAttribute(lambda o: o.check_in_opens_at + timedelta(hours=1))
    prize_table = factory.LazyFunction(lambda: {"1": 300, "2": 100})
    status = Status.REGISTRATION  # draft, or registration (opened)
    actor = None

    @classmethod
    def _create(cls, model_class, *, status, **kwargs):
        tournament = create_tournament(**kwargs)
        if status != Status.DRAFT:
            open_registration(tournament, actor=kwargs.get("actor"))
            tournament.refresh_from_db()
        return tournament

    _build = _create
