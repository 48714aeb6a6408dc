"""API keys as this process last read them, so a request needs no query for its key.

Every change to a key (`revoke_key`, `rotate_key`: `api.actions.keys`) replaces one value
in the shared cache, the keys' *generation* (`GENERATION`, a random string), at once and
again when the change commits. A process keeps each key's row with the generation it
read *before* reading the row, and uses its copy only while the generation is still that
one; else it reads the row again. The generation is read in the rate limit's round
trip (`api.ratelimit.count(also_get=...)`, one script), so a request whose key is
cached makes no extra round trip, and no query. A revoked key is therefore refused by
every process on the first request after `revoke_key` returns
(tests/api/test_key_cache.py, with two uWSGI or gunicorn workers and the revocation in
a third process).

Only when the cache is Redis (one for every process): on local memory (the embedded
defaults) another process (`manage.py api_key revoke`) could not reach this process's
copy, so there every request reads its key, as before. If Redis is unreachable, the
generation cannot be read and every request reads its key. A copy is also dropped after
`API_KEY_CACHE_SECONDS` (0: never cache): the bound, should a generation change be lost
(Redis unreachable while a key was revoked, then back).

What a copy holds is checked on every request as on a fresh row: the secret's hash, the
expiry against the clock, the scope. `last_used_at` is written at most once a minute per
key and process (`api.actions.mark_used` on the copy)."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from api.models import ApiKey
from api.ratelimit import shared_client

logger = logging.getLogger(__name__)

GENERATION = "api:keys:generation"


@dataclass(frozen=True)
class Entry:
    generation: bytes
    key: ApiKey
    read_at: float  # time.monotonic()


class KeyCache:
    """prefix -> `Entry`, in one process (threads share it)."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def get(self, prefix: str) -> Entry | None:
        entry = self._entries.get(prefix)
        if entry is None or time.monotonic() - entry.read_at >= settings.API_KEY_CACHE_SECONDS:
            return None
        return entry

    def put(self, prefix: str, generation: bytes, key: ApiKey) -> None:
        self._entries[prefix] = Entry(generation, key, time.monotonic())

    def clear(self) -> None:
        self._entries.clear()


# This process's copies.
keys = KeyCache()


def enabled() -> bool:
    return settings.API_KEY_CACHE_SECONDS > 0 and shared_client() is not None


def generation() -> bytes | None:
    """The keys' current generation (made if there is none yet); None if Redis is
    unreachable (then nothing may be cached)."""
    backend = shared_client()
    if backend is None:
        return None
    try:
        client, name = backend.get_client(write=True), backend.make_key(GENERATION)
        value = client.get(name)
        if value is None:
            client.set(name, uuid.uuid4().hex, nx=True)
            value = client.get(name)
        return value
    except Exception:
        logger.warning("api keys: cache unreachable; keys read from the database", exc_info=True)
        return None


def _bump() -> None:
    backend = shared_client()
    if backend is None:
        return
    try:
        backend.get_client(write=True).set(backend.make_key(GENERATION), uuid.uuid4().hex)
    except Exception:
        logger.error(
            "api keys: could not renew the keys' generation; processes may use a key's"
            " old row for up to API_KEY_CACHE_SECONDS (%s s)",
            settings.API_KEY_CACHE_SECONDS,
            exc_info=True,
        )


def changed() -> None:
    """A key is being changed in the current transaction: every process's copies are
    stale now, and again once it commits (a process that read the row between the two
    read the old one under the first new generation)."""
    _bump()
    transaction.on_commit(_bump)
