"""Concord settings: one module, driven by the environment.

With no environment set Concord runs on embedded defaults (SQLite, in-memory channel
layer, local-memory cache, Celery tasks run eagerly without a broker). `DATABASE_URL`
and `REDIS_URL` switch to the real services. A bad value stops the process at start with
one `ImproperlyConfigured` line.
"""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import (
    api_rate_limits,
    database_from_url,
    env_age,
    env_bool,
    env_int,
    env_list,
    env_networks,
    env_origins,
    env_seconds,
    env_str,
    log_level_from_env,
    redis_url_from_env,
    sqlite_database,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Database (first: a malformed URL is the error to report) -----------------------

DATABASE_URL = env_str("DATABASE_URL")
DATABASES = {
    "default": database_from_url(DATABASE_URL)
    if DATABASE_URL
    else sqlite_database(str(BASE_DIR / "db.sqlite3"))
}

# --- Core ---------------------------------------------------------------------------

# Embedded defaults are for trying Concord on one machine: DEBUG on. Pointed at a real
# database Concord is production unless told otherwise (`make run`/`make test` say so).
DEBUG = env_bool("DJANGO_DEBUG", not DATABASE_URL)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off"
            " (DJANGO_DEBUG defaults to off when DATABASE_URL is set)"
        )
    SECRET_KEY = "concord-insecure-development-key-only-for-embedded-defaults"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
if not ALLOWED_HOSTS and not DEBUG:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS is empty: every request would be refused")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",  # first: `runserver` serves ASGI through daphne
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "django_htmx",
    "ninja",  # the Bot API's framework; listed so its Swagger UI files are served from here
    "pgtrigger",
    "pghistory",  # history of configuration rows (config/history.py)
    "pghistory.admin",  # its admin list: config/history_admin.py
    "axes",  # brute-force lock on the staff login (accounts/logins.py)
    "events",
    "accounts",
    "ledger",
    "tournaments",
    "narrative",
    "payments",
    "analytics",
    "integrity",
    "dashboard",
    "api",
    "ops",
]

PGHISTORY_ADMIN_CLASS = "config.history_admin.ConfigHistoryAdmin"

MIDDLEWARE = [
    # First: request latency and database time per view cover everything below (/metrics).
    "ops.middleware.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header on every page (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    # Bot API answers: a constant CSP of their own, set before django-csp would build one.
    "api.middleware.BotApiCspMiddleware",
    # daphne serves no files itself: static files come from here, with or without a
    # front server (collectstatic, then any CDN or proxy may cache them).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # NUL in a query or form, or a number past 64 bits, is a 400 before any query runs.
    "config.middleware.RefuseOddInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.history.HistoryMiddleware",  # history of admin and dashboard writes names the user
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # RateLimit headers on every Bot API answer (api/ratelimit.py).
    "api.middleware.RateLimitHeadersMiddleware",
    # Last, as axes asks: turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]
# What a Bot API call (a bearer key, JSON; not the HTML docs page) skips under WSGI
# (config.handlers): it has no session, cookie login, CSRF token, messages, htmx or login
# form, no static file lives under /api/v1/, and its CSP is a constant set by
# api.middleware.BotApiCspMiddleware.
PAGES_ONLY_MIDDLEWARE = [
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.history.HistoryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]
BOT_API_MIDDLEWARE = [name for name in MIDDLEWARE if name not in PAGES_ONLY_MIDDLEWARE]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Serve from the apps' static folders too, so a checkout runs without collectstatic (and
# an uncollected STATIC_ROOT is then expected, not worth WhiteNoise's warning).
WHITENOISE_USE_FINDERS = True
warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)

# --- Redis: cache, channel layer, Celery broker --------------------------------------

