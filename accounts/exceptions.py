from __future__ import annotations

from config.errors import Refusal


class AccountsError(Refusal):
    """Base error of the accounts app; every refusal of an accounts action is one."""


class InvalidEmail(AccountsError, ValueError):
    """The address cannot be an email address."""


class InvalidIdentity(AccountsError, ValueError):
    """Unknown platform, a blank or over-long external id, or a username with a control
    or format character."""


class InvalidDisplayName(AccountsError, ValueError):
    """A display name too long, with a control or format character, or containing one of
    the member's external ids."""


class EmailAlreadyRegistered(AccountsError):
    """The address normalizes to one another member already has."""

    def __init__(self, email: str, normalized: str):
        super().__init__(f"{email!r} is already registered (as {normalized!r})")
        self.email = email
        self.normalized = normalized


class UnknownReferralCode(AccountsError):
    def __init__(self, code: str):
        super().__init__(f"no member has referral code {code!r}")
        self.code = code


class IdentityAlreadyLinked(AccountsError):
    """The (platform, external id) belongs to another member."""


class SubscriptionAlreadyActive(AccountsError):
    """The member has a current subscription (active, not past its expiry): renew it,
    change its tier or cancel it; one past its expiry does not block a new one."""


class InvalidSubscription(AccountsError, ValueError):
    """Unknown tier, an expiry not after the start, or a renewal that does not move a
    subscription's expiry later (or of one without expiry)."""


class InvalidExternalId(InvalidIdentity):
    """A Telegram or Discord id that is not the platform's number: digits only, no
    leading zero, at most 20 ("042" is refused, not read as "42")."""

    def __init__(self, platform: str, external_id: str):
        super().__init__(
            f"a {platform} id is a number without a leading zero (1 to 20 digits),"
            f" not {external_id!r}"
        )
        self.platform = platform
        self.external_id = external_id


class SubscriptionNotActive(AccountsError):
    """The subscription has ended (cancelled, expired or replaced), or its expiry has
    passed: renew or change only a current one; start a new one instead."""


class InvalidProfile(AccountsError, ValueError):
    """A profile change that its schema refuses (docs/PROFILES.md); `errors` says where."""

    def __init__(self, message: str, errors: list[str] | None = None):
        super().__init__(message)
        self.errors = errors or []


class UnknownArchetype(InvalidProfile):
    """An archetype that is not one of `accounts.models.Archetype`."""


class InvalidPreferences(InvalidProfile):
    """Preferences that do not fit `accounts.profiles.Preferences`."""


class InvalidPersonality(InvalidProfile):
    """Personality dimensions that do not fit `accounts.profiles.Personality`."""


class ErasureRefused(AccountsError):
    """Base of the refusals of `erase_member`."""


class ErasureReasonRequired(ErasureRefused, ValueError):
    """An erasure needs a reason (the request it answers), written to its event."""


class ErasureNotPermitted(ErasureRefused, PermissionError):
    """Only a staff user holding accounts.erase_member may erase a member."""


class MemberAlreadyErased(ErasureRefused):
    """The member's personal data was erased already."""


class MemberErased(AccountsError):
    """The member's personal data was erased (`erase_member`): their fields, profile and
    identities are not changed again (a returning person registers anew)."""

    def __init__(self, member_id: int):
        super().__init__(f"member {member_id} was erased; their data is not changed again")
        self.member_id = member_id
