"""The member page's controls: money (award, deduct, reverse), achievements and
subscriptions, each an htmx POST calling one action (dashboard/controls.py says how
permissions and refusals work). Their answer is the page's body again, fresh.

Money is the Treasurer's: adjusting needs `ledger.adjust_balance`, reversing
`ledger.reverse_transfer`, granting `ledger.grant_achievement`; subscriptions need
`accounts.manage_subscription` and the profile `accounts.change_member` (Moderators);
erasing the member's personal data `accounts.erase_member` (Owner).

A double submit pays once: the adjust form carries a token drawn when it was rendered,
and the transfer's idempotency key is made from it (`admin-adjust:dashboard:<token>`, a
prefix callers of the API cannot use), so a second POST of the same form is answered
with the first transfer and writes nothing."""

from __future__ import annotations

import re

from django.shortcuts import get_object_or_404

from dashboard.controls import Unparsable, control, whole

ADJUST = "ledger.adjust_balance"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}\Z")
REVERSE = "ledger.reverse_transfer"
GRANT = "ledger.grant_achievement"
SUBSCRIBE = "accounts.manage_subscription"
PROFILE = "accounts.change_member"
ERASE = "accounts.erase_member"
FLAGS = ("welcomed", "onboarding_completed", "tutorial_completed")


def _member(member_id: int):
    from accounts.models import Member

    return get_object_or_404(Member, pk=member_id)


def _body(request, member):
    from dashboard.views import member_body

    return member_body(request, member)


@control(ADJUST)
def adjust(request, member_id: int):
    """Award (`direction=award`) or deduct (`direction=deduct`) an amount with a reason."""
    from ledger import actions as ledger
    from ledger.models import TransferKind
    from ledger.plans import SystemKey

    member = _member(member_id)
    amount = whole(request, "amount")
    if amount is None or amount <= 0:
        raise Unparsable("The amount is a positive whole number.")
    token = request.POST.get("token", "")
    if not _TOKEN.match(token):
        raise Unparsable("This form has expired: reload the page.")
    arguments = {
        "currency": request.POST.get("currency", ""),
        "kind": TransferKind.ADJUSTMENT,
        "reason": request.POST.get("reason", ""),
        "idempotency_key": SystemKey(f"admin-adjust:dashboard:{token}"),
        "actor": request.user,
    }
    direction = request.POST.get("direction")
    if direction == "award":
        ledger.award(member, amount, **arguments)
    elif direction == "deduct":
        ledger.spend(member, amount, sink="adjustment", **arguments)
    else:
        raise Unparsable("Choose award or deduct.")
    return _body(request, member)


@control(REVERSE)
def reverse(request, member_id: int, transfer_id: int):
    """Reverse one of the member's transfers (every posting of it), with a reason."""
    from ledger import actions as ledger
    from ledger.models import Transfer
    from ledger.plans import SystemKey

    member = _member(member_id)
    original = get_object_or_404(Transfer, pk=transfer_id, postings__account__member_id=member.pk)
    ledger.reverse(
        original,
        reason=request.POST.get("reason", ""),
        idempotency_key=SystemKey(f"admin-reverse:{original.pk}"),
        actor=request.user,
    )
    return _body(request, member)


@control(GRANT)
def grant(request, member_id: int):
    """Grant an achievement (its reward is paid with it, once)."""
    from ledger import actions as ledger
    from ledger.models import Achievement

    member = _member(member_id)
    code = request.POST.get("achievement", "")
    achievement = Achievement.objects.filter(code=code).first()
    if achievement is None:
        raise Unparsable("Choose an achievement.")
    ledger.grant_achievement(member, achievement, actor=request.user)
    return _body(request, member)


@control(SUBSCRIBE)
def subscribe(request, member_id: int):
    """Start a subscription of the chosen tier (now, no expiry)."""
    from accounts.actions import start_subscription

    member = _member(member_id)
    start_subscription(member, tier=request.POST.get("tier", ""), actor=request.user)
    return _body(request, member)


@control(SUBSCRIBE)
def unsubscribe(request, member_id: int, subscription_id: int):
    """Cancel the member's subscription."""
    from accounts.actions import cancel_subscription
    from accounts.models import Subscription

    member = _member(member_id)
    subscription = get_object_or_404(Subscription, pk=subscription_id, member=member)
    cancel_subscription(subscription, actor=request.user)
    return _body(request, member)


@control(PROFILE)
def profile(request, member_id: int):
    """Change the profile's archetype and onboarding flags (`update_profile`; preferences
    and personality come from the bots, through the API)."""
    from accounts.actions import update_profile

    member = _member(member_id)
    changes = {flag: request.POST.get(flag) == "on" for flag in FLAGS}
    update_profile(
        member, actor=request.user, archetype=request.POST.get("archetype", ""), **changes
    )
    return _body(request, member)


@control(ERASE)
def erase(request, member_id: int):
    """Erase the member's personal data, with the reason typed (`erase_member`: the page
    asked first and said what goes and what stays)."""
    from accounts.actions import erase_member

    member = erase_member(
        _member(member_id), reason=request.POST.get("reason", ""), actor=request.user
    )
    return _body(request, member)
