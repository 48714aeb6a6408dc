"""The data of the events operations publish (`system.alert_*`), defined once.

Each kind is a `TypedDict` registered with `events.payloads.schema` and a builder;
`events.payloads` says why. Readers: the dashboard's feed, the log, tests. No public
projection (`dashboard.public`): token streams never receive them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from events.payloads import instant, schema


@schema("system.alert_raised")
class AlertRaised(TypedDict):
    alert_id: int
    key: str
    rule: str
    title: str
    body: str
    raised_at: str


def alert_raised(
    *, alert_id: int, key: str, rule: str, title: str, body: str, raised_at: datetime
) -> AlertRaised:
    return {
        "alert_id": alert_id,
        "key": key,
        "rule": rule,
        "title": title,
        "body": body,
        "raised_at": instant(raised_at),
    }


@schema("system.alert_resolved")
class AlertResolved(TypedDict):
    alert_id: int
    key: str
    rule: str
    title: str
    raised_at: str
    resolved_at: str


def alert_resolved(
    *, alert_id: int, key: str, rule: str, title: str, raised_at: datetime, resolved_at: datetime
) -> AlertResolved:
    return {
        "alert_id": alert_id,
        "key": key,
        "rule": rule,
        "title": title,
        "raised_at": instant(raised_at),
        "resolved_at": instant(resolved_at),
    }


@schema("system.member_repaired")
class MemberRepaired(TypedDict):
    member_id: int
    source: str
    repairs: list[str]


def member_repaired(*, member_id: int, source: str, repairs: list[str]) -> MemberRepaired:
    return {"member_id": member_id, "source": source, "repairs": repairs}
