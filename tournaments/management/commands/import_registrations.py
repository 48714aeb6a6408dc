"""`manage.py import_registrations TOURNAMENT FILE.csv [--dry-run] [--skip-invalid]
[--report OUT.csv]`.

Exit 0: imported (or a clean dry run); 1: rows were rejected and nothing was imported
(or a dry run found rejected rows); 2: could not run (bad arguments, unreadable file,
unwritable report, tournament missing or not taking registrations, database unreachable).

The exit code is decided by what the import did to the database, never by the printing:
the report file is checked before the import and written right after it, then the
summary is rendered; a summary that cannot be printed (a closed pipe) is one line on
stderr. Every cell of the sheet is data: printed through `config.text.rich_literal`,
written to the report through `config.text.csv_writer` (no formulas).
"""

from __future__ import annotations

import os
import sys

from django.core.management.base import CommandError
from django.db import DatabaseError, connection
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from config.commands import ConcordCommand
from config.text import csv_writer, rich_literal
from tournaments import imports
from tournaments.exceptions import TournamentsError

STYLE = {
    imports.REGISTERED: "green",
    imports.WAITLISTED: "cyan",
    imports.ALREADY: "yellow",
    imports.REJECTED: "bold red",
}
MAX_RANGES = 12  # line ranges shown per outcome in the summary (--report has them all)


def line_ranges(lines: list[int], limit: int = MAX_RANGES) -> str:
    """[2, 3, 4, 7, 9, 10] -> '2-4, 7, 9-10' (the first `limit` ranges, then how many more)."""
    ranges: list[list[int]] = []
    for line in sorted(lines):
        if ranges and line == ranges[-1][1] + 1:
            ranges[-1][1] = line
        else:
            ranges.append([line, line])
    text = [f"{a}" if a == b else f"{a}-{b}" for a, b in ranges[:limit]]
    if len(ranges) > limit:
        text.append(f"… {len(ranges) - limit} more ranges")
    return ", ".join(text)


def short(text: str, limit: int = 24) -> Text:
    """A cell's text as printed: cut to `limit` characters (the --report file has it
    whole), as plain text (`config.text.rich_literal`)."""
    return rich_literal(text, limit=limit)


