"""Selective restore: one member's rows in a restored copy against the live database.

The copy is what `manage.py restore --into SCRATCH` made (a database on the live
PostgreSQL server) or, on embedded defaults, a SQLite backup file or restored copy. Both
sides are read with the same queries (`SECTIONS`), keyed per row; a difference is a row
only in the copy, only in live, or changed. `plan()` reads and never writes.

What `--apply` repairs (`Repair`, carried out by `ops.actions.repair_member` through
the owning apps' actions, in one transaction, after a fresh backup):
- the member's own fields (`accounts.actions.update_member`: display name, language,
  premium, active, e-mail);
- identities in the copy and not in live (`accounts.actions.link_identity`);
- each wallet's balance back to the copy's: one adjustment transfer of the difference
  (`ledger.actions.award` from issuance, or `spend` into `sink:restore`). Postings are
  never inserted or removed: the ledger is append-only, and the transfers since the
  backup stay in its history.
Everything else (profile, subscriptions, story progress, decisions, relationships,
tournament registrations, an identity only in live) is reported, not repaired: those
rows have rules and side effects (fees, waitlists, story state) that only their own
actions can weigh; the report says which action would."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.db import connection

from ops import backups
from ops.exceptions import MemberNotInBackup, ScratchUnusable

# section -> (query with one %s for the member id, how many leading columns are the key)
SECTIONS: dict[str, tuple[str, int]] = {
    "member": (
        "SELECT 'member', display_name, language, is_active, email"
        " FROM accounts_member WHERE id = %s",
        1,
    ),
    "identities": (
        "SELECT platform, external_id, username FROM accounts_identity WHERE member_id = %s",
        2,
    ),
    "profile": (
        "SELECT 'profile', archetype, preferences, welcomed, onboarding_completed,"
        " tutorial_completed FROM accounts_profile WHERE member_id = %s",
        1,
    ),
    "subscriptions": (
        "SELECT id, tier, status, starts_at, expires_at FROM accounts_subscription"
        " WHERE member_id = %s",
        1,
    ),
    "wallets": (
        "SELECT c.code, a.balance FROM ledger_account a"
        " JOIN ledger_currency c ON c.id = a.currency_id WHERE a.member_id = %s",
        1,
    ),
    "postings": (
        "SELECT p.id, t.id, t.kind, c.code, p.amount FROM ledger_posting p"
        " JOIN ledger_account a ON a.id = p.account_id"
        " JOIN ledger_currency c ON c.id = a.currency_id"
        " JOIN ledger_transfer t ON t.id = p.transfer_id WHERE a.member_id = %s",
        1,
    ),
    "story_progress": (
        "SELECT story_id, chapter_id, status FROM narrative_progress WHERE member_id = %s",
        1,
    ),
    "decisions": (
        "SELECT story_id, chapter_id, choice_id, reward FROM narrative_decision"
        " WHERE member_id = %s",
        2,
    ),
    "relationships": (
        "SELECT character_id, level FROM narrative_relationship WHERE member_id = %s",
        1,
    ),
    "registrations": (
        "SELECT id, tournament_id, status, waitlist_position FROM tournaments_registration"
        " WHERE member_id = %s",
        1,
    ),
}
MEMBER_FIELDS = ("display_name", "language", "is_active", "email")
# What a section's differences would need, when --apply does not repair them.
BY_HAND = {
    "profile": "the profile's own edit (report only)",
    "subscriptions": "accounts.actions.start_subscription / cancel_subscription (report only)",
    "postings": "append-only: the wallet's balance is what --apply repairs",
    "story_progress": "narrative's actions or rebuild_story_state (report only)",
    "decisions": "narrative.actions.make_choice (report only)",
    "relationships": "follows from decisions: rebuild_story_state (report only)",
    "registrations": "tournaments' actions: register, withdraw (report only)",
    "identities": "an identity only in live stays (report only)",
}

Rows = dict[tuple, tuple]


@dataclass(frozen=True)
class Difference:
    section: str
    key: tuple
    backup: tuple | None  # None: not in the copy
    live: tuple | None  # None: not in live

    def describe(self) -> str:
        key = ":".join(str(part) for part in self.key)
        if self.backup is None:
            return f"{self.section} {key}: only in live {list(self.live)}"
        if self.live is None:
            return f"{self.section} {key}: only in the backup {list(self.backup)}"
        return f"{self.section} {key}: backup {list(self.backup)}, live {list(self.live)}"


@dataclass(frozen=True)
class Repair:
    """One thing `--apply` does: `kind` is `member`, `identity` or `wallet`."""

    kind: str
    what: str  # one readable line
    args: dict


@dataclass
class Plan:
    member_id: int
    source: str
    differences: list[Difference] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)

    @property
    def by_hand(self) -> list[Difference]:
        repaired = {"member", "wallets", "postings"}
        return [
            d
            for d in self.differences
            if d.section not in repaired and not (d.section == "identities" and d.live is None)
        ]


# --- reading ------------------------------------------------------------------------------


def _value(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):  # one offset whatever the connection's time zone
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    return value


def read(cursor, member_id: int, style: str = "format") -> dict[str, Rows]:
    """Every section's rows of `member_id` through a DB-API cursor (`style` qmark for
    sqlite3's own connections)."""
    found = {}
    for section, (query, width) in SECTIONS.items():
        cursor.execute(query.replace("%s", "?") if style == "qmark" else query, [member_id])
        rows = [tuple(_value(v) for v in row) for row in cursor.fetchall()]
        found[section] = {row[:width]: row[width:] for row in rows}
    return found


