"""`manage.py integrity_report`: exit 0 clean, 1 violations found, 2 could not run.

A run of every check is kept (`IntegrityRun`, shown on the dashboard) unless `--no-store`.

The exit code comes from the report, never from the printing: samples and error messages
can quote stored data, so they are printed as plain text (`config.text.rich_literal`)
and a report that cannot be printed is one line on stderr."""

from __future__ import annotations

import json
import sys

from django.core.management.base import CommandError
from django.db import DatabaseError, connection
from rich.console import Console
from rich.table import Table

from config.commands import ConcordCommand
from config.text import printable, rich_literal
from integrity.actions import run_report
from integrity.registry import all_checks
from integrity.runner import Report, UnknownCheck

STYLE = {"ok": "green", "failed": "bold red", "error": "bold yellow"}


class Command(ConcordCommand):
    help = "Run the integrity checks and report violations."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument(
            "--check",
            action="append",
            dest="checks",
            metavar="NAME",
            help="Run only this check (repeatable). --list shows the names.",
        )
        parser.add_argument("--list", action="store_true", help="List the checks and exit.")
        parser.add_argument(
            "--no-store",
            action="store_true",
            help="Do not keep the run (a run of every check is kept by default: the"
            " dashboard's integrity tile and page show it). Runs of --check are never kept.",
        )

    def handle(self, *args, format: str, checks: list[str] | None, list: bool, **options):
        store = not options["no_store"]
        if list:
            for check in all_checks():
                self.stdout.write(f"{printable(check.name)}\t{printable(check.description)}")
            return
        try:
            connection.ensure_connection()
        except DatabaseError as exc:
            raise CommandError(f"could not run: {exc}".splitlines()[0], returncode=2) from None
        try:
            report, _ = run_report(checks, store=store)
        except UnknownCheck as exc:
            raise CommandError(f"{exc} (see --list)", returncode=2) from None
        except DatabaseError as exc:
            raise CommandError(f"could not run: {exc}".splitlines()[0], returncode=2) from None
        if format == "json":  # json.dumps escapes every control and non-ASCII character
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.show(lambda console: self.render_text(console, report))
        if report.exit_code:
            sys.exit(report.exit_code)

    def render_text(self, console: Console, report: Report) -> None:
        table = Table(title="Concord integrity report", title_justify="left")
        table.add_column("check")
        table.add_column("status")
        table.add_column("violations", justify="right")
        table.add_column("sample")
        table.add_column("ms", justify="right")
        for result in report.checks:
            table.add_row(
                rich_literal(result.name),
                f"[{STYLE[result.status]}]{result.status}[/]",
                str(result.violations),
                rich_literal(result.error or ", ".join(map(str, result.sample))),
                f"{result.duration_ms:.1f}",
            )
        console.print(table)
        console.print("[green]all checks passed[/]" if report.ok else "[bold red]NOT CLEAN[/]")
