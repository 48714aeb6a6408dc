"""`manage.py overlay_token create --scope SCOPE [--label L] | list | revoke TOKEN`.

Labels are typed by staff in the dashboard too: every value is printed through
`config.text.printable` (no control or bidi characters reach the terminal)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError

from config.commands import ConcordCommand
from config.text import printable
from dashboard import actions
from dashboard.exceptions import DashboardError
from dashboard.models import OverlayToken


class Command(ConcordCommand):
    help = "Create, list and revoke overlay tokens (signed, read-only stream links)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="create|list|revoke")
        create = sub.add_parser("create", help="create a token and print its overlay URL")
        create.add_argument(
            "--scope",
            required=True,
            help="events, ticker, leaderboard:<currency> or tournament:<id>",
        )
        create.add_argument("--label", default="", help="a name to recognise it by")
        listing = sub.add_parser("list", help="list tokens")
        listing.add_argument("--all", action="store_true", help="include revoked tokens")
        revoke = sub.add_parser("revoke", help="revoke a token (closes its overlays)")
        revoke.add_argument("token", help="the token, or at least 6 characters of its key")

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['action']}")(options)
        except DashboardError as exc:
            raise CommandError(str(exc)) from None

    def _create(self, options):
        token = actions.create_token(options["scope"], label=options["label"])
        site = settings.CONCORD_SITE_URL.rstrip("/")
        self.stdout.write(printable(f"url:   {site}{token.path}"))
        self.stdout.write(printable(f"token: {token.token}"))
        self.stdout.write(printable(f"scope: {token.scope}"))

    def _list(self, options):
        tokens = OverlayToken.objects.all()
        if not options["all"]:
            tokens = tokens.filter(revoked_at__isnull=True)
        rows = list(tokens)
        if not rows:
            self.stdout.write("no tokens")
            return
        for token in rows:
            state = "active" if token.active else f"revoked {token.revoked_at:%Y-%m-%d %H:%M}"
            self.stdout.write(
                printable(
                    f"{token.key:<24} {token.scope:<24} {state:<26} {token.label or '-'}"
                    f"  {token.token}"
                )
            )

    def _revoke(self, options):
        token = actions.revoke(actions.find(options["token"]))
        self.stdout.write(
            printable(f"revoked {token.key} ({token.scope}); its overlays are being closed")
        )
