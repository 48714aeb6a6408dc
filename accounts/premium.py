"""Premium now: the one answer every rule reads.

A member is premium at `now` when they hold a current subscription of a premium tier
(`SubscriptionQuerySet.premium`; in SQL `accounts.sql.PREMIUM_SUBSCRIBER`, held to the
same answers by tests/accounts/test_premium.py). VIP chapters and subscription chapters
(narrative), the dashboard and the API's `is_premium` all read it; there is no stored
flag to disagree with it. A subscription still `active` past its expiry is not premium
here, whether or not beat has stored it as expired yet.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from accounts.models import Member, Subscription


def is_premium(member: Member | int, now: datetime | None = None) -> bool:
    member_id = member if isinstance(member, int) else member.pk
    return Subscription.objects.premium(now or timezone.now()).filter(member_id=member_id).exists()
