"""Stories: see docs/API.md."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["stories"])
