"""The relay: events still unpublished after their post-commit broadcast should have run."""

from __future__ import annotations

import logging

from celery import shared_task

from events import live

logger = logging.getLogger(__name__)


@shared_task(name="events.tasks.relay", ignore_result=True)
def relay() -> int:
    """Broadcast every event left unpublished (a crash or a channel-layer outage between
    commit and broadcast), oldest first, in pages until none is left."""
    total = 0
    while True:
        sent = live.relay()
        total += sent
        if sent < 1000:
            break
    if total:
        logger.info("events relay: broadcast %d event(s) left unpublished", total)
    return total
