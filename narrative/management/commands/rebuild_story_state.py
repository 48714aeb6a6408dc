"""`manage.py rebuild_story_state [--member ID ...] [--story SLUG] [--all]`: recompute
progress and relationship levels from the recorded decisions (the repair for what the
narrative integrity checks find)."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.db import DatabaseError

from accounts.models import Member
from config.commands import ConcordCommand
from narrative.actions import members_to_rebuild, rebuild_member_state
from narrative.exceptions import NarrativeError
from narrative.models import Decision, Progress, Relationship, Story


class Command(ConcordCommand):
    help = "Recompute members' story progress and relationships from their decisions."

    def add_arguments(self, parser):
        parser.add_argument("--member", type=int, action="append", default=[], help="Member id.")
        parser.add_argument("--story", help="Only this story (its slug).")
        parser.add_argument("--all", action="store_true", help="Every member who played.")

    def handle(self, *args, **options):
        try:
            self.rebuild(**options)
        except DatabaseError as error:
            reason = (str(error).strip().splitlines() or ["?"])[0]
            raise CommandError(f"cannot use the database: {reason}") from None

    def rebuild(self, *, member: list[int], story: str | None, all: bool, **options):
        found = None
        if story is not None:
            found = Story.objects.filter(slug=story).first()
            if found is None:
                raise CommandError(f"no story with slug {story!r}")
        if member and all:
            raise CommandError("give --member or --all, not both")
        if all:
            member = (
                members_to_rebuild(found)
                if found
                else sorted(
                    set(Decision.objects.values_list("member_id", flat=True))
                    | set(Progress.objects.values_list("member_id", flat=True))
                    | set(Relationship.objects.values_list("member_id", flat=True))
                )
            )
        elif not member:
            raise CommandError("name members with --member ID, or give --all")
        unknown = set(member) - set(
            Member.objects.filter(pk__in=member).values_list("pk", flat=True)
        )
        if unknown:
            raise CommandError(f"no member {', '.join(map(str, sorted(unknown)))}")
        progress = relationships = 0
        for member_id in member:
            try:
                done = rebuild_member_state(Member(pk=member_id), story=found)
            except NarrativeError as error:
                raise CommandError(f"member {member_id}: {error}") from error
            progress += done.progress_fixed
            relationships += done.relationships_fixed
        self.stdout.write(
            f"Rebuilt {len(member)} member(s): {progress} progress rows and"
            f" {relationships} relationships fixed."
        )
