"""The event log's check: the relay keeps up (every committed event reaches the screens
within RELAY_MAX_LAG_SECONDS), read from its position, the same measure as /healthz."""

from __future__ import annotations

from django.conf import settings

from integrity.registry import Violations, check


@check(
    "events.relay_keeps_up",
    "The relay's oldest unsent event is younger than RELAY_MAX_LAG_SECONDS.",
)
def relay_keeps_up() -> Violations:
    from events.relay import lag

    behind = lag()
    if behind.behind_seconds <= settings.RELAY_MAX_LAG_SECONDS:
        return Violations(count=0)
    return Violations(count=1, sample=[behind.as_dict()])
