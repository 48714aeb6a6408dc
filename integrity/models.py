from __future__ import annotations

from django.db import models


class IntegrityRun(models.Model):
    """One stored run of the integrity report (the scheduled task writes these)."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    failed_checks = models.PositiveIntegerField(default=0)
    report = models.JSONField()

    class Meta:
        permissions = [
            ("run_report", "Can run the integrity report"),
        ]
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(finished_at__gte=models.F("started_at")),
                name="integrity_integrityrun_finished_after_start",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"integrity run {self.started_at:%Y-%m-%d %H:%M:%S} ({'ok' if self.ok else 'failed'})"
        )