REDIS_URL = redis_url_from_env()
CACHE_KEY_PREFIX = env_str("CACHE_KEY_PREFIX", "concord")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 2,
                "SOCKET_TIMEOUT": 2,
            },
        }
    }
    # Each daphne process holds one channel in one group (the hub), so the layer carries
    # one message per event per process. pubsub or core: see docs/OPERATIONS.md.
    _LAYER = env_str("CHANNEL_LAYER", "pubsub")
    if _LAYER not in {"pubsub", "core"}:
        raise ImproperlyConfigured(f"CHANNEL_LAYER={_LAYER!r} must be pubsub or core")
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": f"channels_redis.{_LAYER}.Redis{'PubSub' if _LAYER == 'pubsub' else ''}"
            "ChannelLayer",
            "CONFIG": {
                # core: its receive blocks in BRPOP for 5 s, as long as redis-py's default
                # socket timeout, which then fired ("Timeout reading from ..."); give the
                # socket more time than the BRPOP.
                "hosts": [
                    REDIS_URL
                    if _LAYER == "pubsub"
                    else {"address": REDIS_URL, "socket_timeout": 10}
                ],
                "prefix": f"{CACHE_KEY_PREFIX}:asgi",
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Without a broker, tasks run in the caller's process (eagerly): nothing else to start.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 2}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
# Where tasks (and beat's) go unless routed (tests give each worker a queue of its own).
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE") or "celery"
# How often beat stores lapsed subscriptions as expired; the integrity check
# `accounts.subscriptions_expired_on_time` allows twice this before it reports one.
EXPIRE_SUBSCRIPTIONS_EVERY_SECONDS = env_int("EXPIRE_SUBSCRIPTIONS_EVERY_SECONDS", 60, minimum=1)

CELERY_BEAT_SCHEDULE = {
    "expire-subscriptions": {
        "task": "accounts.tasks.expire_subscriptions",
        "schedule": float(EXPIRE_SUBSCRIPTIONS_EVERY_SECONDS),
    },
    "expire-holds": {
        "task": "ledger.tasks.expire_holds",
        "schedule": float(env_int("EXPIRE_HOLDS_EVERY_SECONDS", 60, minimum=1)),
    },
    "purge-idempotent-requests": {
        "task": "api.tasks.purge_idempotent_requests",
        "schedule": 3600.0,
    },
    "integrity-report": {
        "task": "integrity.tasks.run_integrity_report",
        "schedule": float(env_int("INTEGRITY_REPORT_EVERY_SECONDS", 900, minimum=10)),
    },
    "alerts": {
        "task": "ops.tasks.evaluate_alerts",
        "schedule": float(env_int("ALERTS_EVERY_SECONDS", 60, minimum=10)),
    },
    "heartbeat": {"task": "ops.tasks.heartbeat", "schedule": 60.0},
    # Today's and yesterday's rollups and the last two hours (analytics.actions).
    "analytics-rollups": {
        "task": "analytics.tasks.refresh_rollups",
        "schedule": float(env_int("ANALYTICS_ROLLUP_EVERY_SECONDS", 60, minimum=10)),
    },
    "restore-drill": {
        "task": "ops.tasks.restore_drill",
        "schedule": float(env_int("RESTORE_DRILL_EVERY_SECONDS", 7 * 86400, minimum=3600)),
    },
}

# --- Retention (docs/OPERATIONS.md): expired sessions cleared daily; events and activity
# days older than these archived daily to RETENTION_ARCHIVE_DIR, when it is set.
RETENTION_EVENTS_DAYS = env_int("RETENTION_EVENTS_DAYS", 365, minimum=7)
RETENTION_ACTIVITY_DAYS = env_int("RETENTION_ACTIVITY_DAYS", 365, minimum=7)
RETENTION_ARCHIVE_DIR = env_str("RETENTION_ARCHIVE_DIR", "")
_DAILY = {"clear-sessions": "events.tasks.clear_sessions"}
if RETENTION_ARCHIVE_DIR:
    _DAILY |= {"archive-events": "events.tasks.archive_events"}
    _DAILY |= {"archive-activity-days": "ledger.tasks.archive_activity_days"}
CELERY_BEAT_SCHEDULE |= {name: {"task": task, "schedule": 86400.0} for name, task in _DAILY.items()}

# --- Security (production-like whenever DEBUG is off) ---------------------------------

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000)
    # Off unless the owner of the whole domain opts in: includeSubDomains forces HTTPS on
    # every subdomain (a plain-HTTP service beside Concord goes dark for a year), and
    # preload asks browsers to ship that in their code, which takes months to undo.
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
    if SECURE_HSTS_PRELOAD and (
        not SECURE_HSTS_INCLUDE_SUBDOMAINS or SECURE_HSTS_SECONDS < 31_536_000
    ):
        raise ImproperlyConfigured(
            "DJANGO_SECURE_HSTS_PRELOAD=1 needs DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS=1 and"
            " DJANGO_SECURE_HSTS_SECONDS of at least 31536000 (the preload list requires both)"
        )
    if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = env_list("DJANGO_SILENCED_SYSTEM_CHECKS", [])
