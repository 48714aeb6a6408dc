"""Who may hold `/ws/dashboard/` open: the rule at connect and every few seconds after.

A socket outlives the request that opened it: a user demoted, deactivated or logged out
(sessions deleted, password changed) must stop receiving the dashboard within seconds,
not when they close the tab. The rule is the one a dashboard page applies, read fresh
from the database rather than from the connection's cached user and permission cache:

- the session still exists in the session store (not expired), names this user and an
  authentication backend still configured, and its auth hash still matches the user's
  password hash (or a SECRET_KEY_FALLBACKS hash), as `django.contrib.auth.get_user`
  checks — else 4401;
- the user is active and staff and holds `dashboard.view_dashboard` — else 4403.

`verdicts` answers for every dashboard socket of a process at once, in a fixed number of
queries (sessions, users, permission holders), so the hub rechecks them all in one batch
every few seconds whatever their number (dashboard.hub).
"""

from __future__ import annotations

import logging
from importlib import import_module

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.utils import timezone
from django.utils.crypto import constant_time_compare

logger = logging.getLogger(__name__)

PERMISSION = "dashboard.view_dashboard"
LOGGED_OUT = 4401
FORBIDDEN = 4403


def verdicts(sockets: dict[str, tuple[str | None, object]]) -> dict[str, int | None]:
    """For each socket (its id -> (session key, user id)): None if it may stay open,
    else the close code (4401 session no longer valid, 4403 no longer permitted)."""
    keys = {key for key, _user in sockets.values() if key}
    sessions = _session_data(keys)
    user_ids = {user for _key, user in sockets.values() if user is not None}
    User = auth.get_user_model()
    users = {user.pk: user for user in User._default_manager.filter(pk__in=user_ids)}
    permitted = _holders(set(users)) if users else set()
    found = {}
    for socket, (key, user_id) in sockets.items():
        user = users.get(user_id)
        session = sessions.get(key) if key else None
        if user is None or session is None or not _session_is_for(session, user):
            found[socket] = LOGGED_OUT
        elif not (user.is_active and user.is_staff and user.pk in permitted):
            found[socket] = FORBIDDEN
        else:
            found[socket] = None
    return found


def _session_data(keys: set[str]) -> dict[str, dict]:
    """Each live session's data, by key (expired and deleted ones are absent)."""
    if not keys:
        return {}
    store = import_module(settings.SESSION_ENGINE).SessionStore
    if hasattr(store, "get_model_class"):  # the database-backed engines: one query
        rows = store.get_model_class().objects.filter(
            session_key__in=keys, expire_date__gt=timezone.now()
        )
        return {row.session_key: store().decode(row.session_data) for row in rows}
    data = {}
    for key in keys:  # cache, file or signed-cookie sessions: one read each
        loaded = store(key).load()
        if loaded:
            data[key] = loaded
    return data


def _session_is_for(session: dict, user) -> bool:
    if str(session.get(SESSION_KEY)) != str(user._meta.pk.value_to_string(user)):
        return False
    if session.get(BACKEND_SESSION_KEY) not in settings.AUTHENTICATION_BACKENDS:
        return False
    stored = session.get(HASH_SESSION_KEY)
    if not stored:
        return False
    if constant_time_compare(stored, user.get_session_auth_hash()):
        return True
    return any(
        constant_time_compare(stored, fallback)
        for fallback in user.get_session_auth_fallback_hash()
    )


def _holders(user_ids: set) -> set:
    """Which of these users hold PERMISSION (active superusers hold every permission),
    one query per authentication backend that can list holders."""
    holders = set()
    for backend in auth.get_backends():
        with_perm = getattr(backend, "with_perm", None)
        if with_perm is None:
            continue
        holders |= set(
            with_perm(PERMISSION, is_active=True, include_superusers=True)
            .filter(pk__in=user_ids)
            .values_list("pk", flat=True)
        )
    return holders
