"""The data of the events the dashboard publishes (`overlay.*`), defined once.

Each kind is a `TypedDict` registered with `events.payloads.schema` and a builder;
`events.payloads` says why. Readers: the dashboard's feed and overlay pages, tests.
"""

from __future__ import annotations

from typing import TypedDict

from events.payloads import schema


@schema("overlay.token_created")
class TokenCreated(TypedDict):
    token_id: int
    scope: str
    label: str


def token_created(*, token_id: int, scope: str, label: str) -> TokenCreated:
    return {"token_id": token_id, "scope": scope, "label": label}


@schema("overlay.token_revoked")
class TokenRevoked(TypedDict):
    token_id: int
    scope: str


def token_revoked(*, token_id: int, scope: str) -> TokenRevoked:
    return {"token_id": token_id, "scope": scope}
