"""`manage.py prune_webhook_deliveries [--older-than 30d]`: delete webhook deliveries
delivered longer ago than the age (default WEBHOOK_DELIVERY_RETENTION), with their
attempts; pending and failed ones are kept. Beat runs the same daily. Prints what went."""

from __future__ import annotations

from argparse import ArgumentTypeError

from django.conf import settings

from api import actions
from config.commands import ConcordCommand
from config.schedules import parse_age


def age(text: str):
    try:
        return parse_age(text)
    except ValueError as exc:
        raise ArgumentTypeError(str(exc)) from None


def _days(retention) -> str:
    hours = int(retention.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


class Command(ConcordCommand):
    help = "Delete delivered webhook deliveries (and their attempts) older than an age."

    def add_arguments(self, parser):
        default = _days(settings.WEBHOOK_DELIVERY_RETENTION)
        parser.add_argument(
            "--older-than",
            type=age,
            default=default,
            help=f"age: 30d, 4w, 12h (default {default}, WEBHOOK_DELIVERY_RETENTION)",
        )

    def handle(self, *args, **options):
        pruned = actions.prune_deliveries(options["older_than"])
        self.stdout.write(
            f"pruned {pruned.deliveries} delivered deliveries and {pruned.attempts} attempts"
            f" of {pruned.endpoints} webhook(s), delivered over {_days(options['older_than'])} ago"
        )
