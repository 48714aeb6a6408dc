"""Text that leaves Concord for a terminal or a spreadsheet is data, never instructions.

Names, usernames, labels and sheet cells are written by people outside the operator's
control, and two programs an operator trusts act on text: a terminal runs escape and
control sequences (ESC, CSI, OSC 8 hyperlinks; bidi overrides reorder what is shown) and
rich reads `[...]` as markup (a stray `[/bold]` raises `MarkupError`, `[link=...]` makes a
hyperlink); a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula
(`=HYPERLINK(...)`, DDE). Every command prints a value through `printable` (plain
output) or `rich_literal` (rich output: a `Text`, never markup), and every CSV is written
through `csv_writer`: one rule each, kept here so a new command cannot forget half of it.
"""

from __future__ import annotations

import csv
import unicodedata
from collections.abc import Iterable

from rich.text import Text

# Removed from printed values: controls (C0, DEL, C1: Cc), format characters (bidi
# overrides and isolates, zero-width joiners and spaces, the BOM: Cf), lone surrogates
# (Cs: they cannot even be encoded) and the Unicode line and paragraph separators (Zl,
# Zp: some terminals break lines on them).
UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def printable(value: object, *, newlines: bool = False) -> str:
    """`value` as text a terminal only displays: tabs become spaces, newlines too unless
    `newlines` (a value printed on one line must not forge the next one), every other
    unprintable character (`UNPRINTABLE`) is dropped. Letters, marks, symbols and emoji
    of every script are kept."""
    text = value if isinstance(value, str) else str(value)
    if text.isprintable():  # the common case; isprintable() is False for all we drop
        return text
    kept = []
    for char in text:
        if char == "\t" or (char == "\n" and not newlines):
            kept.append(" ")
        elif char == "\n" or unicodedata.category(char) not in UNPRINTABLE:
            kept.append(char)
    return "".join(kept)


def rich_literal(value: object, limit: int | None = None) -> Text:
    """`printable(value)` (cut to `limit` characters with an ellipsis) as a rich `Text`:
    rich prints a Text as the very characters it holds, with no markup or emoji codes.
    (`rich.markup.escape` inside a markup string would do for brackets, but it cannot
    round-trip a value ending in a backslash; a Text needs no escaping at all.) Put it
    in table cells, or `Text.assemble` it with the command's own words."""
    text = printable(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return Text(text)


def spreadsheet_cell(value):
    """OWASP's rule for CSV injection: a text cell starting with `= + - @`, TAB or CR gets
    a leading `'`, so spreadsheets show it as text instead of running it. Numbers Concord
    writes itself (`int`, `float`, `Decimal`) are left as they are: a negative number is
    a number to a spreadsheet, not a formula, and stays sortable."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


class SafeWriter:
    """A `csv.writer` whose every cell goes through `spreadsheet_cell`."""

    def __init__(self, stream, **kwargs):
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable):
        return self._writer.writerow([spreadsheet_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream, **kwargs) -> SafeWriter:
    """The CSV writer for every file Concord writes for people to open."""
    return SafeWriter(stream, **kwargs)
