"""Registering members, linking identities, changing a member's own fields."""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import events
from accounts import payloads, sql
from accounts.emails import normalize_email
from accounts.erasure import is_erased
from accounts.exceptions import (
    AccountsError,
    EmailAlreadyRegistered,
    IdentityAlreadyLinked,
    InvalidDisplayName,
    InvalidExternalId,
    InvalidIdentity,
    MemberErased,
    UnknownReferralCode,
)
from accounts.models import (
    HIDDEN_CHARACTERS_PATTERN,
    NUMERIC_ID_PATTERN,
    NUMERIC_PLATFORMS,
    REFERRAL_ALPHABET,
    REFERRAL_CODE_LENGTH,
    REFERRAL_CODE_PATTERN,
    Identity,
    Member,
    Platform,
)
from accounts.signals import member_registered

REFERRAL_CODE_ATTEMPTS = 8
EXTERNAL_ID_MAX = Identity._meta.get_field("external_id").max_length
USERNAME_MAX = Identity._meta.get_field("username").max_length
NAME_MAX = Identity._meta.get_field("first_name").max_length
DISPLAY_NAME_MAX = Member._meta.get_field("display_name").max_length
# External ids this long or longer must not appear in a display name (accounts.integrity
# reports one that does). Telegram's and Discord's ids are far longer; a shorter id turns
# up in ordinary names by chance ("Agent 007").
EXTERNAL_ID_IN_NAME_MIN = 5
DEFAULT_NAME_SUFFIX = 4


class Registration(NamedTuple):
    member: Member
    created: bool


@dataclass(frozen=True)
class RegistrationRequest:
    """A registration's input, validated and normalized; nothing written yet."""

    platform: str
    external_id: str
    username: str
    email: str
    email_normalized: str | None
    referrer: Member | None
    first_name: str = ""
    last_name: str = ""
    is_bot: bool = False


def new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly
_HIDDEN_CHARACTERS = re.compile(HIDDEN_CHARACTERS_PATTERN)  # Cc, Cf, Zl, Zp: see the model


def _has_control_characters(text: str) -> bool:
    return _CONTROL_CHARACTERS.search(text) is not None


def hidden_character(text: str) -> str | None:
    """The first control, format or separator character in `text` ("U+202E RIGHT-TO-LEFT
    OVERRIDE"), or None if it has none (what the `..._printable` constraints refuse)."""
    found = _HIDDEN_CHARACTERS.search(text)
    if found is None:
        return None
    char = found.group()
    return f"U+{ord(char):04X} {unicodedata.name(char, '')}".rstrip()


def default_display_name() -> str:
    """The name of a member who gave none: "Member 7KQF". Neutral on purpose: never the
    external id or platform (overlays show it), and not derived from anything of theirs."""
    suffix = "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(DEFAULT_NAME_SUFFIX))
    return f"Member {suffix}"


def names_an_external_id(name: str, external_ids) -> bool:
    """Whether `name` contains one of `external_ids` long enough to matter."""
    return any(
        len(external_id) >= EXTERNAL_ID_IN_NAME_MIN and external_id in name
        for external_id in external_ids
    )


def validate_identity(platform: str, external_id) -> tuple[str, str]:
    if platform not in Platform.values:
        raise InvalidIdentity(
            f"unknown platform {platform!r} (expected one of {', '.join(Platform.values)})"
        )
    external_id = str(external_id).strip() if external_id is not None else ""
    if not external_id:
        raise InvalidIdentity("an identity needs an external id")
    if len(external_id) > EXTERNAL_ID_MAX:
        raise InvalidIdentity(f"external id is longer than {EXTERNAL_ID_MAX} characters")
    if _has_control_characters(external_id):
        raise InvalidIdentity("external id contains control characters")
    if platform in NUMERIC_PLATFORMS and re.match(NUMERIC_ID_PATTERN, external_id) is None:
        # Refused, not normalised: "042" is no id the platform gives, and guessing it
        # means "42" could bind a typo to someone else's account.
        raise InvalidExternalId(platform, external_id)
    return platform, external_id


def validate_username(username: str | None) -> str:
    username = (username or "").strip()[:USERNAME_MAX]
    found = hidden_character(username)
    if found:
        raise InvalidIdentity(
            f"username contains {found}, a control or format character (invisible, or"
            " reordering the text around it)"
        )
    return username


