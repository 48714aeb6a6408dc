"""What an overlay's URL may ask for besides its token (OBS browser sources take the
options in the URL): `rows` (lines shown: leaderboard rows, tournament players; 1-25),
`theme` (`dark` panels, `light` panels, or `clear`: text on the game itself), `accent` (a
`#rrggbb` or `#rgb` colour for highlights) and, for the ticker, `kinds` (comma-separated
event kinds among those it shows). A value it cannot use is refused with a 400 naming the
option, so a typo shows in OBS's preview at once instead of being quietly ignored."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dashboard.scopes import TICKER_KINDS

THEMES = ("dark", "light", "clear")
ROWS_MAX = 25
ACCENT = re.compile(r"\A#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})\Z")


class BadOption(ValueError):
    """An overlay option the page cannot use (the message says which and why)."""


@dataclass(frozen=True)
class Options:
    rows: int | None = None  # None: the page's own number
    theme: str = "dark"
    accent: str = ""
    kinds: tuple[str, ...] = ()


def parse(query, page: str) -> Options:
    """The options in `query` (a QueryDict) for overlay `page`; raises BadOption."""
    rows = query.get("rows", "").strip()
    if rows and not (rows.isascii() and rows.isdigit() and 1 <= int(rows) <= ROWS_MAX):
        raise BadOption(f"rows is a whole number from 1 to {ROWS_MAX}, not {rows[:20]!r}")
    theme = query.get("theme", "dark").strip()
    if theme not in THEMES:
        raise BadOption(f"theme is one of {', '.join(THEMES)}, not {theme[:20]!r}")
    accent = query.get("accent", "").strip()
    if accent and not ACCENT.match(accent):
        raise BadOption(f"accent is a colour like #ff8800, not {accent[:20]!r}")
    kinds = tuple(k.strip() for k in query.get("kinds", "").split(",") if k.strip())
    unknown = sorted(set(kinds) - TICKER_KINDS)
    if unknown:
        raise BadOption(
            f"kinds are among {', '.join(sorted(TICKER_KINDS))}; not {', '.join(unknown)[:80]}"
        )
    if kinds and page != "ticker":
        raise BadOption("kinds is an option of the ticker")
    return Options(
        rows=int(rows) if rows else None, theme=theme, accent=accent.lower(), kinds=kinds
    )
