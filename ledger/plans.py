"""What a transfer is asked to do, before anything is written.

A `Plan` is one transfer's postings (`Leg`s) and its fields; `Plan.request()` is what its
idempotency key stands for, and `describe` gives the same of a stored transfer, so a
replay can say what differs (`differences`). The `check_*` functions validate an action's
arguments before any row is locked. `ledger.posting` writes a plan.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from config.db import pk_of
from ledger.exceptions import InvalidAmount, InvalidRequest, UnknownCurrency
from ledger.models import CODE_PATTERN, Posting, Transfer

MAX_AMOUNT = 10**15  # far above any real balance, far below bigint's limit
KEY_MAX = Transfer._meta.get_field("idempotency_key").max_length
REASON_MAX = Transfer._meta.get_field("reason").max_length


@dataclass(frozen=True)
class Leg:
    """One posting of a plan: a member's wallet or a named system account."""

    member_id: int | None
    system: str | None
    delta: int
    held_delta: int = 0  # capture frees the hold's amount as it spends it


@dataclass(frozen=True)
class Plan:
    currency: str
    kind: str
    idempotency_key: str
    reason: str
    context: dict[str, Any]
    actor_id: int | None
    legs: tuple[Leg, ...]
    reverses_id: int | None = None

    def request(self) -> dict[str, Any]:
        """What the idempotency key stands for: the transfer's effect, in canonical form.

        Two calls that would post the same thing are the same request (an `award` and an
        `award_many` of one member, say); the actor is not part of it."""
        return {
            "currency": self.currency,
            "kind": self.kind,
            "reason": self.reason,
            "context": self.context,
            "reverses": self.reverses_id,
            "members": _totals(
                (str(leg.member_id), leg.delta) for leg in self.legs if leg.member_id
            ),
            "system": _totals((leg.system, leg.delta) for leg in self.legs if leg.system),
        }


def _totals(pairs) -> dict[str, int]:
    totals: dict[str, int] = {}
    for name, delta in pairs:
        totals[name] = totals.get(name, 0) + delta
    return dict(sorted(totals.items()))


def request_hash(request: dict[str, Any]) -> str:
    encoded = json.dumps(request, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(encoded.encode()).hexdigest()


# --- validation: everything here runs before any row is locked ------------------------


def check_amount(amount) -> int:
    # bool is an int in Python; 5.0, Decimal("5") and "5" are not amounts either.
    if type(amount) is not int or amount <= 0:
        raise InvalidAmount(f"amounts are positive integers, not {amount!r}")
    if amount > MAX_AMOUNT:
        raise InvalidAmount(f"{amount} is above the largest amount ({MAX_AMOUNT})")
    return amount


# Keys Concord derives itself (registration bonuses, achievement rewards, captures). A
# caller's key may not start like one, or it could pre-empt (and so block) that payment.
RESERVED_KEY_PREFIXES = (
    "signup:",
    "referral:",
    "achievement:",
    "hold:",
    "admin-adjust:",
    "admin-reverse:",
    "tournament:",  # entry fees, refunds and prizes (tournaments.actions)
    "api:",  # derived from the Bot API's Idempotency-Key (api.idempotency.ledger_key)
    "narrative:",  # choice rewards (narrative.actions)
    "payment:",  # credits bought and refunded (payments.actions)
    "reading:",  # Tarot readings' holds (payments.actions)
)


class SystemKey(str):
    """An idempotency key Concord derived itself; only these may use the reserved prefixes."""


def check_key(key, *, transfer: bool = True) -> str:
    """A caller's idempotency key; `transfer=False` for holds (their keys are their own)."""
    if (
        transfer
        and not isinstance(key, SystemKey)
        and isinstance(key, str)
        and key.startswith(RESERVED_KEY_PREFIXES)
    ):
        raise InvalidRequest(
            f"idempotency keys starting with {', '.join(RESERVED_KEY_PREFIXES)} are Concord's own"
        )
    if not isinstance(key, str) or not key.strip():
        raise InvalidRequest("an idempotency key is a non-blank string")
    if len(key) > KEY_MAX:
        raise InvalidRequest(f"an idempotency key has at most {KEY_MAX} characters")
    if "\x00" in key:
        raise InvalidRequest("an idempotency key cannot contain NUL")
    return key


def check_reason(reason) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidRequest("a reason is required")
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise InvalidRequest(f"a reason has at most {REASON_MAX} characters")
    if "\x00" in reason:
        raise InvalidRequest("a reason cannot contain NUL")
    return reason


def check_context(context) -> dict[str, Any]:
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise InvalidRequest("context is a dict")
    try:
        # As it will read back from the JSON column, so replays hash the same. NaN and
        # Infinity are not JSON, and PostgreSQL's jsonb refuses NUL characters.
        encoded = json.dumps(context, cls=DjangoJSONEncoder, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidRequest(f"context is not JSON-serializable: {error}") from None
    if "\\u0000" in encoded:
        raise InvalidRequest("context cannot contain NUL characters")
    return json.loads(encoded)


def check_currency(currency) -> str:
    """A currency code that can exist (else `UnknownCurrency` without asking)."""
    if not isinstance(currency, str) or not re.match(CODE_PATTERN, currency):
        raise UnknownCurrency(f"no currency {currency!r}")
    return currency


def member_id_of(member) -> int:
    """The id of the saved member (or `Ref`) an action names; a bare id is refused."""
    return pk_of(member, "member", InvalidRequest, ids=False)


def describe(transfer: Transfer) -> dict[str, Any]:
    """The request a stored transfer answered, in `Plan.request()`'s form."""
    rows = list(
        Posting.objects.filter(transfer=transfer)
        .order_by("id")
        .values_list("account__member_id", "account__name", "amount", "account__currency__code")
    )
    return {
        "currency": rows[0][3] if rows else None,
        "kind": transfer.kind,
        "reason": transfer.reason,
        "context": transfer.context,
        "reverses": transfer.reverses_id,
        "members": _totals((str(m), amount) for m, _, amount, _ in rows if m is not None),
        "system": _totals((name, amount) for m, name, amount, _ in rows if m is None),
    }


def differences(original: dict[str, Any], request: dict[str, Any]) -> list[str]:
    """The request's fields that differ, in the words of the actions' arguments."""
    fields: list[str] = []
    for name in ("currency", "kind", "reason", "context"):
        if original[name] != request[name]:
            fields.append(name)
    if original["reverses"] != request["reverses"]:
        fields.append("transfer")
    for side, word in (("members", "member"), ("system", "sink")):
        before, after = original[side], request[side]
        if before == after:
            continue
        if set(before) != set(after):
            fields.append(word)
        if any(before[k] != after[k] for k in set(before) & set(after)):
            fields.append("amount")
    return list(dict.fromkeys(fields)) or ["request"]