class BarProgress(imports.Progress):
    """rich's progress bar, one task per stage; shown only for large files."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.task = None

    def stage(self, label: str, total: int) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[-1].total)
        self.task = self.progress.add_task(label, total=max(total, 1))

    def advance(self, steps: int = 1) -> None:
        self.progress.advance(self.task, steps)


class Command(ConcordCommand):
    help = "Register the players of an organiser's CSV sheet in a tournament."
    PROGRESS_FROM = 500  # rows
    ALREADY_SHOWN = 50

    def add_arguments(self, parser):
        parser.add_argument("tournament", help="the tournament's id")
        parser.add_argument("file", help="CSV with columns platform, external id, username, email")
        parser.add_argument(
            "--dry-run", action="store_true", help="report what would happen; write nothing"
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="import the other rows when some are rejected (default: all or nothing)",
        )
        parser.add_argument(
            "--report", metavar="OUT.csv", help="also write every row's outcome to this CSV"
        )

    def handle(self, *args, tournament, file, dry_run, skip_invalid, report, **options):
        if not tournament.strip().isdigit() or int(tournament) < 1:
            raise CommandError(
                f"tournament must be an id (a whole number), not {tournament!r}", returncode=2
            )
        try:
            connection.ensure_connection()
        except DatabaseError as exc:
            raise CommandError(f"could not run: {exc}".splitlines()[0], returncode=2) from None
        if report:
            self.check_writable(report)
        try:
            rows = imports.read_sheet(file)
            with self.progress(len(rows)) as progress:
                result = imports.run(
                    int(tournament),
                    rows,
                    dry_run=dry_run,
                    skip_invalid=skip_invalid,
                    progress=progress,
                )
        except imports.ImportAborted as exc:
            raise CommandError(f"import aborted: {exc}", returncode=1) from None
        except TournamentsError as exc:
            raise CommandError(str(exc), returncode=2) from None
        # From here on the database holds what it will hold: the report and the exit
        # code say so whatever happens to the printing.
        unwritten = self.write_report(result, report) if report else None
        if result.applied:
            code, outcome = 0, "the import was written"
        else:
            code = 1 if result.rejected and not skip_invalid else 0
            outcome = "nothing was written"
        self.show(
            lambda console: self.render(console, result, file, verbose=options["verbosity"] >= 2),
            outcome=f" ({outcome})",
        )
        if unwritten:
            self.warn(f"cannot write {report}: {unwritten} ({outcome})")
        if code:
            sys.exit(code)

    def progress(self, rows: int):
        if rows < self.PROGRESS_FROM:
            return _Quiet()
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.status_console(),
            transient=True,
        )
        return _Bar(bar)

    def render(self, console: Console, result: imports.Report, file: str, verbose=False) -> None:
        console.print(
            Text.assemble(
                f"Import into tournament {result.tournament_id} (",
                rich_literal(result.tournament_name),
                ") from ",
                rich_literal(file),
                f": {len(result.rows)} rows",
            )
        )
        console.print(self.summary(result))
        already = result.where(imports.ALREADY)
        if already:
            console.print(self.already_table(already))
        rejected = result.where(imports.REJECTED)
        if rejected:
            console.print(self.rejected_table(rejected))
        console.print(self.closing_line(result, rejected))
        if verbose:  # one line, never wrapped: bench/tournaments.py reads it
            console.print(
                "stages: "
                + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result.stages.items()),
                soft_wrap=True,
            )

    def summary(self, result: imports.Report) -> Table:
        """Rows by outcome, then the players seated by how they were found."""
        table = Table()
        table.add_column("rows")
        table.add_column("count", justify="right")
        table.add_column("lines")
        for outcome in imports.OUTCOMES:
            lines = [row.line for row in result.where(outcome)]
            table.add_row(f"[{STYLE[outcome]}]{outcome}[/]", str(len(lines)), line_ranges(lines))
        table.add_section()
        seated = (imports.REGISTERED, imports.WAITLISTED)
        for found in (imports.CREATED, imports.BY_IDENTITY, imports.BY_EMAIL):
            lines = [r.line for r in result.rows if r.found == found and r.outcome in seated]
            label = f"player {found}" + ("" if result.applied else " (planned)")
            table.add_row(label, str(len(lines)), line_ranges(lines))
        return table

    def already_table(self, already: list[imports.Row]) -> Table:
        shown = already[: self.ALREADY_SHOWN]
        more = len(already) - len(shown)
        detail = Table(
            title="Already registered"
            + (f" (first {len(shown)}; --report lists all)" if more else ""),
            title_justify="left",
        )
        detail.add_column("line", justify="right")
        detail.add_column("platform")
        detail.add_column("external id")
        detail.add_column("reason")
        for row in shown:
            detail.add_row(
                str(row.line),
                rich_literal(row.platform),
                short(row.external_id),
                rich_literal(row.reason),
            )
        return detail

    def rejected_table(self, rejected: list[imports.Row]) -> Table:
        bad = Table(title="Rejected rows", title_justify="left")
        for column in ("line", "platform", "external id", "email", "reason"):
            bad.add_column(column, justify="right" if column == "line" else "left")
        for row in rejected:
            bad.add_row(
                str(row.line),
                short(row.platform, 16),
                short(row.external_id),
                short(row.email),
                rich_literal(row.reason),
            )
        return bad

    def closing_line(self, result: imports.Report, rejected: list[imports.Row]) -> str:
        """What was imported, or why nothing was."""
        counts = result.counts
        if result.applied:
            return (
                f"[green]imported[/] in {result.seconds:.1f} s:"
                f" {counts[imports.REGISTERED]} registered, {counts[imports.WAITLISTED]} waitlisted"
                + (f", {len(rejected)} rejected rows skipped" if rejected else "")
            )
        if result.dry_run:
            return "dry run: nothing was written" + (
                f"; {len(rejected)} rows would be rejected"
                + ("" if result.skip_invalid else " and nothing imported (--skip-invalid)")
                if rejected
                else ""
            )
        return (
            f"[bold red]nothing imported[/]: {len(rejected)} rows rejected"
            " (fix them, or use --skip-invalid to import the rest)"
        )

    def check_writable(self, path: str) -> None:
        """Refuse an unwritable --report before anything is imported (an existing file is
        left as it is until the report replaces it; one made for the check is removed)."""
        existed = os.path.lexists(path)
        try:
            with open(path, "a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise CommandError(
                f"cannot write {path}: {exc.strerror or exc}", returncode=2
            ) from None
        if not existed:
            os.remove(path)

    def write_report(self, result: imports.Report, path: str) -> str | None:
        """Every row's outcome, one CSV row each (cells neutralised for spreadsheets by
        `csv_writer`). Returns why it could not be written, if it could not (the import
        stands: `check_writable` made this unlikely, a full disk can still do it)."""
        try:
            with open(path, "w", newline="", encoding="utf-8") as out:
                writer = csv_writer(out)
                writer.writerow(
                    [
                        "line",
                        "platform",
                        "external_id",
                        "outcome",
                        "player",
                        "member_id",
                        "registration_id",
                        "waitlist_position",
                        "reason",
                    ]
                )
                for row in result.rows:
                    writer.writerow(
                        [
                            row.line,
                            row.platform,
                            row.external_id,
                            row.outcome,
                            row.found,
                            row.member_id or "",
                            row.registration_id or "",
                            row.position or "",
                            row.reason,
                        ]
                    )
        except OSError as exc:
            return str(exc.strerror or exc)
        return None


class _Quiet:
    def __enter__(self):
        return imports.Progress()

    def __exit__(self, *exc):
        return False


class _Bar:
    def __init__(self, bar: Progress):
        self.bar = bar

    def __enter__(self):
        self.bar.__enter__()
        return BarProgress(self.bar)

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)
