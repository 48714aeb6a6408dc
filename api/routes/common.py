"""What every route module uses: looking rows up as 404 problems, cursors."""

from __future__ import annotations

from django.db import models

from accounts.actions import note_activity
from api.problems import Problem
from api.schemas import ID_MAX


def get_or_404(queryset: models.QuerySet, pk: int, what: str):
    found = queryset.filter(pk=pk).first() if 1 <= pk <= ID_MAX else None
    if found is None:
        raise Problem(404, f"{what}_not_found", f"no {what} {pk}")
    return found


def acts(member_id: int) -> None:
    """The member a call is about acts now (a /start, a spend, a choice...): mark them
    active, at most one write a minute (`accounts.actions.note_activity`). Called before
    the call's transaction, so a busy member's calls never queue behind the mark, and a
    refused call still counts as the member's activity."""
    if 1 <= member_id <= ID_MAX:
        note_activity(member_id)


def parse_cursor(cursor: str | None) -> int | None:
    """A cursor is the opaque string a page's `next_cursor` gave (a positive integer)."""
    if cursor is None:
        return None
    if not cursor.isascii() or not cursor.isdigit() or not 1 <= len(cursor) <= 18:
        raise Problem(400, "invalid_cursor", "pass a next_cursor a previous page returned")
    return int(cursor)
