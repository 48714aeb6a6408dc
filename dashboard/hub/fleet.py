"""The overlay fleet: every process's overlay connections, for the dashboard's fleet
panel. Each hub's heartbeat writes its process's (`write_fleet`, every few seconds); a
process silent for FLEET_TTL seconds drops out of what `read_fleet` returns."""

from __future__ import annotations

import logging
import os
import uuid

from django.core.cache import cache

logger = logging.getLogger(__name__)

FLEET_TTL = 30
PROCESS_ID = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def write_fleet(connections: list[dict]) -> None:
    """This process's overlay connections, for the dashboard's fleet panel."""
    try:
        processes = set(cache.get("fleet:processes") or ())
        if PROCESS_ID not in processes:
            processes.add(PROCESS_ID)
            cache.set("fleet:processes", sorted(processes), None)
        cache.set(f"fleet:{PROCESS_ID}", connections, FLEET_TTL)
    except Exception as exc:
        logger.warning("hub: could not write the overlay fleet to the cache (%s)", exc)


def read_fleet() -> list[dict]:
    """Every process's overlay connections (processes gone for FLEET_TTL drop out)."""
    processes = list(cache.get("fleet:processes") or ())
    found = cache.get_many([f"fleet:{p}" for p in processes]) if processes else {}
    alive = [p for p in processes if f"fleet:{p}" in found]
    if len(alive) != len(processes):
        cache.set("fleet:processes", alive, None)
    rows = [row for p in alive for row in found[f"fleet:{p}"]]
    return sorted(rows, key=lambda r: r.get("connected_since") or "")
