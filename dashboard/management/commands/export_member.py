"""`manage.py export_member ID [--output FILE]`: everything Concord holds about one member,
as JSON (dashboard/export.py says what is in it), for a subject-access request. The file
is written readable by its owner only (it holds personal data)."""

from __future__ import annotations

import json
import os

from django.core.management.base import CommandError

from accounts.models import Member
from config.commands import ConcordCommand
from dashboard.export import member_export


class Command(ConcordCommand):
    help = "Write everything Concord holds about a member as JSON (stdout or --output)."

    def add_arguments(self, parser):
        parser.add_argument("member_id", help="the member's id")
        parser.add_argument("--output", "-o", help="write to this file instead of stdout")

    def handle(self, *args, **options):
        raw = options["member_id"].strip().removeprefix("#")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise CommandError(f"member id must be a number, not {options['member_id']!r}")
        member = Member.objects.filter(pk=int(raw)).first()
        if member is None:
            raise CommandError(f"no member with id {raw}")
        text = json.dumps(member_export(member), indent=2, ensure_ascii=False) + "\n"
        if not options["output"]:
            self.stdout.write(text, ending="")
            return
        try:
            descriptor = os.open(options["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                out.write(text)
        except OSError as exc:
            raise CommandError(f"cannot write {options['output']}: {exc.strerror}") from None
