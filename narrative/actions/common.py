"""Small helpers every narrative action uses."""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from config import db
from narrative.exceptions import InvalidRequest


def pk_of(obj, what: str) -> int:
    """The primary key of `obj`, a saved model instance or an id (`what` names it)."""
    return db.pk_of(obj, what, InvalidRequest)


def db_time(moment: datetime):
    """`moment` as a parameter of hand-written SQL (SQLite stores text)."""
    return connection.ops.adapt_datetimefield_value(moment)