if not DEBUG:
    # `check --deploy` warns while includeSubDomains (W005) or preload (W021) is off. Off
    # is the deliberate default above, so only then are those two warnings silenced.
    if not SECURE_HSTS_INCLUDE_SUBDOMAINS:
        SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W005"]
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W021"]

# Content-Security-Policy (django-csp): every page's scripts, styles, images and fonts
# come from this origin, and nothing inline runs or applies: no `<script>` block, no
# `on...=` handler, no eval, no `<style>` block, no `style="..."` attribute. Pages keep
# their scripts and styles in static/, so an injected tag has nothing to run with.
# - style-src 'self' without 'unsafe-inline': what varies per row is set from script
#   through the CSSOM (`el.style.x = ...`), which CSP allows; htmx's own indicator
#   `<style>` is turned off by the htmx-config meta in templates/dashboard/base.html.
# - connect-src 'self': htmx's requests and the same-origin websockets (CSP3's 'self'
#   matches ws:/wss: of this host: Chromium 71+ and so OBS's browser source, Firefox,
#   Safari 16+).
# - frame-ancestors 'none': no page may be framed (as X-Frame-Options DENY says). OBS
#   shows an overlay as a top-level page, not in a frame, so overlays are unaffected.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Logins: brute-force lock (django-axes, counted in the cache; accounts/logins.py) --

# The throttle refuses a locked username or address before any password is checked;
# ModelBackend then authenticates.
AUTHENTICATION_BACKENDS = [
    "accounts.logins.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# Behind our TLS proxy the client's address is the last X-Forwarded-For entry (the one
# the proxy appended); anywhere else that header is the client's to write: ignored.
LOGIN_ADDRESS_FROM_PROXY = env_bool("DJANGO_BEHIND_TLS_PROXY", False)
# axes' cache handler (no table on the login path), open while the cache is down.
AXES_HANDLER = "accounts.logins.CacheHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one reaching the limit locks
AXES_RESET_ON_SUCCESS = True
# A lock lasts the cool-off from the failure that set it; refused attempts do not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "accounts.logins.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.logins.lockout_response"
AXES_ENABLE_ADMIN = False  # its tables stay empty with the cache handler
AXES_VERBOSE = False  # no start-up banner: every command's stderr stays one line
if not REDIS_URL:
    # axes warns that local memory is not shared between processes; embedded defaults
    # serve from one process, whose memory sees every attempt. Production uses Redis.
    SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "axes.W001"]

# --- Logging ------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": log_level_from_env()},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Concord ------------------------------------------------------------------------

