"""Brute-force protection for the staff login (the admin's, which the dashboard shares).

django-axes counts failed logins in the cache (Redis in production, local memory on
embedded defaults), per username and per client address, and refuses either once it
reaches `LOGIN_FAILURE_LIMIT`, for `LOGIN_LOCKOUT_MINUTES`, before any password is
checked. A library rather than our own counter: axes hooks into Django's authentication
signals and backends, so every login path that passes a request is covered, and its
atomic cache counters, lock checks and resets are used and reviewed far more widely than
ours would be. This module holds what is Concord's own:

- which client address is counted (`client_address`): a proxy header only where a proxy
  we run wrote it, so a client cannot dodge the per-address limit by forging one;
- the refusal, as the login page with a clear message (`lockout_response`);
- the lock recorded once as a `staff.login_locked` event (`record_lock`).

It reads axes' request attributes (`axes_failures_since_start`, `axes_credentials`) and
helpers (`axes.helpers`), checked against django-axes 8.3.1;
tests/accounts/test_login_throttle.py guards them.
"""

from __future__ import annotations

import ipaddress
import logging
from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from axes.handlers.cache import AxesCacheHandler
from axes.helpers import (
    get_cache,
    get_client_cache_keys,
    get_cool_off,
    get_failure_limit,
    get_lockout_parameters,
)
from axes.signals import user_locked_out
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME, get_user_model
from django.db import DatabaseError, transaction
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from accounts import payloads
from events.log import publish

logger = logging.getLogger(__name__)

LOCKED = "staff.login_locked"
# axes' lockout parameters as the event names them.
PARAMETER_NAMES = {"username": "username", "ip_address": "address"}
USERNAME_MAX_LENGTH = 150  # accounts.User.username


class CacheHandler(AxesCacheHandler):
    """axes' cache handler, open while the cache is unreachable: logins are neither
    counted nor refused then (one warning each), so staff can still log in and act while
    Redis is down, as every page does. /healthz says the cache is down meanwhile."""

    def get_failures(self, request, credentials=None) -> int:
        try:
            return super().get_failures(request, credentials)
        except Exception as exc:
            logger.warning("logins: cannot read failed-login counts (%s); not throttling", exc)
            return 0

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        try:
            return super().user_login_failed(sender, credentials, request, **kwargs)
        except Exception as exc:
            logger.warning("logins: cannot count a failed login (%s)", exc)

    def user_logged_in(self, sender, request, user, **kwargs):
        try:
            return super().user_logged_in(sender, request, user, **kwargs)
        except Exception as exc:
            logger.warning("logins: cannot reset failed-login counts (%s)", exc)

    def user_logged_out(self, sender, request, user, **kwargs):
        try:
            return super().user_logged_out(sender, request, user, **kwargs)
        except Exception as exc:
            logger.warning("logins: cannot record a logout (%s)", exc)


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses a locked username or address before the password is checked (the next
    backend, ModelBackend, authenticates).

    authenticate() without a request (a shell, a management command) is not a login
    from the network: there is no address to count, so it is neither counted nor
    refused, where axes would raise."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_address(request) -> str | None:
    """The address counted for a login: REMOTE_ADDR, or behind our TLS proxy
    (`DJANGO_BEHIND_TLS_PROXY`) the last X-Forwarded-For entry, the one the proxy
    appended (what stands left of it is the client's own to write). An IPv6 client is
    counted by its /64, as one client holds all of it."""
    address = _parse(request.META.get("REMOTE_ADDR", ""))
    if getattr(settings, "LOGIN_ADDRESS_FROM_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").rsplit(",", 1)[-1]
        address = _parse(forwarded) or address
    if address is None:
        return None
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def lockout_response(request, original_response=None, credentials=None):
    """The admin login page again, with the lock explained, status 429 and Retry-After.

    Built from the request alone: axes' async middleware passes no original response."""
    from django.contrib.admin.forms import AdminAuthenticationForm

    cool_off = get_cool_off(request) or timedelta()
    username = request.POST.get("username", "")[:USERNAME_MAX_LENGTH]
    context = {
        **admin.site.each_context(request),
        "title": "Log in",
        "subtitle": None,
        "app_path": request.get_full_path(),
        "form": AdminAuthenticationForm(request, initial={"username": username}),
        REDIRECT_FIELD_NAME: _next_url(request),
        "lockout_message": (
            "Too many failed logins for this username or from this address. Logins are"
            f" refused for up to {_duration(cool_off)}, even with the right password;"
            " try again later."
        ),
    }
    response = render(request, "admin/login_locked.html", context, status=429)
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response


def _next_url(request) -> str:
    url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return reverse("admin:index")


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def record_lock(sender, request, username, ip_address, **kwargs) -> None:
    """Publish `staff.login_locked` when a failure locks a username or an address.

    axes sends `user_locked_out` also for each attempt refused during a lock; only the
    failure whose count reached the limit is the lock (that count is reached once per
    counter: attempts refused during the lock are not counted).

    The data (`accounts.payloads.LoginLocked`): the address, what was locked, and the
    username only when it names an account (a string that names none may be a password
    typed into the wrong field, and the event log keeps it). Never a password or the
    user agent. A failure to write the event is logged and does not lift the lock, which
    lives in the cache."""
    credentials = getattr(request, "axes_credentials", None)
    limit = get_failure_limit(request, credentials)
    if getattr(request, "axes_failures_since_start", None) != limit:
        return
    parameters = get_lockout_parameters(request, credentials)
    keys = get_client_cache_keys(request, credentials)
    counts = get_cache().get_many(keys)
    locked_by = [
        _parameter_name(parameter)
        for parameter, key in zip(parameters, keys, strict=True)
        if counts.get(key, 0) >= limit
    ]
    user = _account(username)
    cool_off = get_cool_off(request) or timedelta()
    try:
        with transaction.atomic():
            publish(
                LOCKED,
                payloads.login_locked(
                    username=user.get_username() if user else None,
                    address=ip_address,
                    locked_by=locked_by,
                    failures=limit,
                    seconds=int(cool_off.total_seconds()),
                    until=timezone.now() + cool_off,
                ),
                actor=None,
                subject=f"user:{user.pk}" if user else "",
            )
    except DatabaseError:
        logger.exception("could not record %s for %s", LOCKED, ip_address)


def _parameter_name(parameter: str | list[str]) -> str:
    if isinstance(parameter, str):
        return PARAMETER_NAMES.get(parameter, parameter)
    return "+".join(PARAMETER_NAMES.get(part, part) for part in parameter)


def _account(username: str | None):
    if not username or len(username) > USERNAME_MAX_LENGTH:
        return None
    User = get_user_model()
    return User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()


def connect() -> None:
    """Called from AccountsConfig.ready()."""
    user_locked_out.connect(record_lock, dispatch_uid="accounts.logins.record_lock")