def read_source(source: str, member_id: int) -> dict[str, Rows]:
    """The member's rows in the copy `source` (a database name or a SQLite file)."""
    if connection.vendor == "sqlite":
        return _read_sqlite(Path(source), member_id)
    if Path(source).suffix in {".sqlite3", ".dump"} or "/" in source:
        raise ScratchUnusable(
            f"{source}: on PostgreSQL give the database `restore --into` made, not a file"
        )
    if not re.fullmatch(r"[A-Za-z_][\w-]{0,62}", source):
        raise ScratchUnusable(f"{source!r} is not a database name")
    if source == connection.settings_dict["NAME"]:
        raise ScratchUnusable(f"{source} is the live database: give the restored copy")
    import psycopg

    try:
        with (
            psycopg.connect(**backups._connect_kwargs(source)) as conn,
            conn.cursor() as cursor,
        ):
            conn.read_only = True
            return read(cursor, member_id)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScratchUnusable(f"{source}: cannot read it: {first}") from None
    except psycopg.errors.UndefinedTable:
        raise ScratchUnusable(f"{source} is not a Concord database") from None


def _read_sqlite(path: Path, member_id: int) -> dict[str, Rows]:
    if not path.is_file():
        raise ScratchUnusable(f"{path}: no such file (give a SQLite backup or restored copy)")
    live = connection.settings_dict["NAME"]
    on_disk = str(live) != ":memory:" and not str(live).startswith("file:")
    if on_disk and path.resolve() == Path(live).resolve():
        raise ScratchUnusable(f"{path} is the live database: give the backup")
    if backups.checksum_path(path).exists():
        backups.verify(path)
    detect = sqlite3.PARSE_DECLTYPES | sqlite3.PARSE_COLNAMES
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, detect_types=detect)
    try:
        return read(conn.cursor(), member_id, style="qmark")
    except sqlite3.DatabaseError as exc:
        raise ScratchUnusable(f"{path}: not a Concord database ({exc})") from None
    finally:
        conn.close()


def read_live(member_id: int) -> dict[str, Rows]:
    with connection.cursor() as cursor:
        return read(cursor, member_id)


# --- comparing and planning ------------------------------------------------------------------


def differences(backup: dict[str, Rows], live: dict[str, Rows]) -> list[Difference]:
    found = []
    for section in SECTIONS:
        old, new = backup[section], live[section]
        for key in sorted(set(old) | set(new), key=repr):
            if old.get(key) != new.get(key):
                found.append(Difference(section, key, old.get(key), new.get(key)))
    return found


def plan(member_id: int, source: str) -> Plan:
    """What differs for `member_id` between the copy `source` and live, and what
    `--apply` would do about it. Reads only."""
    backup = read_source(source, member_id)
    if not backup["member"]:
        raise MemberNotInBackup(f"member {member_id} is not in {source}")
    live = read_live(member_id)
    if not live["member"]:
        raise MemberNotInBackup(
            f"member {member_id} is not in the live database (a member is not re-created)"
        )
    found = Plan(member_id, source, differences(backup, live))
    found.repairs = _repairs(found.differences, backup, live)
    return found


def _repairs(found: list[Difference], backup: dict, live: dict) -> list[Repair]:
    repairs = []
    for diff in found:
        if diff.section == "member":
            before = dict(zip(MEMBER_FIELDS, diff.backup, strict=True))
            now = dict(zip(MEMBER_FIELDS, diff.live, strict=True))
            changes = {k: v for k, v in before.items() if now[k] != v}
            if "is_active" in changes:
                changes["is_active"] = bool(changes["is_active"])
            shown = ", ".join(f"{k}={v!r}" for k, v in changes.items())
            repairs.append(Repair("member", f"update_member({shown})", {"changes": changes}))
        elif diff.section == "identities" and diff.live is None:
            platform, external_id = diff.key
            repairs.append(
                Repair(
                    "identity",
                    f"link_identity({platform}:{external_id})",
                    {"platform": platform, "external_id": external_id, "username": diff.backup[0]},
                )
            )
    for (currency,), (balance,) in sorted(backup["wallets"].items()):
        now = live["wallets"].get((currency,), (0,))[0] or 0
        delta = (balance or 0) - now
        if delta:
            verb = "award from issuance" if delta > 0 else "spend into sink:restore"
            repairs.append(
                Repair(
                    "wallet",
                    f"{currency}: {verb} {abs(delta)} (adjustment: live {now} -> backup {balance})",
                    {"currency": currency, "delta": delta, "live": now},
                )
            )
    return repairs


def report(found: Plan) -> list[str]:
    """The plan as lines for a person."""
    lines = [f"member {found.member_id}: {found.source} (backup) against the live database"]
    if not found.differences:
        return [*lines, "no differences"]
    lines += [f"  differs: {d.describe()}" for d in found.differences]
    lines += [f"  --apply: {r.what}" for r in found.repairs]
    by_hand = {d.section for d in found.by_hand}
    lines += [f"  not repaired: {section}: {BY_HAND[section]}" for section in sorted(by_hand)]
    lines.append(
        f"{len(found.differences)} difference(s); {len(found.repairs)} repair(s) with --apply"
    )
    return lines


__all__ = ["Difference", "Plan", "Repair", "plan", "read", "report"]
