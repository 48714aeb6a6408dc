"""Errors of the operations app (backups, restores, drills)."""

from __future__ import annotations

from config.errors import Refusal


class OpsError(Refusal):
    """Base class for the operations app's errors."""


class BackupFailed(OpsError):
    """The backup could not be written (the tool failed, the folder is not writable)."""


class NoBackup(OpsError):
    """There is no backup to restore (or the file named does not exist)."""


class ChecksumMismatch(OpsError):
    """The backup's contents do not match the checksum written with it."""


class UnsafeTarget(OpsError):
    """The restore target is the live database, or one that is not empty."""


class RestoreFailed(OpsError):
    """The restore tool failed on the backup."""


class ScratchUnusable(OpsError):
    """The source of a selective restore is the live database, missing, of the other
    backend, or not a Concord database."""


class MemberNotInBackup(OpsError):
    """The member to restore is not in the restored copy."""


class NoFreshBackup(OpsError):
    """`restore_member --apply` could not take the backup it takes before any write."""
