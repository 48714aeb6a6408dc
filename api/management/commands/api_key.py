"""`manage.py api_key create --label L --scope S [--scope S ...] [--expires-in 90d]`,
`api_key list [--all]`, `api_key revoke PREFIX`, `api_key rotate PREFIX [--grace 24h]`.

`create` and `rotate` print the new key once: only its hash is stored."""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.management.base import CommandError
from django.utils import timezone

from api import actions
from api.exceptions import ApiError
from api.models import SCOPES, ApiKey
from config.commands import ConcordCommand
from config.text import printable

DURATION = re.compile(r"\A([1-9][0-9]{0,5})([mhdw])\Z")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def duration(text: str) -> timedelta:
    """`90d`, `12h`, `30m`, `2w`."""
    match = DURATION.match(text.strip())
    if match is None:
        raise CommandError(f"{text!r} is not a duration (use e.g. 90d, 12h, 30m, 2w)")
    try:
        return timedelta(**{UNITS[match[2]]: int(match[1])})
    except OverflowError:
        raise CommandError(f"{text!r} is too long a duration") from None


class Command(ConcordCommand):
    help = "Create, list, revoke and rotate Bot API keys."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(
            dest="action", required=True, metavar="create|list|revoke|rotate"
        )
        create = sub.add_parser("create", help="create a key and print it (once)")
        create.add_argument("--label", required=True, help="who uses it, e.g. 'tarot bot'")
        create.add_argument(
            "--scope",
            action="append",
            required=True,
            choices=SCOPES,
            metavar="SCOPE",
            help=f"repeat for several: {', '.join(SCOPES)}",
        )
        create.add_argument("--expires-in", help="e.g. 90d, 12h, 2w (default: never)")
        listing = sub.add_parser("list", help="list keys (prefixes, never secrets)")
        listing.add_argument("--all", action="store_true", help="include revoked and expired")
        revoke = sub.add_parser("revoke", help="refuse a key from now on")
        revoke.add_argument("prefix")
        rotate = sub.add_parser("rotate", help="a new key; the old one works for a grace period")
        rotate.add_argument("prefix")
        rotate.add_argument("--grace", help="how long the old key keeps working (default 24h)")

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['action']}")(options)
        except ApiError as exc:
            raise CommandError(str(exc)) from None

    def _print_issued(self, issued: actions.IssuedKey) -> None:
        key = issued.key
        expires = f"{key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else "never"
        self.stdout.write(f"key:     {issued.token}")
        self.stdout.write(printable(f"prefix:  {key.prefix}"))
        self.stdout.write(printable(f"label:   {key.label}"))
        self.stdout.write(f"scopes:  {' '.join(key.scopes)}")
        self.stdout.write(f"expires: {expires}")
        self.stdout.write("Store the key now: it is not shown again.")

    def _create(self, options):
        expires_at = None
        if options["expires_in"]:
            expires_at = timezone.now() + duration(options["expires_in"])
        self._print_issued(
            actions.create_key(
                label=options["label"], scopes=options["scope"], expires_at=expires_at
            )
        )

    def _list(self, options):
        now = timezone.now()
        keys = [
            key for key in ApiKey.objects.all() if options["all"] or actions.is_active(key, now)
        ]
        if not keys:
            self.stdout.write("no keys")
            return
        for key in keys:
            state = "active" if actions.is_active(key, now) else "revoked"
            if key.revoked_at is None and not actions.is_active(key, now):
                state = "expired"
            expires = f"{key.expires_at:%Y-%m-%d %H:%M}" if key.expires_at else "never"
            used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
            self.stdout.write(
                printable(
                    f"{key.prefix}  {state:<8} expires {expires:<16} used {used:<16}"
                    f" {','.join(key.scopes)}  {key.label}"
                )
            )

    def _revoke(self, options):
        key = actions.revoke_key(options["prefix"])
        self.stdout.write(printable(f"revoked {key.prefix} ({key.label})"))

    def _rotate(self, options):
        grace = duration(options["grace"]) if options["grace"] else None
        issued = actions.rotate_key(options["prefix"], grace=grace)
        old = ApiKey.objects.get(prefix=options["prefix"].strip())
        self._print_issued(issued)
        self.stdout.write(
            printable(f"old key {old.prefix} works until {old.expires_at:%Y-%m-%d %H:%M} UTC")
        )