def validate_person_name(name: str | None, label: str) -> str:
    """A first or last name on an identity (as the platform gives it): trimmed, cut to
    150 characters, without control or format characters."""
    name = (name or "").strip()[:NAME_MAX]
    found = hidden_character(name)
    if found:
        raise InvalidIdentity(f"{label} contains {found}, a control or format character")
    return name


def validate_display_name(name, external_ids=()) -> str:
    """`name` if it can be a display name: text of at most 150 characters, without control
    or format characters, not containing one of the member's `external_ids`."""
    if not isinstance(name, str):
        raise InvalidDisplayName(f"a display name is text, not {type(name).__name__}")
    if len(name) > DISPLAY_NAME_MAX:
        raise InvalidDisplayName(f"a display name has at most {DISPLAY_NAME_MAX} characters")
    found = hidden_character(name)
    if found:
        raise InvalidDisplayName(
            f"display name contains {found}, a control or format character (invisible, or"
            " reordering the text around it)"
        )
    if names_an_external_id(name, external_ids):
        raise InvalidDisplayName(
            "a display name cannot contain the member's external id (it is shown on streams)"
        )
    return name


def validate_registration(
    *,
    platform: str,
    external_id,
    username: str = "",
    email: str | None = None,
    referral_code: str | None = None,
    first_name: str = "",
    last_name: str = "",
    is_bot: bool = False,
) -> RegistrationRequest:
    """Check a registration without writing: raises the same errors register_member would."""
    platform, external_id = validate_identity(platform, external_id)
    username = validate_username(username)
    first_name = validate_person_name(first_name, "first name")
    last_name = validate_person_name(last_name, "last name")
    email = (email or "").strip()
    email_normalized = normalize_email(email) if email else None
    referrer = None
    if referral_code:
        code = str(referral_code).strip().upper()
        # A code that cannot exist is unknown without asking the database (which would
        # refuse a NUL byte with a raw DataError).
        if re.fullmatch(REFERRAL_CODE_PATTERN, code) is None:
            raise UnknownReferralCode(str(referral_code))
        referrer = Member.objects.filter(referral_code=code).first()
        if referrer is None:
            raise UnknownReferralCode(referral_code)
    return RegistrationRequest(
        platform,
        external_id,
        username,
        email,
        email_normalized,
        referrer,
        first_name,
        last_name,
        bool(is_bot),
    )


def register_member(
    *,
    platform: str,
    external_id,
    username: str = "",
    email: str | None = None,
    referral_code: str | None = None,
    first_name: str = "",
    last_name: str = "",
    is_bot: bool = False,
    actor=None,
) -> Registration:
    """Create member, identity and profile in one transaction and publish `member.registered`.

    The same identity again returns the existing member (`created=False`) and writes
    nothing. An email normalizing to another member's raises `EmailAlreadyRegistered`, an
    unknown referral code `UnknownReferralCode`, a Telegram or Discord id that is not the
    platform's number ("042", "abc") `InvalidExternalId`; then nothing is written.
    `first_name`, `last_name` and `is_bot` (as the platform gives them) are stored on the
    identity. Concurrent calls
    for one identity or one mailbox end with one member: the unique constraints decide,
    and the losers are answered as if they had come second.
    """
    # The common repeat (a bot calling on every /start) answered by one indexed lookup,
    # before the other arguments are looked at: they are not used for a known identity.
    platform, external_id = validate_identity(platform, external_id)
    existing = _existing_registration(platform, external_id)
    if existing is not None:
        return existing
    request = validate_registration(
        platform=platform,
        external_id=external_id,
        username=username,
        email=email,
        referral_code=referral_code,
        first_name=first_name,
        last_name=last_name,
        is_bot=is_bot,
    )
    # A taken mailbox is not looked up first: the unique constraint refuses it, and the
    # answer is worked out below, as for a race.
    try:
        return Registration(_create_member(request, actor=actor), True)
    except IntegrityError:
        # Lost a race: another transaction committed this identity or mailbox first
        # (PostgreSQL made us wait for it, so its rows are visible now).
        settled = _already_registered(request)
        if settled is not None:
            return settled
        if request.referrer and not Member.objects.filter(pk=request.referrer.pk).exists():
            raise UnknownReferralCode(referral_code or "") from None
        raise


