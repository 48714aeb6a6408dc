"""Factories. Members are made the only way production makes them: register_member."""

from __future__ import annotations

import factory

from accounts.actions import register_member
from accounts.models import Member, User


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
    external_id = factory.Sequence(lambda n: f"f{n}")
    username = factory.Faker("user_name")
    email = None
    referral_code = None
    actor = None

    @classmethod
    def _create(cls, model_class, **kwargs):
        return register_member(**kwargs).member

    _build = _create
