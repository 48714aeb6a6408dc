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