# Where people and OBS reach Concord (links commands print); unset: http://HOST:PORT.
_HOST_PORT = f"http://{env_str('HOST') or '127.0.0.1'}:{env_str('PORT') or '8000'}"
CONCORD_SITE_URL = env_str("CONCORD_SITE_URL") or _HOST_PORT
# Broadcast committed events to the channel layer (websockets, overlays). Off: the relay
# still bumps the caches but broadcasts nothing (screens then update only on reload).
CONCORD_LIVE = env_bool("CONCORD_LIVE", True)
# /healthz answers 503 (naming "relay") when the relay's oldest unsent event is older.
RELAY_MAX_LAG_SECONDS = env_int("RELAY_MAX_LAG_SECONDS", 30, minimum=1)
# A leaderboard missing from the cache is computed in the home page's own request only
# while the currencies hold at most this many wallets (the planner's estimate); above, the
# page paints without it and fetches it at once (a top-N over every wallet: 0.3-0.5 s at
# 1,000,000 members, docs/benchmarks/2026-12-06-scale.md).
DASHBOARD_DEFER_BOARDS_ABOVE = env_int("DASHBOARD_DEFER_BOARDS_ABOVE", 200_000, minimum=0)

# --- Websockets (dashboard/consumers.py; docs/SECURITY.md, "Websockets") -------------

# Pages that may open /ws/dashboard/ besides the dashboard's own origin (the scheme the
# handshake came in on and its Host, port included). The stream has no such list: its
# token is the credential.
DASHBOARD_ORIGINS = env_origins(
    "DJANGO_DASHBOARD_ORIGINS", CSRF_TRUSTED_ORIGINS, source="DJANGO_CSRF_TRUSTED_ORIGINS"
)
# Concurrent /ws/stream/ connections per overlay token, across every daphne process;
# the next one is closed with 4429.
STREAM_MAX_PER_TOKEN = env_int("CONCORD_STREAM_MAX_PER_TOKEN", 20, minimum=1)
# Events of history one /ws/stream/ connection replays; beyond, it is closed with 4206
# and the client reconnects with the last seq it received.
STREAM_REPLAY_MAX = env_int("CONCORD_STREAM_REPLAY_MAX", 10_000, minimum=1)

# --- Bot API (/api/v1/, docs/API.md) -------------------------------------------------


# Requests per key and scope per window (counted in the cache: api/ratelimit.py).
API_RATE_LIMITS = api_rate_limits(
    "API_RATE_LIMITS",
    {"default": (1200, 60), "ledger:write": (600, 60), "members:write": (600, 60)},
)
# How long a rotated key keeps working beside its replacement.
API_KEY_ROTATION_GRACE = timedelta(hours=env_int("API_KEY_ROTATION_GRACE_HOURS", 24, minimum=0))
# Each process keeps the keys it read, checked against the keys' generation in Redis on
# every request (api/keycache.py); a copy is read again after this many seconds at most
# (0: read the key on every request). Not on local memory: every request reads its key.
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 60, minimum=0)
# Stored Idempotency-Key answers are kept at least this long (purged hourly after).
API_IDEMPOTENCY_RETENTION_HOURS = env_int("API_IDEMPOTENCY_RETENTION_HOURS", 48, minimum=24)
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 65_536, minimum=1024)
# Longest wait of GET /api/v1/events (long-poll), in seconds.
API_EVENTS_MAX_WAIT = env_int("API_EVENTS_MAX_WAIT", 25, minimum=0)
# Webhooks (api/delivery.py; docs/API.md, "Webhooks"): seconds to wait after each failed
# attempt (one more try after the last, then the endpoint is disabled; default: 12 tries
# over 31 h 43 min); how often beat or the in-process runner (no broker) looks for due ones.
WEBHOOK_RETRY_SCHEDULE = env_seconds(
    "WEBHOOK_RETRY_SCHEDULE", "5,30,120,600,1800,3600,7200,14400,28800,28800,28800"
)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
WEBHOOK_TICK_SECONDS = env_int("WEBHOOK_TICK_SECONDS", 2, minimum=1)
WEBHOOK_IN_PROCESS = env_bool("WEBHOOK_IN_PROCESS", CELERY_TASK_ALWAYS_EAGER)
# Endpoints on loopback and private addresses (api/netguard.py): allowed unless turned off.
# A community's own bots, Concord's first receivers, usually run on its host or network;
# turn it off (0) before giving `webhooks:manage` keys to anyone outside it. Link-local and
# cloud metadata addresses are refused always.
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env_bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", True)
# Delivered deliveries (and their attempts) older than this are deleted daily by beat and
# by `manage.py prune_webhook_deliveries`; pending and failed ones are kept.
WEBHOOK_DELIVERY_RETENTION = env_age("WEBHOOK_DELIVERY_RETENTION", "30d")
CELERY_BEAT_SCHEDULE["deliver-webhooks"] = {
    "task": "api.tasks.deliver_webhooks",
    "schedule": float(WEBHOOK_TICK_SECONDS),
}
CELERY_BEAT_SCHEDULE["prune-webhook-deliveries"] = {
    "task": "api.tasks.prune_webhook_deliveries",
    "schedule": 86400.0,
}


