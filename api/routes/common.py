"""What every route module uses: looking rows up as 404 problems, cursors."""

from __future__ import annotations

from django.db import models

from api.problems import Problem
from api.schemas import ID_MAX


def get_or_404(queryset: models.QuerySet, pk: int, what: str):
    found = queryset.filter(pk=pk).first() if 1 <= pk <= ID_MAX else None
    if found is None:
        raise Problem(404, f"{what}_not_found", f"no {what} {pk}")
    return found


def parse_cursor(cursor: str | None) -> int | None:
    """A cursor is the opaque string a page's `next_cursor` gave (a positive integer)."""
    if cursor is None:
        return None
    if not cursor.isascii() or not cursor.isdigit() or not 1 <= len(cursor) <= 18:
        raise Problem(400, "invalid_cursor", "pass a next_cursor a previous page returned")
    return int(cursor)
