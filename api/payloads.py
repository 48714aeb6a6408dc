"""The data of the events the api app publishes (`api.*`), defined once (events.payloads
says why). Staff kinds: never sent to a stream (`dashboard.public` projects none)."""

from __future__ import annotations

from typing import TypedDict

from events.payloads import schema


@schema("api.key_created")
class KeyCreated(TypedDict):
    key_id: int
    prefix: str
    label: str
    scopes: list[str]


@schema("api.key_revoked")
class KeyRevoked(TypedDict):
    key_id: int
    prefix: str


def key_created(*, key_id: int, prefix: str, label: str, scopes: list[str]) -> KeyCreated:
    return {"key_id": key_id, "prefix": prefix, "label": label, "scopes": list(scopes)}


def key_revoked(*, key_id: int, prefix: str) -> KeyRevoked:
    return {"key_id": key_id, "prefix": prefix}


@schema("api.webhook_created", "api.webhook_deleted")
class WebhookChanged(TypedDict):
    webhook_id: int
    key_id: int
    url: str


@schema("api.webhook_updated")
class WebhookUpdated(TypedDict):
    webhook_id: int
    key_id: int
    url: str
    scope: str
    kinds: list[str]
    enabled: bool


@schema("api.webhook_disabled")
class WebhookDisabled(TypedDict):
    """An endpoint disabled automatically: the retry schedule of a delivery ran out."""

    webhook_id: int
    key_id: int
    url: str
    seq: int
    attempts: int
    reason: str


@schema("api.webhook_redelivered")
class WebhookRedelivered(TypedDict):
    webhook_id: int
    delivery_id: int
    seq: int


def webhook_changed(*, webhook_id: int, key_id: int, url: str) -> WebhookChanged:
    return {"webhook_id": webhook_id, "key_id": key_id, "url": url}


def webhook_updated(endpoint) -> WebhookUpdated:
    return {
        "webhook_id": endpoint.pk,
        "key_id": endpoint.api_key_id,
        "url": endpoint.url,
        "scope": endpoint.scope,
        "kinds": list(endpoint.kinds),
        "enabled": endpoint.enabled,
    }


def webhook_disabled(endpoint, *, seq: int, attempts: int, reason: str) -> WebhookDisabled:
    return {
        "webhook_id": endpoint.pk,
        "key_id": endpoint.api_key_id,
        "url": endpoint.url,
        "seq": seq,
        "attempts": attempts,
        "reason": reason,
    }


def webhook_redelivered(*, webhook_id: int, delivery_id: int, seq: int) -> WebhookRedelivered:
    return {"webhook_id": webhook_id, "delivery_id": delivery_id, "seq": seq}
