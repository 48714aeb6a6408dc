"""Fixtures shared by the ledger tests."""

from __future__ import annotations

import pytest

from ledger.models import Currency


@pytest.fixture
def points(db) -> Currency:
    return Currency.objects.get(code="points")


@pytest.fixture
def gems(db) -> Currency:
    """A currency no registration opens a wallet in."""
    return Currency.objects.create(code="gems", name="Gems", opens_on_signup=False)
