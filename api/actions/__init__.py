"""Every write of the api app: keys (`keys`) and webhooks (`webhooks`). Re-exported here,
so `from api.actions import create_key` keeps working."""

from __future__ import annotations

from api.actions.keys import (
    KEY_PREFIX,
    LABEL_MAX,
    PREFIX_ALPHABET,
    PREFIX_LENGTH,
    IssuedKey,
    authenticate,
    check_scopes,
    create_key,
    hash_secret,
    is_active,
    mark_used,
    revoke_key,
    rotate_key,
)
from api.actions.webhooks import (
    CreatedEndpoint,
    check_url,
    create_endpoint,
    delete_endpoint,
    enqueue_deliveries,
    prune_deliveries,
    record_attempt,
    redeliver,
    update_endpoint,
)

__all__ = [
    "KEY_PREFIX",
    "LABEL_MAX",
    "PREFIX_ALPHABET",
    "PREFIX_LENGTH",
    "CreatedEndpoint",
    "IssuedKey",
    "authenticate",
    "check_scopes",
    "check_url",
    "create_endpoint",
    "create_key",
    "delete_endpoint",
    "enqueue_deliveries",
    "hash_secret",
    "is_active",
    "mark_used",
    "prune_deliveries",
    "record_attempt",
    "redeliver",
    "revoke_key",
    "rotate_key",
    "update_endpoint",
]
