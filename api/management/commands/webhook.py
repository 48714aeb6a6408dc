"""`manage.py webhook create --key PREFIX --url URL [--scope S] [--kind K ...]` (prints
the secret once), `webhook list [--key PREFIX]`, `webhook enable ID`, `webhook disable
ID`, `webhook delete ID`, `webhook deliveries ID [--limit N]` (the delivery log),
`webhook redeliver DELIVERY_ID`. The same actions as /api/v1/webhooks and the dashboard."""

from __future__ import annotations

from argparse import ArgumentTypeError

from django.core.management.base import CommandError

from api import actions
from api.exceptions import ApiError
from api.models import ApiKey, WebhookDelivery, WebhookEndpoint
from config.commands import ConcordCommand
from config.text import printable


def positive(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= len(text) <= 18 or int(text) < 1:
        raise ArgumentTypeError(f"{text[:30]!r} is not an id (a positive whole number)")
    return int(text)


class Command(ConcordCommand):
    help = "Register, list, enable, disable and delete webhook endpoints; show and redeliver."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(
            dest="action",
            required=True,
            metavar="create|list|enable|disable|delete|deliveries|redeliver",
        )
        create = sub.add_parser("create", help="register an endpoint and print its secret (once)")
        create.add_argument("--key", required=True, help="the API key's prefix")
        create.add_argument("--url", required=True)
        create.add_argument("--scope", default="events", help="events, ticker, leaderboard:<c>, …")
        create.add_argument("--kind", action="append", default=[], help="repeat for several")
        listing = sub.add_parser("list", help="list endpoints (never secrets)")
        listing.add_argument("--key", help="only this key's (prefix)")
        for name in ("enable", "disable", "delete"):
            sub.add_parser(name, help=f"{name} an endpoint").add_argument("id", type=positive)
        log = sub.add_parser("deliveries", help="an endpoint's delivery log, newest first")
        log.add_argument("id", type=positive)
        log.add_argument("--limit", type=positive, default=20)
        again = sub.add_parser("redeliver", help="send a delivery again")
        again.add_argument("delivery_id", type=positive)

    def handle(self, *args, **options):
        try:
            getattr(self, f"_{options['action']}")(options)
        except ApiError as exc:
            raise CommandError(str(exc)) from None

    def _key(self, prefix: str) -> ApiKey:
        key = ApiKey.objects.filter(prefix=prefix.strip()).first()
        if key is None:
            raise CommandError(f"no key has prefix {prefix!r}")
        return key

    def _create(self, options):
        created = actions.create_endpoint(
            self._key(options["key"]),
            url=options["url"],
            scope=options["scope"],
            kinds=options["kind"],
        )
        endpoint = created.endpoint
        self.stdout.write(f"webhook: {endpoint.pk}")
        self.stdout.write(printable(f"url:     {endpoint.url}"))
        self.stdout.write(f"scope:   {endpoint.scope} {' '.join(endpoint.kinds) or '(every kind)'}")
        self.stdout.write(f"secret:  {created.secret}")
        self.stdout.write("Store the secret now: it is not shown again.")

    def _list(self, options):
        rows = WebhookEndpoint.objects.select_related("api_key").order_by("pk")
        if options["key"]:
            rows = rows.filter(api_key=self._key(options["key"]))
        if not rows.exists():
            self.stdout.write("no webhooks")
            return
        for e in rows:
            state = "enabled" if e.enabled else f"disabled ({e.disabled_reason})"
            pending = e.deliveries.filter(status=WebhookDelivery.PENDING).count()
            self.stdout.write(
                printable(
                    f"{e.pk}  {e.api_key.prefix}  {e.url}  {e.scope}"
                    f" {','.join(e.kinds) or '*'}  at #{e.position}  {pending} pending  {state}"
                )
            )

    def _endpoint(self, options) -> WebhookEndpoint:
        endpoint = WebhookEndpoint.objects.filter(pk=options["id"]).first()
        if endpoint is None:
            raise CommandError(f"no webhook {options['id']}")
        return endpoint

    def _enable(self, options):
        actions.update_endpoint(self._endpoint(options).pk, enabled=True)
        self.stdout.write(f"enabled webhook {options['id']}")

    def _disable(self, options):
        actions.update_endpoint(self._endpoint(options).pk, enabled=False)
        self.stdout.write(f"disabled webhook {options['id']}")

    def _delete(self, options):
        actions.delete_endpoint(self._endpoint(options).pk)
        self.stdout.write(f"deleted webhook {options['id']}")

    def _deliveries(self, options):
        endpoint = self._endpoint(options)
        rows = endpoint.deliveries.order_by("-seq").prefetch_related("attempt_log")
        found = list(rows[: options["limit"]])
        if not found:
            self.stdout.write("no deliveries")
        for d in found:
            self.stdout.write(f"{d.pk}  #{d.seq}  {d.kind}  {d.status}  {d.attempts} attempt(s)")
            for a in sorted(d.attempt_log.all(), key=lambda a: a.number):
                result = "ok" if a.ok else (a.error or "failed")
                self.stdout.write(
                    printable(
                        f"    {a.number}. {a.at:%Y-%m-%d %H:%M:%S} {a.status_code or '-'}"
                        f" {a.duration_ms} ms {result}"
                    )
                )

    def _redeliver(self, options):
        again = actions.redeliver(options["delivery_id"])
        self.stdout.write(f"delivery {again.pk} (#{again.seq}) is due again")
