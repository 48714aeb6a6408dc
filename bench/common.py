"""What every benchmark here shares: production settings, argument checks, and the
helpers for the servers and processes a benchmark starts and measures.

Import it first: it puts the project on sys.path and sets the environment Django reads."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Measure production settings: with DEBUG on, Django keeps every query it runs, which
# costs client CPU on every call (it roughly doubled a registration's). DJANGO_DEBUG=1
# measures that instead.
os.environ.setdefault("DJANGO_DEBUG", "0")
if os.environ["DJANGO_DEBUG"] == "0":
    os.environ.setdefault("DJANGO_SECRET_KEY", f"bench-{uuid.uuid4().hex}{uuid.uuid4().hex}")
# Cache keys of a run's own (`bench-<script>-<random>`), for this process and the servers
# it starts: set here, since importing `config` below reads the settings (a benchmark
# that set it later wrote under the product's default prefix, "concord", in process;
# and its own requests were redirected to HTTPS).
# Always a fresh one: a shell exporting the product's prefix must not lend it (live.py
# deletes its run's keys at the end).
if not os.environ.get("CACHE_KEY_PREFIX", "").startswith("bench-"):
    os.environ["CACHE_KEY_PREFIX"] = (
        f"bench-{Path(sys.argv[0]).stem or 'python'}-{uuid.uuid4().hex[:8]}"
    )
# Plain HTTP on the loopback, as behind TLS: production settings would redirect it.
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")

# After the environment above: importing `config` loads its Celery app, which reads it.
from config.processes import ServerDown, stop

MAX_WORKERS = 64


class Refused(Exception):
    """A bad argument or environment: one line on stderr, exit 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one readable line, not the usage block
        raise Refused(message)


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def bounded(low: float, high: float, unit: str, *, called: str = "a number"):
    """An argparse type: a finite number from `low` to `high` `unit` (e.g. seconds); a
    word that is no number is refused as not `called`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {called}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} must be between {low:g} and {high:g} {unit}")
        return value

    return parse


def bench_parser(prog: str, doc: str) -> Parser:
    """A benchmark's parser: the first line of its docstring as description."""
    return Parser(
        prog=prog,
        description=doc.split("\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


UPKEEP_OPTIONS = (
    ("--no-vacuum", "skip VACUUM (ANALYZE) before timing"),
    ("--no-relay", "run no manage.py run_relay (events wait in the log; the writers alone)"),
)


def add_upkeep_options(parser: argparse.ArgumentParser) -> None:
    """--no-vacuum and --no-relay, for the benchmarks that time writers."""
    for flag, explained in UPKEEP_OPTIONS:
        parser.add_argument(flag, action="store_true", help=explained)


def at_most(option: str, value: int, limit: int, why: str = "") -> None:
    """Refused if `option` was given a `value` above `limit` (`why`: the reason, if any)."""
    if value > limit:
        raise Refused(f"{option} {value}: at most {limit}" + (f" ({why})" if why else ""))


def check_workers(workers: int, people: int, option: str) -> None:
    """Refused unless 1..MAX_WORKERS workers share 1..100,000 `people` (at least one each),
    counted by `option` (e.g. --players)."""
    at_most("--workers", workers, MAX_WORKERS)
    if people < workers:
        raise Refused(f"{option} {people} is fewer than --workers {workers}")
    at_most(option, people, 100_000)


def worker_counts(text: str) -> list[int]:
    """`1,4,8` -> [1, 4, 8]: each at least 1 and at most MAX_WORKERS, repeats dropped."""
    parts = [part.strip() for part in text.split(",")]
    if not any(parts):
        raise argparse.ArgumentTypeError("give at least one worker count, e.g. 1,4,8")
    counts = [positive(part) for part in parts if part]
    if max(counts) > MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{max(counts)} workers is more than {MAX_WORKERS}")
    return list(dict.fromkeys(counts))


# --- servers and processes ----------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int | None, *, reaped: bool = False) -> float | None:
    """Seconds of CPU (user + system) process `pid` has used, and with `reaped` its
    children that ended and it waited for; None if unreadable."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    used = int(fields[11]) + int(fields[12])
    if reaped:
        used += int(fields[13]) + int(fields[14])
    return used / CLOCK_TICKS


_RUN_SECRET_KEY = f"bench-{uuid.uuid4().hex}{uuid.uuid4().hex}"  # for servers under DEBUG


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a server a benchmark starts: this process's, on production
    settings whatever DJANGO_DEBUG the benchmark runs with (DEBUG off, and a secret key:
    the one set, else this run's, without which no worker would boot), and `extra`."""
    return {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or _RUN_SECRET_KEY,
        **extra,
    }


def postgres_cpu() -> float | None:
    """Seconds of CPU every PostgreSQL process on this machine has used, backends that
    ended included (the postmaster's reaped children); None if none is readable (the
    database runs elsewhere). Read it before and after a phase on a quiet machine."""
    stats = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        name, fields = text[text.find("(") + 1 : text.rfind(")")], text.rsplit(")", 1)[1].split()
        if name == "postgres":
            stats[int(entry)] = fields
    if not stats:
        return None
    ticks = 0
    for fields in stats.values():
        ticks += int(fields[11]) + int(fields[12])
        if int(fields[1]) not in stats:  # the postmaster: its parent is not PostgreSQL
            ticks += int(fields[13]) + int(fields[14])
    return ticks / CLOCK_TICKS


@contextlib.contextmanager
def relay(wanted: bool = True):
    """Run `manage.py run_relay` while the block runs, as a deployment would (one per
    database): it broadcasts the benchmark's committed events and bumps the caches they
    touch. Yields its pid, or None where it was not wanted. ServerDown if it does not
    lead (another relay holds this database's lock: stop it first)."""
    if not wanted:
        yield None
        return
    root = Path(__file__).resolve().parent.parent
    # Its log goes to a file: a pipe nobody reads would fill and block it.
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            [sys.executable, str(root / "manage.py"), "run_relay"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            line = proc.stdout.readline()  # "relay: leading ..." or the standby line
            if "leading" not in line:
                stop(proc)
                log.seek(0)
                raise ServerDown(f"run_relay did not lead: {line.strip()} {log.read()[-500:]}")
            yield proc.pid
        finally:
            stop(proc)


def before_fork() -> None:
    """Make this process safe to fork: close the database connections (children must
    never share the parent's sockets)."""
    from django.db import connections

    connections.close_all()


class Unusable(Exception):
    """Django or the database cannot be used: one line for stderr, exit 2."""


def set_up_django() -> tuple[str, str]:
    """django.setup() and migrate the database; (PostgreSQL version, synchronous_commit).
    Raises Unusable with one readable line if the settings or the database are bad."""
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        django.setup()
    except ImproperlyConfigured as error:
        raise Unusable(str(error)) from None
    from django.core.management import call_command
    from django.db import OperationalError, connection

    try:
        call_command("migrate", verbosity=0)
    except OperationalError as error:
        reason = (str(error).strip().splitlines() or ["?"])[0]
        raise Unusable(f"cannot use the database: {reason}") from None
    with connection.cursor() as cursor:
        cursor.execute("SELECT version(), current_setting('synchronous_commit')")
        version, sync = cursor.fetchone()
    return version, sync


def start(prog: str, parse_args, argv: list[str]) -> tuple[argparse.Namespace, str, str]:
    """Parse `argv` and set Django up (migrating the database): (args, PostgreSQL version,
    synchronous_commit); or one line on stderr and exit 2."""
    try:
        args = parse_args(argv)
        version, sync = set_up_django()
    except (Refused, Unusable) as error:
        print(f"{prog}: {error}", file=sys.stderr)
        sys.exit(2)
    return args, version, sync


def print_setup(
    version: str, sync: str, *, workers: int | None = None, name: str = "", live: bool = False
) -> None:
    """A benchmark's first lines: the cores and DEBUG (and `workers`), the Python running it
    (its version and where it is installed: one build of a version can run the same Python
    code much faster than another, docs/benchmarks/2026-12-07-api-levers.md), PostgreSQL's
    version and synchronous_commit (after the database's `name`), and with `live` whether
    the live layer and Redis are on."""
    from django.conf import settings

    version = version.split(" on ")[0]
    workers_note = f"  workers: {workers}" if workers else ""
    print(f"cores: {os.cpu_count()}  DEBUG: {settings.DEBUG}{workers_note}")
    print(f"python: {platform.python_version()} ({sys.base_prefix})")
    print(f"database: {name + ', ' if name else ''}{version}  synchronous_commit={sync}")
    if live:
        print(
            f"live layer: {'on' if settings.CONCORD_LIVE else 'off'}"
            f"  redis: {'yes' if settings.REDIS_URL else 'no'}"
        )


# The tables an award writes (without statistics the balance trigger's query scans every
# account).
AWARD_TABLES = (
    "ledger.Account",
    "ledger.Posting",
    "ledger.Transfer",
    "events.Event",
    "accounts.Member",
    "accounts.Identity",
)


def table_names(labels) -> list[str]:
    """The tables of `labels` ("app.Model", or "app" for all its models)."""
    from django.apps import apps

    return [
        model._meta.db_table
        for label in labels
        for model in (
            [apps.get_model(label)] if "." in label else apps.get_app_config(label).get_models()
        )
    ]


def analyze(labels) -> None:
    """ANALYZE the tables of `labels` between phases (untimed), as autovacuum's analyze
    does while tables grow. A server's persistent connection keeps the plans it made,
    a foreign key's check included, until the statistics of their tables change: made
    while a new database's tables held a few rows, such a check scans its whole table,
    and on a server whose autovacuum is off (or has not reached the table yet) it would
    go on doing so as the table grows through the run."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(table_names(labels))}")


def maintain(labels, run: bool = True) -> str:
    """VACUUM (ANALYZE) the tables of `labels` ("app.Model", or "app" for all its models)
    before timing, as autovacuum would between runs (without statistics the planner picks
    plans no maintained server would, and dead row versions left by earlier runs slow the
    next); says what it did. With `run` false it only says so."""
    from django.db import connection

    tables = table_names(labels)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('autovacuum')")
        autovacuum = cursor.fetchone()[0]
        if not run:
            return f"autovacuum={autovacuum}; no VACUUM before timing (--no-vacuum)"
        cursor.execute(f"VACUUM (ANALYZE) {', '.join(tables)}")
    return f"autovacuum={autovacuum}; VACUUM (ANALYZE) of {len(tables)} tables before timing"


def postgres_url() -> tuple[str, bool]:
    """DATABASE_URL and whether the server is on this machine; Refused if it does not name
    PostgreSQL."""
    from urllib.parse import urlsplit

    url = os.environ.get("DATABASE_URL", "").strip()
    if urlsplit(url).scheme not in {"postgres", "postgresql", "pgsql"}:
        raise Refused(
            f"DATABASE_URL={url or '(unset)'} is not a PostgreSQL URL (set postgres://...)"
        )
    return url, urlsplit(url).hostname in {None, "", "127.0.0.1", "localhost", "::1"}


class BenchFailed(Exception):
    """A step of a benchmark failed: one line for stderr, exit 1."""


def in_child(func, *args) -> None:
    """A forked process's body: run `func`, exit 1 with the traceback if it fails."""
    import traceback

    from django.db import connections

    try:
        func(*args)
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    finally:
        connections.close_all()


def register_members(
    prefix: str, count: int, *, username: str, emails: bool = False, timeout: float = 600
) -> list:
    """`count` fresh members registered as bots register them (wallets opened, welcome
    bonus paid), by up to two forked processes; external ids `<prefix>-<i>`. Returns the
    members (pk only) in id order; BenchFailed if any is missing."""
    import multiprocessing as mp

    from accounts.models import Member

    def register(part: int, parts: int) -> None:
        from accounts.actions import register_member

        for i in range(part, count, parts):
            register_member(
                platform="web",
                external_id=f"{prefix}-{i}",
                username=f"{username} {i}",
                email=f"{prefix}.{i}@example.org" if emails else None,
            )

    parts = min(2, os.cpu_count() or 1)
    before_fork()
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=in_child, args=(register, p, parts)) for p in range(parts)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=timeout)
        if proc.exitcode != 0:
            raise BenchFailed(f"registering members failed (pid {proc.pid})")
    members = list(
        Member.objects.filter(identities__external_id__startswith=f"{prefix}-")
        .only("pk")
        .order_by("pk")
    )
    if len(members) != count:
        raise BenchFailed(f"registered {len(members)} members, {count} requested")
    return members


# The project first, before bench/ itself, once more: Celery's Django fix-up put the
# working directory first when `config` made its Celery app, and bench scripts share
# names with apps (ledger.py, analytics.py, narrative.py...): `import ledger` must find
# the app.
_ROOT = str(Path(__file__).resolve().parent.parent)
sys.path[:] = [_ROOT, *(entry for entry in sys.path if entry != _ROOT)]
