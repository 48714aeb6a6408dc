"""Which pages may open `/ws/dashboard/`.

The dashboard socket is authenticated by the session cookie, and a browser sends that
cookie whichever page opens the socket: without an Origin check, any site a logged-in
staff member visits could read the live dashboard (cross-site websocket hijacking). So
the handshake's Origin must be the dashboard's own origin — the scheme the handshake
came in on and its Host (one of ALLOWED_HOSTS), port included — or one listed in
DASHBOARD_ORIGINS (default: CSRF_TRUSTED_ORIGINS). A missing Origin is refused: browsers
always send one, and only a browser carries the cookie. This is Django's CSRF origin
rule (`CsrfViewMiddleware._origin_verified`) applied to the handshake.

Channels' `AllowedHostsOriginValidator` compared the Origin's host with ALLOWED_HOSTS and
ignored its scheme and port (another service on another port of the same host passed),
and it refused every client without an Origin, bots on `/ws/stream/` included. The
stream needs no Origin check: its token is the credential and no cookie is read there.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import is_same_domain, split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_parts(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) origin, the port made explicit; None for
    anything else (`null`, a path, a malformed port)."""
    try:
        parts = urlsplit(origin.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in {"", "/"}:
        return None
    return parts.scheme, parts.hostname, port or DEFAULT_PORTS[parts.scheme]


def _headers(scope) -> dict[bytes, list[bytes]]:
    found: dict[bytes, list[bytes]] = {}
    for name, value in scope.get("headers") or ():
        found.setdefault(bytes(name).lower(), []).append(bytes(value))
    return found


def _one(headers: dict[bytes, list[bytes]], name: bytes) -> str | None:
    values = headers.get(name) or []
    if len(values) != 1:
        return None  # absent, or sent twice: nothing to trust
    try:
        return values[0].decode("latin-1").strip()
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
        return None


def _secure(scope, headers) -> bool:
    """As Django's `HttpRequest.is_secure()`: the handshake's own scheme, or the TLS
    proxy's header when SECURE_PROXY_SSL_HEADER says to trust it."""
    if scope.get("scheme") in {"wss", "https"}:
        return True
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:
        header, secure_value = proxy
        name = header.removeprefix("HTTP_").lower().replace("_", "-").encode()
        value = _one(headers, name)
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return False


def own_origin(scope) -> tuple[str, str, int] | None:
    """The dashboard's origin as this handshake reached it: scheme and Host, when the
    Host is one of ALLOWED_HOSTS (else None: a rebound DNS name is not ours)."""
    headers = _headers(scope)
    host = None
    if settings.USE_X_FORWARDED_HOST:
        host = _one(headers, b"x-forwarded-host")
    host = host or _one(headers, b"host")
    if not host:
        return None
    domain, port = split_domain_port(host.lower())
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # as Django's get_host()
    if not domain or not validate_host(domain, allowed):
        return None
    scheme = "https" if _secure(scope, headers) else "http"
    try:
        number = int(port) if port else DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    hostname = urlsplit(f"//{host.lower()}").hostname  # "[::1]:8000" -> "::1"
    return scheme, hostname or domain, number


def listed(origin: tuple[str, str, int]) -> bool:
    """Whether `origin` is one of DASHBOARD_ORIGINS (`*.` matches subdomains)."""
    scheme, host, port = origin
    for entry in settings.DASHBOARD_ORIGINS:
        wildcard = "://*." in entry
        parts = origin_parts(entry.replace("://*.", "://", 1))
        if parts is None or parts[0] != scheme or parts[2] != port:
            continue
        if host == parts[1] or (wildcard and is_same_domain(host, "." + parts[1])):
            return True
    return False


def dashboard_origin_allowed(scope) -> bool:
    origin_text = _one(_headers(scope), b"origin")
    origin = origin_parts(origin_text) if origin_text else None
    if origin is None:
        return False
    return origin == own_origin(scope) or listed(origin)


class DashboardOriginValidator:
    """ASGI middleware: refuses the handshake (HTTP 403) unless the Origin may open the
    dashboard socket."""

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if dashboard_origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