# --- Operations (ops/; docs/OPERATIONS.md, "Metrics", "Alerts", "Backups") ------------

# /metrics answers these client addresses (REMOTE_ADDR) or a bearer token.
METRICS_ALLOWED_NETWORKS = env_networks("METRICS_ALLOWED_ADDRESSES", ["127.0.0.1", "::1"])
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Celery queues whose waiting messages /metrics reports.
METRICS_CELERY_QUEUES = env_list("METRICS_CELERY_QUEUES", ["celery"])

# Alerts (ops.rules): where they go (Apprise URLs: json://, discord://, tgram://,
# mailto://, ...) and each rule's threshold; 0 turns a rule off.
ALERT_URLS = env_list("ALERT_URLS", [])
ALERT_HEALTHZ_URL = env_str("ALERT_HEALTHZ_URL")  # probe over HTTP; empty: checks run in-process
ALERT_RELAY_LAG_SECONDS = env_int("ALERT_RELAY_LAG_SECONDS", 60)
ALERT_HOLDS_GRACE_SECONDS = env_int("ALERT_HOLDS_GRACE_SECONDS", 300)
ALERT_SILENT_SECONDS = env_int("ALERT_SILENT_SECONDS", 300)
ALERT_BACKUP_MAX_AGE_HOURS = env_int("ALERT_BACKUP_MAX_AGE_HOURS", 26)
# Rate rules (ops.rates): more refusals than this within ALERT_RATE_WINDOW_SECONDS.
ALERT_RATE_WINDOW_SECONDS = env_int("ALERT_RATE_WINDOW_SECONDS", 600, minimum=60)
ALERT_DUPLICATE_EMAILS_PER_WINDOW = env_int("ALERT_DUPLICATE_EMAILS_PER_WINDOW", 20)
ALERT_REFUSED_TRANSFERS_PER_WINDOW = env_int("ALERT_REFUSED_TRANSFERS_PER_WINDOW", 100)

# Backups (ops.backups): where they are written, and how many are kept.
BACKUP_DIR = Path(env_str("BACKUP_DIR", str(BASE_DIR / "backups")))
BACKUP_KEEP_DAILY = env_int("BACKUP_KEEP_DAILY", 7, minimum=1)
BACKUP_KEEP_WEEKLY = env_int("BACKUP_KEEP_WEEKLY", 4)
BACKUP_KEEP_MONTHLY = env_int("BACKUP_KEEP_MONTHLY", 12)
# Physical backups (ops.physical): pgBackRest's configuration file (empty: only logical
# backups), stanza, and how to run it (as the cluster's owner).
PGBACKREST_CONFIG = env_str("PGBACKREST_CONFIG")
PGBACKREST_STANZA = env_str("PGBACKREST_STANZA", "concord")
PGBACKREST_COMMAND = env_str("PGBACKREST_COMMAND", "pgbackrest")
# The server binaries (pg_ctl) the physical restore drill starts its scratch cluster with.
PG_BINDIR = env_str(
    "PG_BINDIR",
    str(
        max(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
            default="",
        )
    ),
)
