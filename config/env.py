"""Reading Concord's settings from the environment: each reader returns a value or stops
the process at start with one `ImproperlyConfigured` line naming the variable. Used by
config/settings.py (the one settings module) and nothing else at import time."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from config.schedules import env_age, env_seconds

__all__ = ["env_age", "env_seconds"]  # re-exported for settings, with the readers below

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no)")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_origins(name: str, default: list[str], *, source: str | None = None) -> list[str]:
    """Full origins (`scheme://host[:port]`, http or https; `*.` before the host for
    its subdomains, as CSRF_TRUSTED_ORIGINS allows), comma-separated in `name`; `source`
    names where the default came from, for the error."""
    origins = env_list(name, default)
    for origin in origins:
        parts = urlsplit(origin)
        try:
            parts.port  # noqa: B018  (parses the port: raises on a malformed one)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in {"http", "https"}
            or not parts.hostname
            or parts.username is not None
            or parts.path
            or parts.query
            or parts.fragment
        ):
            where = name if name in os.environ else (source or name)
            raise ImproperlyConfigured(
                f"{where}: {origin!r} is not an origin (use scheme://host[:port], e.g."
                " https://ops.example.org)"
            )
    return [origin.lower() for origin in origins]


def env_networks(name: str, default: list[str]):
    """IP addresses or networks (`10.0.0.0/8`), comma-separated in `name`."""

    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not an IP address or network"
            ) from None
    return networks


# Seconds a WSGI worker's thread keeps its database connection (it serves one request at
# a time, so connections are bounded by workers x threads); opening one was ~15% of an
# award (docs/benchmarks/2026-12-06-api.md).
WSGI_CONN_MAX_AGE = 600


def under_uwsgi() -> bool:
    """Whether this process is a uWSGI worker (config/uwsgi.ini). Its `env` settings do not
    reach Python's os.environ (pyuwsgi starts Python first), so the default is chosen here."""
    try:
        import uwsgi  # noqa: F401  (a module only uWSGI's processes have)
    except ImportError:
        return False
    return True


def database_from_url(url: str) -> dict:
    """A DATABASES entry for a postgres:// or sqlite:// URL; anything else is refused."""
    scheme = urlsplit(url).scheme
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL has scheme {scheme or '(none)'!r}; use postgres://... or sqlite:///..."
        )
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # django-environ raises several types on a malformed URL
        raise ImproperlyConfigured(f"DATABASE_URL could not be parsed: {exc}") from None
    if scheme == "sqlite":
        return sqlite_database(config["NAME"] or str(BASE_DIR / "db.sqlite3"))
    if not config.get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL names no database (postgres://user@host/NAME)")
    # 0: under ASGI each request may run in another thread, and persistent connections
    # pile up (Django's docs say to disable them there). The WSGI servers' workers keep
    # theirs: 600 s under uWSGI (below) and gunicorn (config/gunicorn.py sets it);
    # DATABASE_POOL=N gives each process a pool of up to N instead (psycopg_pool: a
    # request takes a connection and gives it back), for daphne.
    pool = env_int("DATABASE_POOL", 0)
    kept = WSGI_CONN_MAX_AGE if under_uwsgi() and not pool else 0
    config["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", kept)
    config["CONN_HEALTH_CHECKS"] = True
    config.setdefault("OPTIONS", {})
    if pool and config["CONN_MAX_AGE"]:
        raise ImproperlyConfigured(
            "DATABASE_POOL and DATABASE_CONN_MAX_AGE exclude each other: set one of them"
        )
    if pool:
        config["OPTIONS"]["pool"] = {"min_size": 1, "max_size": pool, "timeout": 10}
    config["OPTIONS"].setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5))
    # Django binds parameters client-side and prepares nothing; the few statements that
    # ask for it (`prepare=True`, the ledger's posting statement) are prepared, and run
    # with a generic plan: planning that statement cost more than executing it.
    config["OPTIONS"].setdefault("prepare_threshold", 10**9)
    options = config["OPTIONS"].get("options", "")
    if "plan_cache_mode" not in options:
        options = f"{options} -c plan_cache_mode=force_generic_plan".strip()
    # Every pgtrigger trigger first reads `pgtrigger.ignore` in an exception block; unset,
    # the read raises and the block's subtransaction aborts, which costs each trigger call
    # and, for deferred triggers, a rescan of the pending events at COMMIT. Set to an
    # empty list (nothing ignored) nothing raises; what the triggers check is unchanged.
    if "pgtrigger.ignore" not in options:
        options = f"{options} -c pgtrigger.ignore={{}}".strip()
    config["OPTIONS"]["options"] = options
    config["TEST"] = {"NAME": f"test_{config['NAME']}"}
    return config


def sqlite_database(path: str) -> dict:
    import sqlite3

    if sqlite3.sqlite_version_info < (3, 35):
        raise ImproperlyConfigured(
            f"SQLite {sqlite3.sqlite_version} is too old: Concord needs 3.35+"
            " (INSERT ... RETURNING)"
        )
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            # Writers take the lock when the transaction begins, so two registrations never
            # deadlock upgrading a read lock; WAL lets readers carry on beside the writer.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        },
        "TEST": {"NAME": str(BASE_DIR / ".test-db.sqlite3")},
    }


def redis_url_from_env() -> str:
    url = env_str("REDIS_URL")
    if not url:
        return url
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"}:
        raise ImproperlyConfigured(f"REDIS_URL={url!r} must start with redis:// or rediss://")
    try:
        parts.port  # noqa: B018  (parses the port: raises on a malformed one)
    except ValueError:
        raise ImproperlyConfigured(f"REDIS_URL={url!r} has an invalid port") from None
    if not parts.hostname:
        raise ImproperlyConfigured(f"REDIS_URL={url!r} names no host")
    return url


def log_level_from_env() -> str:
    level = env_str("LOG_LEVEL", "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ImproperlyConfigured(f"LOG_LEVEL={level!r} is not DEBUG, INFO, WARNING or ERROR")
    return level


def api_rate_limits(name: str, default: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """`scope=requests/seconds` pairs, comma-separated (`ledger:write=300/60,default=600/60`),
    over the defaults; `default` applies to every scope without its own."""
    limits = dict(default)
    for item in env_list(name, []):
        scope, _, rule = item.partition("=")
        count, _, seconds = rule.partition("/")
        if not (scope.strip() and count.strip().isdigit() and seconds.strip().isdigit()):
            raise ImproperlyConfigured(f"{name}: {item!r} is not scope=requests/seconds")
        if int(count) < 1 or int(seconds) < 1:
            raise ImproperlyConfigured(f"{name}: {item!r} needs at least 1 request per 1 s")
        limits[scope.strip()] = (int(count), int(seconds))
    return limits
