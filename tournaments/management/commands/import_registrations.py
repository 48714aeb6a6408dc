"""`manage.py import_registrations TOURNAMENT FILE.csv [--dry-run] [--skip-invalid]`.

Exit 0: imported (or a clean dry run); 1: rows were rejected and nothing was imported
(or a dry run found rejected rows); 2: could not run (bad arguments, unreadable file,
tournament missing or not taking registrations, database unreachable)."""

from __future__ import annotations

import csv
import sys

from django.core.management.base import CommandError
from django.db import DatabaseError, connection
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from config.commands import ConcordCommand
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


def short(text: str, limit: int = 24) -> str:
    """A cell's text cut to `limit` characters (the --report file has it whole)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        self.render(result, file)
        if options["verbosity"] >= 2:
            self.stdout.write(
                "stages: "
                + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result.stages.items())
            )
        if report:
            self.write_report(result, report)
        if result.rejected and not (skip_invalid or result.applied):
            sys.exit(1)

    def progress(self, rows: int):
        if rows < self.PROGRESS_FROM:
            return _Quiet()
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(file=self.stderr, width=100),
            transient=True,
        )
        return _Bar(bar)

    def render(self, result: imports.Report, file: str) -> None:
        console = Console(file=self.stdout, width=120, highlight=False)
        console.print(
            f"Import into tournament {result.tournament_id} ({result.tournament_name})"
            f" from {file}: {len(result.rows)} rows"
        )
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
        console.print(table)
        already = result.where(imports.ALREADY)
        if already:
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
                detail.add_row(str(row.line), row.platform, short(row.external_id), row.reason)
            console.print(detail)
        rejected = result.where(imports.REJECTED)
        if rejected:
            bad = Table(title="Rejected rows", title_justify="left")
            for column in ("line", "platform", "external id", "email", "reason"):
                bad.add_column(column, justify="right" if column == "line" else "left")
            for row in rejected:
                bad.add_row(
                    str(row.line),
                    row.platform[:16],
                    short(row.external_id),
                    short(row.email),
                    row.reason,
                )
            console.print(bad)
        counts = result.counts
        if result.applied:
            console.print(
                f"[green]imported[/] in {result.seconds:.1f} s:"
                f" {counts[imports.REGISTERED]} registered, {counts[imports.WAITLISTED]} waitlisted"
                + (f", {len(rejected)} rejected rows skipped" if rejected else "")
            )
        elif result.dry_run:
            console.print(
                "dry run: nothing was written"
                + (
                    f"; {len(rejected)} rows would be rejected"
                    + ("" if result.skip_invalid else " and nothing imported (--skip-invalid)")
                    if rejected
                    else ""
                )
            )
        else:
            console.print(
                f"[bold red]nothing imported[/]: {len(rejected)} rows rejected"
                " (fix them, or use --skip-invalid to import the rest)"
            )

    def write_report(self, result: imports.Report, path: str) -> None:
        try:
            with open(path, "w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
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
            raise CommandError(
                f"cannot write {path}: {exc.strerror or exc}", returncode=2
            ) from None


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
