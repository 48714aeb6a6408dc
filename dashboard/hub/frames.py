"""What the hub writes to stream clients, built once for all of them: an event's frame
(its public projection) and the timestamps frames carry."""

from __future__ import annotations

import json

from dashboard import public


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def stream_text(msg: dict) -> str | None:
    """The frame token streams get for one event, live and replayed alike: its public
    projection (`dashboard.public`); None when it has none, and then no token stream
    gets it. Built once per event, for every connection."""
    data = public.project(msg["kind"], msg["data"])
    if data is None:
        return None
    return json.dumps(
        {
            "type": "event",
            "seq": msg["seq"],
            "kind": msg["kind"],
            "at": msg["at"],
            "data": data,
        },
        separators=(",", ":"),
    )
