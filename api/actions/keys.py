"""Every write to API keys goes through here (the command, the admin and the dashboard
call these)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

import events
from api import keycache, payloads
from api.exceptions import InvalidKeyRequest, KeyNotActive, UnknownKey
from api.models import SCOPES, ApiKey
from api.sql import statement

KEY_PREFIX = "cnc"
PREFIX_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
PREFIX_LENGTH = 8
LABEL_MAX = ApiKey._meta.get_field("label").max_length


class IssuedKey(NamedTuple):
    key: ApiKey
    token: str  # the full secret: shown once, never stored


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_prefix() -> str:
    return "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))


def check_scopes(scopes) -> list[str]:
    scopes = sorted(set(scopes or ()))
    if not scopes:
        raise InvalidKeyRequest("a key needs at least one scope")
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise InvalidKeyRequest(
            f"unknown scope {unknown[0]!r} (expected some of {', '.join(SCOPES)})"
        )
    return scopes


def _check_label(label) -> str:
    label = (label or "").strip() if isinstance(label, str) else ""
    if not label or len(label) > LABEL_MAX or not label.isprintable():
        raise InvalidKeyRequest(f"a label is printable text of 1 to {LABEL_MAX} characters")
    return label


@transaction.atomic
def create_key(
    *, label: str, scopes, expires_at: datetime | None = None, actor_user=None, actor=None
) -> IssuedKey:
    """A new key; its secret is in the returned `token` only. Without `actor_user` a
    service user of its own is made (events written through the key name it)."""
    label, scopes = _check_label(label), check_scopes(scopes)
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidKeyRequest("a key must expire in the future")
    for _ in range(8):
        prefix, secret = _new_prefix(), secrets.token_urlsafe(24)
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    if actor_user is None:
        actor_user = get_user_model()(username=f"api-{prefix}", first_name=label[:150])
        actor_user.set_unusable_password()
        actor_user.save()
    try:
        with transaction.atomic():
            key = ApiKey.objects.create(
                label=label,
                prefix=prefix,
                secret_hash=hash_secret(secret),
                scopes=scopes,
                actor=actor_user,
                created_at=now,
                expires_at=expires_at,
            )
    except IntegrityError:  # a prefix drawn twice at once: vanishingly rare
        raise InvalidKeyRequest("could not draw a unique prefix; try again") from None
    events.publish(
        "api.key_created",
        payloads.key_created(key_id=key.pk, prefix=prefix, label=label, scopes=scopes),
        actor=actor,
        subject=f"api_key:{key.pk}",
    )
    return IssuedKey(key, f"{KEY_PREFIX}_{prefix}_{secret}")


def _by_prefix(prefix: str, *, lock: bool = False) -> ApiKey:
    rows = ApiKey.objects.select_for_update() if lock else ApiKey.objects
    key = rows.filter(prefix=str(prefix).strip()).first()
    if key is None:
        raise UnknownKey(f"no key has prefix {prefix!r}")
    return key


@transaction.atomic
def revoke_key(prefix: str, *, actor=None) -> ApiKey:
    """Refuse the key from now on (every request checks it). Revoking again changes no row
    and writes no event, but renews the keys' generation (`api.keycache`): the remedy when
    the first revocation could not reach Redis."""
    key = _by_prefix(prefix, lock=True)
    if key.revoked_at is not None:
        keycache.changed()
        return key
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    keycache.changed()
    events.publish(
        "api.key_revoked",
        payloads.key_revoked(key_id=key.pk, prefix=key.prefix),
        actor=actor,
        subject=f"api_key:{key.pk}",
    )
    return key


@transaction.atomic
def rotate_key(prefix: str, *, grace: timedelta | None = None, actor=None) -> IssuedKey:
    """A new key with the old one's label, scopes, expiry and actor; the old key stays
    valid for `grace` (settings.API_KEY_ROTATION_GRACE by default), then expires."""
    old = _by_prefix(prefix, lock=True)
    now = timezone.now()
    if not is_active(old, now) or old.replaced_by_id is not None:
        raise KeyNotActive(f"key {old.prefix} is revoked, expired or rotated already")
    grace = settings.API_KEY_ROTATION_GRACE if grace is None else grace
    issued = create_key(
        label=old.label,
        scopes=old.scopes,
        expires_at=old.expires_at if old.expires_at and old.expires_at > now + grace else None,
        actor_user=old.actor,
        actor=actor,
    )
    ends = now + grace
    old.expires_at = min(old.expires_at, ends) if old.expires_at else ends
    old.replaced_by = issued.key
    old.save(update_fields=["expires_at", "replaced_by"])
    keycache.changed()
    return issued


def is_active(key: ApiKey, now: datetime) -> bool:
    return key.revoked_at is None and (key.expires_at is None or key.expires_at > now)


_BY_PREFIX = statement("api_key_by_prefix")


def parse_token(token) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed `cnc_<prefix>_<secret>`, else None."""
    parts = token.split("_", 2) if isinstance(token, str) and len(token) <= 100 else []
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != PREFIX_LENGTH:
        return None
    if not parts[1].isascii() or not parts[1].isalnum():
        return None
    return parts[1], parts[2]


def secret_matches(key: ApiKey, secret: str) -> bool:
    return hmac.compare_digest(key.secret_hash, hash_secret(secret))


def authenticate(token: str) -> ApiKey | None:
    """The active key `token` is, read from the database, else None (unknown, malformed,
    revoked, expired all look the same to the caller). Kept in this process's copies
    (`api.keycache`) under the generation read before the row."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    prefix, secret = parsed
    generation = keycache.generation() if keycache.enabled() else None
    key = next(iter(ApiKey.objects.raw(_BY_PREFIX, [prefix])), None)
    if key is None or not secret_matches(key, secret):
        return None
    if not is_active(key, timezone.now()):
        return None
    # The actor as actions read it (by primary key): no second query per request.
    key.actor = get_user_model().from_db(key._state.db, ["id"], [key.actor_id])
    if generation is not None:
        keycache.keys.put(prefix, generation, key)
    return key


def mark_used(key: ApiKey) -> None:
    """Record that `key` was used now: at most once a minute per key and process (a key
    kept by `api.keycache` carries the time this process last wrote), not per request."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > timedelta(seconds=60):
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
