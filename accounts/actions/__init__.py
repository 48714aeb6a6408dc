"""Every write to members, identities, profiles and subscriptions goes through here.

One module per subject, re-exported so callers keep `accounts.actions.<name>`:
`registration` (register_member, link_identity, update_member), `subscriptions`
(start, renew, change_tier, cancel, expire), `profiles` (update_profile, note_activity),
and `accounts.erasure` (erase_member).
"""

from __future__ import annotations

from accounts.actions.profiles import note_activity, update_profile
from accounts.actions.registration import (
    DEFAULT_NAME_SUFFIX,
    DISPLAY_NAME_MAX,
    EXTERNAL_ID_IN_NAME_MIN,
    EXTERNAL_ID_MAX,
    MEMBER_EDITABLE,
    NAME_MAX,
    REFERRAL_CODE_ATTEMPTS,
    USERNAME_MAX,
    Registration,
    RegistrationRequest,
    default_display_name,
    hidden_character,
    link_identity,
    names_an_external_id,
    new_referral_code,
    refuse_taken_email,
    register_member,
    update_member,
    validate_display_name,
    validate_identity,
    validate_registration,
    validate_username,
)
from accounts.actions.subscriptions import (
    EXPIRE_BATCH,
    cancel_subscription,
    change_tier,
    expire_subscriptions,
    renew_subscription,
    start_subscription,
)

# Erasure has its own module (what it removes and keeps is its docstring); its public
# name is here with the other accounts actions.
from accounts.erasure import erase_member

__all__ = [
    "DEFAULT_NAME_SUFFIX",
    "DISPLAY_NAME_MAX",
    "EXPIRE_BATCH",
    "EXTERNAL_ID_IN_NAME_MIN",
    "EXTERNAL_ID_MAX",
    "MEMBER_EDITABLE",
    "NAME_MAX",
    "REFERRAL_CODE_ATTEMPTS",
    "USERNAME_MAX",
    "Registration",
    "RegistrationRequest",
    "cancel_subscription",
    "change_tier",
    "default_display_name",
    "erase_member",
    "expire_subscriptions",
    "hidden_character",
    "link_identity",
    "names_an_external_id",
    "new_referral_code",
    "note_activity",
    "refuse_taken_email",
    "register_member",
    "renew_subscription",
    "start_subscription",
    "update_member",
    "update_profile",
    "validate_display_name",
    "validate_identity",
    "validate_registration",
    "validate_username",
]
