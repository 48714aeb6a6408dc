"""Fixtures shared by the ledger tests."""

from __future__ import annotations

import pytest

from ledger.achievements import grant_achievement
from ledger.models import Achievement, AchievementRule, Currency, MemberAchievement


@pytest.fixture
def points(db) -> Currency:
    return Currency.objects.get(code="points")


@pytest.fixture
def gems(db) -> Currency:
    """A currency no registration opens a wallet in."""
    return Currency.objects.create(code="gems", name="Gems", opens_on_signup=False)


@pytest.fixture
def granted(alice) -> MemberAchievement:
    achievement = Achievement.objects.create(
        code="welcome", name="Welcome", rule=AchievementRule.GRANTED
    )
    return grant_achievement(alice, achievement)
