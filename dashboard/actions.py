"""Overlay tokens: create, resolve, revoke (commands, dashboard and consumers call these);
and the audit record of a members export (`record_members_export`)."""

from __future__ import annotations

import secrets

from django.core import signing
from django.db import transaction
from django.utils import timezone

import events
from dashboard import payloads
from dashboard.exceptions import InvalidOverlayScope, InvalidToken, TokenRevoked
from dashboard.models import SIGNING_SALT, OverlayToken
from dashboard.scopes import Scope
from events import live

LABEL_MAX = 100


def create_token(scope: str, *, label: str = "", actor=None) -> OverlayToken:
    """A new overlay token for `scope` (see `dashboard.scopes`)."""
    parsed = Scope.parse(scope)
    label = (label or "").strip()
    if len(label) > LABEL_MAX:
        raise InvalidOverlayScope(f"a label is at most {LABEL_MAX} characters")
    with transaction.atomic():
        token = OverlayToken.objects.create(
            key=secrets.token_hex(11),  # never starts with "-" (command lines)
            scope=parsed.name,
            label=label,
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        events.publish(
            "overlay.token_created",
            payloads.token_created(token_id=token.pk, scope=token.scope, label=token.label),
            actor=actor,
            subject=f"overlay:{token.pk}",
        )
    return token


def key_of(token: str) -> str:
    """The key a token string signs; `InvalidToken` if this deployment did not sign it."""
    try:
        return signing.Signer(salt=SIGNING_SALT).unsign((token or "").strip())
    except signing.BadSignature:
        raise InvalidToken("not an overlay token of this Concord") from None


def resolve(token: str) -> OverlayToken:
    """The active token for a token string (`InvalidToken`, `TokenRevoked`)."""
    found = OverlayToken.objects.filter(key=key_of(token)).first()
    if found is None:
        raise InvalidToken("no such overlay token")
    if found.revoked_at is not None:
        raise TokenRevoked(f"overlay token {found.key[:6]}… was revoked")
    return found


def find(token_or_key: str) -> OverlayToken:
    """A token by its full string or by its key (or a unique key prefix of 6+ chars)."""
    text = (token_or_key or "").strip()
    if ":" in text:
        key = key_of(text)
        found = OverlayToken.objects.filter(key=key).first()
    elif len(text) >= 6:
        matches = list(OverlayToken.objects.filter(key__startswith=text)[:2])
        if len(matches) > 1:
            raise InvalidToken(f"{text!r} matches more than one token: give more of it")
        found = matches[0] if matches else None
    else:
        raise InvalidToken("give the token, or at least 6 characters of its key")
    if found is None:
        raise InvalidToken("no such overlay token")
    return found


def revoke(token: OverlayToken, *, actor=None) -> OverlayToken:
    """Revoke `token` (again is a no-op) and close the overlays connected on it."""
    with transaction.atomic():
        locked = OverlayToken.objects.select_for_update().get(pk=token.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            events.publish(
                "overlay.token_revoked",
                payloads.token_revoked(token_id=locked.pk, scope=locked.scope),
                actor=actor,
                subject=f"overlay:{locked.pk}",
            )
            transaction.on_commit(lambda: _close_connections(locked.pk), robust=True)
    return locked


def _close_connections(token_id: int) -> None:
    # Each daphne process's hub also rechecks its tokens every few seconds, so an overlay
    # is closed even if this message is lost.
    live.control("revoke", token_id=token_id)


def reload_connection(connection_id: str) -> None:
    """Make one connected overlay reload its page (the fleet panel's button)."""
    live.control("reload", connection=str(connection_id))


def record_members_export(listing, *, rows: int, pii: bool, actor) -> None:
    """Publish `members.exported` for a CSV of the members list (`listing`: a
    `dashboard.members_list.Listing`), before its rows are sent."""
    with transaction.atomic():
        events.publish(
            "members.exported",
            payloads.members_exported(
                rows=rows,
                pii=pii,
                searched=bool(listing.query),
                platform=listing.platform,
                premium=listing.premium,
                active=listing.active,
                sort=listing.sort,
                currency=listing.currency,
            ),
            actor=actor,
            subject=f"user:{actor.pk}",
        )
