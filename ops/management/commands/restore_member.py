"""`manage.py restore_member MEMBER --from SOURCE [--apply]`: one member's rows in a
restored copy (SOURCE: the database `restore --into` made on PostgreSQL, a SQLite
backup file or restored copy on embedded defaults) against the live database, printed
as a report and repair plan. Writes nothing without `--apply`; with it, first a fresh
logical backup (refused if that fails), then the repairs `ops.selective` allows, through
actions, in one transaction. Exit 0: no differences (or repaired); 1: differences left
(a report) or refused (one line); 2: bad use."""

from __future__ import annotations

from django.core.management.base import CommandError

from config.commands import ConcordCommand
from config.errors import Refusal
from ops import backups, selective
from ops.actions import repair_member
from ops.exceptions import BackupFailed, NoFreshBackup, OpsError


class Command(ConcordCommand):
    help = "Compare one member's rows in a restored copy with live; repair with --apply."

    def add_arguments(self, parser):
        parser.add_argument("member", type=int, help="The member's id.")
        parser.add_argument(
            "--from",
            dest="source",
            required=True,
            help="The restored copy: a database name (PostgreSQL) or a SQLite file.",
        )
        parser.add_argument(
            "--apply",
            action="store_true",
            help="Take a fresh backup, then repair what can be repaired safely.",
        )

    def handle(self, *args, **options):
        try:
            found = selective.plan(options["member"], options["source"])
        except OpsError as exc:
            raise CommandError(str(exc), returncode=1) from None
        for line in selective.report(found):
            self.stdout.write(line)
        if not options["apply"]:
            if found.differences:
                raise SystemExit(1)
            return
        if not found.repairs:
            self.stdout.write("nothing --apply can repair")
            raise SystemExit(1 if found.by_hand else 0)
        try:
            fresh = _fresh_backup()
            done = repair_member(found)
        except Refusal as exc:
            raise CommandError(f"restore_member refused: {exc}", returncode=1) from None
        self.stdout.write(f"fresh backup: {fresh}")
        for line in done:
            self.stdout.write(f"repaired: {line}")
        if found.by_hand:
            raise SystemExit(1)


def _fresh_backup() -> str:
    try:
        return backups.backup().path
    except BackupFailed as exc:
        raise NoFreshBackup(f"--apply takes a backup first and it failed ({exc})") from None
