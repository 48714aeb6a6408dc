"""`manage.py check_alerts`: evaluate the alert rules once (what the beat task does), for
a cron job or systemd timer watching beat itself. Exit 0: nothing open; 1: alerts open;
2: a rule could not be evaluated."""

from __future__ import annotations

from config.commands import ConcordCommand
from ops.alerts import evaluate
from ops.models import Alert


class Command(ConcordCommand):
    help = "Evaluate the alert rules once; raise, resolve and send what changed."

    def handle(self, *args, **options):
        outcome = evaluate()
        for alert in outcome.raised:
            self.stdout.write(f"raised: {alert.key}: {alert.title}")
        for alert in outcome.resolved:
            self.stdout.write(f"resolved: {alert.key}")
        for rule, error in outcome.errors.items():
            self.stderr.write(f"check_alerts: rule {rule} could not be evaluated: {error}")
        still_open = Alert.objects.filter(state=Alert.OPEN).count()
        self.stdout.write(f"{still_open} alert(s) open")
        if outcome.errors:
            raise SystemExit(2)
        if still_open:
            raise SystemExit(1)