def _already_registered(request: RegistrationRequest) -> Registration | None:
    """The answer when the identity or the mailbox exists already, else None."""
    existing = _existing_registration(request.platform, request.external_id)
    if existing is not None:
        return existing
    if _email_taken(request):
        # The mailbox may be this very identity's, committed by a concurrent call after
        # the first look: look again before calling it someone else's.
        existing = _existing_registration(request.platform, request.external_id)
        if existing is not None:
            return existing
        raise EmailAlreadyRegistered(request.email, request.email_normalized)
    return None


def _existing_registration(platform: str, external_id: str) -> Registration | None:
    """`created=False` for a known identity: one indexed lookup, the member only if found."""
    with connection.cursor() as cursor:
        cursor.execute(_SELECT_IDENTITY, [platform, external_id])
        row = cursor.fetchone()
    return Registration(Member.objects.get(pk=row[0]), False) if row else None


def _email_taken(request: RegistrationRequest) -> bool:
    return bool(
        request.email_normalized
        and Member.objects.filter(email_normalized=request.email_normalized).exists()
    )


def refuse_taken_email(request: RegistrationRequest) -> None:
    if _email_taken(request):
        raise EmailAlreadyRegistered(request.email, request.email_normalized)


# Registration is the hottest write in Concord; these statements cost a fraction of the
# ORM's save() in client CPU. The model's constraints and triggers hold them all the same,
# and the tests run them on SQLite and PostgreSQL.
_SELECT_IDENTITY = sql.statement("identity_member")
_INSERT_MEMBER = sql.statement("member_insert")
_INSERT_MEMBER_IDENTITY_PROFILE = sql.statement(
    "register.pg",
    member_insert=_INSERT_MEMBER,
    identity_insert=sql.statement(
        "identity_insert", values="SELECT id, %s, %s, %s, %s, %s, %s, %s FROM member"
    ),
    profile_insert=sql.statement(
        "profile_insert", values="SELECT id, '', '{}', '{}', false, false, false, %s FROM member"
    ),
)
_INSERT_IDENTITY = sql.statement(
    "identity_insert", values="VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_PROFILE = sql.statement(
    "profile_insert", values="VALUES (%s, '', '{}', '{}', false, false, false, %s)"
)


