"""Fixtures the privacy tests share."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from tests.factories import UserFactory


@pytest.fixture
def officer(db):
    """A user who may erase members (`accounts.erase_member`)."""
    user = UserFactory(username="dpo")
    user.user_permissions.add(Permission.objects.get(codename="erase_member"))
    return user
