"""What the relay tests share: events published the way the actions publish them."""

from __future__ import annotations

from django.db import transaction

import events


def publish(count: int, kind: str = "test.relayed") -> list[int]:
    seqs = []
    for n in range(count):
        with transaction.atomic():
            seqs.append(events.publish(kind, {"n": n}).seq)
    return seqs