@transaction.atomic
def _create_member(request: RegistrationRequest, *, actor) -> Member:
    now = timezone.now()
    # A username is the member's public name already; an absent one (or one holding the
    # external id, "user7770001796535308") gives a neutral name, never the external id.
    if request.username and not names_an_external_id(request.username, [request.external_id]):
        display_name = request.username
    else:
        display_name = default_display_name()
    member = Member(
        display_name=display_name,
        email=request.email,
        email_normalized=request.email_normalized,
        referred_by=request.referrer,
        created_at=now,
        last_active_at=now,
    )
    db_now = connection.ops.adapt_datetimefield_value(now)
    identity = [
        request.platform,
        request.external_id,
        request.username,
        request.first_name,
        request.last_name,
        request.is_bot,
        db_now,
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _insert_with_fresh_referral_code(
                cursor, member, db_now, _INSERT_MEMBER_IDENTITY_PROFILE, [*identity, db_now]
            )
        else:
            _insert_with_fresh_referral_code(cursor, member, db_now, _INSERT_MEMBER, [])
            cursor.execute(_INSERT_IDENTITY, [member.pk, *identity])
            cursor.execute(_INSERT_PROFILE, [member.pk, db_now])
    events.publish(
        "member.registered",
        payloads.member_registered(
            member_id=member.pk,
            display_name=member.display_name,
            platform=request.platform,
            external_id=request.external_id,
            username=request.username,
            referred_by=request.referrer.pk if request.referrer else None,
        ),
        actor=actor,
        subject=f"member:{member.pk}",
    )
    member_registered.send(Member, member=member, referrer=request.referrer, actor=actor)
    return member


def _insert_with_fresh_referral_code(cursor, member: Member, db_now, sql: str, extra: list):
    """Run `sql` (inserting `member` first, then whatever `extra` feeds), drawing a new
    referral code while the drawn one is taken.

    Each attempt runs in a savepoint so a collision rolls back only that statement. Any
    other violation (the identity's or the email's unique constraint) propagates.
    """
    for _ in range(REFERRAL_CODE_ATTEMPTS):
        member.referral_code = new_referral_code()
        try:
            with transaction.atomic():
                cursor.execute(
                    sql,
                    [
                        member.display_name,
                        member.language,
                        member.is_active,
                        db_now,
                        db_now,
                        member.email,
                        member.email_normalized,
                        member.referral_code,
                        member.referred_by_id,
                        *extra,
                    ],
                )
                (member.pk,) = cursor.fetchone()
            member._state.adding = False
            member._state.db = connection.alias
            return
        except IntegrityError:
            if not Member.objects.filter(referral_code=member.referral_code).exists():
                raise
    raise AccountsError(
        f"could not draw an unused referral code in {REFERRAL_CODE_ATTEMPTS} attempts"
    )


MEMBER_EDITABLE = ("display_name", "language", "is_active", "email")


@transaction.atomic
def update_member(member: Member, *, actor=None, **changes) -> Member:
    """Change a member's own fields (`display_name`, `language`, `is_active`, `email`)
    and publish `member.updated` with what changed. Premium is no field: it is what a
    subscription grants (`accounts.premium`). An erased member is refused (`MemberErased`)."""
    unknown = set(changes) - set(MEMBER_EDITABLE)
    if unknown:
        raise AccountsError(f"cannot change {', '.join(sorted(unknown))} with update_member")
    # NO KEY: registrations referred by this member only need it to exist (FOR KEY SHARE);
    # a plain FOR UPDATE would queue them behind this edit, or deadlock with them.
    locked = Member.objects.select_for_update(no_key=True).get(pk=member.pk)
    if is_erased(locked):
        raise MemberErased(locked.pk)
    changed: dict[str, object] = {}
    for name, value in changes.items():
        if name == "email":
            value = (value or "").strip()
        if name == "display_name" and value != locked.display_name:
            external_ids = locked.identities.values_list("external_id", flat=True)
            value = validate_display_name(value, list(external_ids))
        if getattr(locked, name) != value:
            changed[name] = value
            setattr(locked, name, value)
    if "email" in changed:
        locked.email_normalized = normalize_email(locked.email) if locked.email else None
        if (
            locked.email_normalized
            and Member.objects.filter(email_normalized=locked.email_normalized)
            .exclude(pk=locked.pk)
            .exists()
        ):
            raise EmailAlreadyRegistered(locked.email, locked.email_normalized)
    if not changed:
        return locked
    fields = list(changed) + (["email_normalized"] if "email" in changed else [])
    try:
        with transaction.atomic():
            locked.save(update_fields=fields)
    except IntegrityError:
        if "email" in changed and locked.email_normalized:
            raise EmailAlreadyRegistered(locked.email, locked.email_normalized) from None
        raise
    events.publish(
        "member.updated",
        payloads.member_updated(member_id=locked.pk, changed=changed),
        actor=actor,
        subject=f"member:{locked.pk}",
    )
    return locked


@transaction.atomic
def link_identity(
    member: Member,
    *,
    platform: str,
    external_id,
    username: str = "",
    first_name: str = "",
    last_name: str = "",
    is_bot: bool = False,
    actor=None,
):
    """Link another platform account to `member`; linking it again returns the same row.
    An erased member gets none (`MemberErased`)."""
    platform, external_id = validate_identity(platform, external_id)
    # The lock `erase_member` takes: an identity linked while it runs would outlive it.
    if is_erased(Member.objects.select_for_update(no_key=True).get(pk=member.pk)):
        raise MemberErased(member.pk)
    existing = Identity.objects.filter(platform=platform, external_id=external_id).first()
    if existing is not None:
        if existing.member_id != member.pk:
            raise IdentityAlreadyLinked(f"{platform}:{external_id} belongs to another member")
        return existing
    try:
        with transaction.atomic():
            identity = Identity.objects.create(
                member=member,
                platform=platform,
                external_id=external_id,
                username=validate_username(username),
                first_name=validate_person_name(first_name, "first name"),
                last_name=validate_person_name(last_name, "last name"),
                is_bot=bool(is_bot),
            )
    except IntegrityError:
        raise IdentityAlreadyLinked(f"{platform}:{external_id} was just linked elsewhere") from None
    events.publish(
        "member.identity_linked",
        payloads.identity_linked(member_id=member.pk, platform=platform, external_id=external_id),
        actor=actor,
        subject=f"member:{member.pk}",
    )
    return identity
