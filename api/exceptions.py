from __future__ import annotations

from config.errors import Refusal


class ApiError(Refusal):
    """Base error of the api app; every refusal of an api action is one."""


class InvalidKeyRequest(ApiError, ValueError):
    """A key that cannot be made: blank label, unknown scope, expiry not in the future."""


class UnknownKey(ApiError, LookupError):
    """No key has this prefix."""


class KeyNotActive(ApiError):
    """The key is revoked or expired: it cannot be rotated."""


class InvalidWebhook(ApiError, ValueError):
    """A webhook endpoint that cannot be made or changed: bad URL, scope or kinds, or a
    key that may not read events."""


class UnknownWebhook(ApiError, LookupError):
    """No such webhook endpoint (for this key), or no such delivery."""


class WebhookDisabled(ApiError):
    """The endpoint is disabled: enable it before redelivering."""
