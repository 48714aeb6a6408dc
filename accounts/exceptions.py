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
    """The member has an active subscription; cancel it before starting another."""


class InvalidSubscription(AccountsError, ValueError):
    """Unknown tier, or an expiry not after the start."""


class ErasureRefused(AccountsError):
    """Base of the refusals of `erase_member`."""


class ErasureReasonRequired(ErasureRefused, ValueError):
    """An erasure needs a reason (the request it answers), written to its event."""


class ErasureNotPermitted(ErasureRefused, PermissionError):
    """Only a staff user holding accounts.erase_member may erase a member."""


class MemberAlreadyErased(ErasureRefused):
    """The member's personal data was erased already."""
