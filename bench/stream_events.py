"""How the live benchmark's clients read the stream's event messages, fast.

Every connection of a client process receives the same bytes, so an event is read once
per process: its seq and transfer id are found with bytes.find (the hub writes events as
compact JSON, `dashboard.hub.stream_text`), and the message (or the whole chunk, when it
is one frame) is remembered in SEEN, where the next connections find it with one dict
lookup. One in CHECK_EVERY of the events read is parsed with json.loads as well (the
first included), and a disagreement fails the run (MismatchError). Hello, pings and
anything not in the expected layout go to json.loads. `wsclient.Connection` uses it.
"""

from __future__ import annotations

import json

CHECK_EVERY = 256  # events read by bytes.find per one checked with json.loads
EVENT_HEAD = b'{"type":"event","seq":'
TRANSFER_KIND = b',"kind":"ledger.transfer_posted",'
TRANSFER_ID = b'"transfer_id":'


class MismatchError(Exception):
    """bytes.find and json.loads read an event differently: the fast path is wrong."""


def read_event(p: bytes) -> tuple[int, int | None] | None:
    """(seq, transfer id or None for other kinds) of a compact event message, read with
    bytes.find; None if `p` is not one (then json.loads decides)."""
    if not p.startswith(EVENT_HEAD):
        return None
    comma = p.find(b",", 22)
    try:
        seq = int(p[22:comma])
        if not p.startswith(TRANSFER_KIND, comma):
            return seq, None
        start = p.find(TRANSFER_ID, comma + 32) + 14
        if start == 13:
            return None
        end = p.find(b",", start)
        brace = p.find(b"}", start)  # transfer_id may be the last key of `data`
        if end < 0 or 0 <= brace < end:
            end = brace
        return seq, int(p[start:end])
    except ValueError:
        return None  # not the expected layout: json.loads reads it


SEEN: dict[bytes, tuple[int, int]] = {}  # event (or its frame) -> (seq, transfer id)
SEEN_MAX = 100_000
_learned = 0


def remember(key: bytes, event: tuple[int, int]) -> None:
    if len(SEEN) >= SEEN_MAX:
        SEEN.clear()
    SEEN[key] = event


def learned(p: bytes, event: tuple[int, int]) -> None:
    """`p` read as `event` by read_event: remember it, and check a sample with json.loads."""
    global _learned
    if not _learned % CHECK_EVERY:
        expected = parse_json_event(json.loads(p))
        if expected != event:
            raise MismatchError(f"read {event} but json.loads reads {expected} in {p[:300]!r}")
    _learned += 1
    remember(p, event)


def parse_json_event(msg) -> tuple[int, int | None] | None:
    """(seq, transfer id or None for other kinds) of a parsed event message, else None."""
    if not isinstance(msg, dict) or msg.get("type") != "event":
        return None
    if msg.get("kind") != "ledger.transfer_posted":
        return msg["seq"], None
    return msg["seq"], msg["data"]["transfer_id"]


def reset() -> None:
    """Forget every event read (SEEN) and restart the json.loads sample with the next."""
    global _learned
    SEEN.clear()
    _learned = 0
