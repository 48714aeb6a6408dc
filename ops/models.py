"""Operations' records: alerts (one open row per alert key), backup runs, restore drills."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q


class Alert(models.Model):
    """One alert of one condition, from raised to resolved. At most one open row per
    key (`ops_alert_one_open_per_key`): evaluating a rule again while its condition holds
    finds that row and sends nothing; the condition clearing resolves it (one "resolved"
    message); a later failure opens a new row."""

    OPEN = "open"
    RESOLVED = "resolved"

    key = models.CharField(max_length=200)  # rule plus what failed: `integrity:<check>`
    rule = models.CharField(max_length=50)
    state = models.CharField(max_length=10, default=OPEN)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    raised_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    # Whether Apprise accepted the raised/resolved message (a failed send is retried by
    # the next evaluation).
    raised_sent = models.BooleanField(default=False)
    resolved_sent = models.BooleanField(default=False)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["open", "resolved"]), name="ops_alert_state_valid"
            ),
            # ops.alerts.evaluate finds the open row of a key through this index.
            models.UniqueConstraint(
                fields=["key"], condition=Q(state="open"), name="ops_alert_one_open_per_key"
            ),
            models.CheckConstraint(
                condition=(Q(resolved_at__isnull=True) & ~Q(state="resolved"))
                | Q(state="resolved", resolved_at__isnull=False, resolved_at__gte=F("raised_at")),
                name="ops_alert_resolved_iff_resolved_at",
            ),
            models.CheckConstraint(condition=~Q(key=""), name="ops_alert_key_not_blank"),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class BackupRun(models.Model):
    """One run of `manage.py backup`: the file it wrote, its size, checksum and time."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    kind = models.CharField(max_length=20)  # pg_dump, sqlite, pgbackrest
    path = models.CharField(max_length=500, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    ok = models.BooleanField()
    error = models.TextField(blank=True)
    # Rows per table at the backup's point (counted in the snapshot the backup copied):
    # what the restore drill compares the restored tables with.
    row_counts = models.JSONField(default=dict)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__gte=F("started_at")),
                name="ops_backuprun_finished_after_start",
            ),
            models.CheckConstraint(
                condition=Q(size_bytes__gte=0), name="ops_backuprun_size_not_negative"
            ),
            # A logical backup names its file and checksum; pgBackRest its backup label
            # (pgBackRest checksums every file in its repository itself).
            models.CheckConstraint(
                condition=Q(ok=False)
                | (~Q(path="") & (Q(kind="pgbackrest") | Q(sha256__regex=r"^[0-9a-f]{64}$"))),
                name="ops_backuprun_ok_has_file",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["pg_dump", "sqlite", "pgbackrest"]),
                name="ops_backuprun_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"backup {self.started_at:%Y-%m-%d %H:%M:%S} ({'ok' if self.ok else 'failed'})"

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


class DrillRun(models.Model):
    """One restore drill: which backup, where it was restored, what was found."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    backup = models.ForeignKey(BackupRun, null=True, blank=True, on_delete=models.SET_NULL)
    path = models.CharField(max_length=500, blank=True)
    ok = models.BooleanField()
    restore_seconds = models.FloatField(default=0)
    report = models.JSONField(default=dict)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__gte=F("started_at")),
                name="ops_drillrun_finished_after_start",
            ),
            models.CheckConstraint(
                condition=Q(ok=True, error="") | Q(ok=False) & ~Q(error=""),
                name="ops_drillrun_failure_has_error",
            ),
        ]

    def __str__(self) -> str:
        return f"drill {self.started_at:%Y-%m-%d %H:%M:%S} ({'ok' if self.ok else 'failed'})"


class Heartbeat(models.Model):
    """The last time a scheduled task ran (`beat`: `ops.tasks.heartbeat`, sent by Celery
    beat and run by a worker, so a stale row means one of them is silent)."""

    name = models.CharField(max_length=50, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"


class RateSample(models.Model):
    """A counter's total as one alert evaluation read it (`ops.rates`): the rate rules
    compare it with the samples of the last window. Older samples are deleted."""

    rule = models.CharField(max_length=50)
    at = models.DateTimeField()
    total = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["rule", "at"], name="ops_ratesample_rule_at")]
        constraints = [
            models.CheckConstraint(
                condition=Q(total__gte=0), name="ops_ratesample_total_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.total:g} at {self.at:%Y-%m-%d %H:%M:%S}"
