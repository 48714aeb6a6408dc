"""What counts as a premium subscriber is said twice in accounts, once per language:
`Member.objects.premium_subscribers(now)` (Python) and `accounts.sql.PREMIUM_SUBSCRIBER`
(SQL, in narrative's statements). Both must name the same members, on each backend."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from accounts.actions import cancel_subscription, start_subscription
from accounts.models import Member, Subscription, SubscriptionStatus
from accounts.sql import PREMIUM_SUBSCRIBER
from tests.factories import MemberFactory
from tests.helpers import sql

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def members_by_sql(now) -> set[int]:
    rows = sql(
        "SELECT m.id FROM accounts_member m WHERE "
        + PREMIUM_SUBSCRIBER.format(member="m.id", now="%(now)s"),
        {"now": connection.ops.adapt_datetimefield_value(now)},
    )
    return {member_id for (member_id,) in rows}


def subscriber(tier: str, *, starts_at, expires_at=None, status=SubscriptionStatus.ACTIVE):
    member = MemberFactory()
    made = start_subscription(member, tier=tier, starts_at=starts_at, expires_at=expires_at)
    if status == SubscriptionStatus.CANCELLED:
        cancel_subscription(made)
    elif status == SubscriptionStatus.EXPIRED:  # stored expired: as beat would
        Subscription.objects.filter(pk=made.pk).update(status=status, ended_at=F("expires_at"))
    return member.pk


@pytest.mark.parametrize(
    "now",
    [
        timezone.now().replace(microsecond=123456),
        timezone.now().replace(microsecond=0),  # SQLite stores a whole second without ".0"
    ],
    ids=["now", "on-a-second"],
)
def test_the_queryset_and_the_sql_fragment_name_the_same_premium_subscribers(now):
    premium = {
        "no expiry": subscriber("premium", starts_at=now - DAY),
        "expires later": subscriber("professional", starts_at=now - DAY, expires_at=now + DAY),
        "starts at now": subscriber("premium", starts_at=now),
        "expires a microsecond after now": subscriber(
            "premium", starts_at=now - DAY, expires_at=now + timedelta(microseconds=1)
        ),
    }
    not_premium = {
        "no subscription": MemberFactory().pk,
        "basic tier": subscriber("basic", starts_at=now - DAY),
        "expired (time)": subscriber("premium", starts_at=now - 2 * DAY, expires_at=now - DAY),
        "expires at now": subscriber("premium", starts_at=now - DAY, expires_at=now),
        "starts after now": subscriber("premium", starts_at=now + timedelta(microseconds=1)),
        "cancelled": subscriber("premium", starts_at=now - DAY, status="cancelled"),
        "expired (status)": subscriber(
            "professional", starts_at=now - 2 * DAY, expires_at=now - DAY, status="expired"
        ),
    }
    # A member with an old cancelled subscription and a current one is premium.
    again = Member.objects.get(pk=not_premium["cancelled"])
    start_subscription(again, tier="professional", starts_at=now - DAY)
    premium["cancelled, then subscribed again"] = not_premium.pop("cancelled")

    by_queryset = set(Member.objects.premium_subscribers(now).values_list("pk", flat=True))
    assert by_queryset == set(premium.values())
    assert members_by_sql(now) == by_queryset
    # Everyone else was looked at and left out.
    assert set(not_premium.values()).isdisjoint(by_queryset)
    assert Member.objects.count() == len(premium) + len(not_premium)
