"""Members: register by platform identity, link an identity, look up, update the profile.

Each calls the accounts action every other door calls (`register_member`,
`link_identity`, `update_member`, `update_profile`) with the key's actor; a call about a
member marks them active (`api.routes.common.acts`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from ninja import Router, Schema

from accounts import actions
from accounts.actions.profiles import PROFILE_EDITABLE
from accounts.models import Identity, Member, Platform, Profile
from api import idempotency
from api.auth import scope
from api.problems import Problem
from api.routes.common import acts, get_or_404
from api.schemas import PathId, text

router = Router(tags=["members"])
PlatformName = text(16, 1)


class IdentityIn(Schema):
    platform: PlatformName
    external_id: text(64, 1)
    username: text(150) = ""
    first_name: text(150) = ""
    last_name: text(150) = ""
    is_bot: bool = False


class RegisterIn(IdentityIn):
    email: text(254) | None = None
    referral_code: text(32) | None = None


class ProfileIn(Schema):
    """The member's own fields (`update_member`) and their profile (`update_profile`:
    docs/PROFILES.md has the schemas of `preferences` and `personality`)."""

    display_name: text(150) | None = None
    language: text(16, 1) | None = None
    email: text(254) | None = None
    archetype: text(16) | None = None
    welcomed: bool | None = None
    onboarding_completed: bool | None = None
    tutorial_completed: bool | None = None
    preferences: dict[str, Any] | None = None
    personality: dict[str, Any] | None = None


class IdentityOut(Schema):
    platform: str
    external_id: str
    username: str
    first_name: str
    last_name: str
    is_bot: bool


class ProfileOut(Schema):
    archetype: str
    welcomed: bool
    onboarding_completed: bool
    tutorial_completed: bool
    preferences: dict[str, Any]
    personality: dict[str, Any]


class MemberOut(Schema):
    id: int
    display_name: str
    language: str
    is_premium: bool
    is_active: bool
    email: str
    referral_code: str
    referred_by: int | None
    created_at: datetime
    last_active_at: datetime | None
    identities: list[IdentityOut]
    profile: ProfileOut


class RegistrationOut(MemberOut):
    created: bool


def member_data(member: Member) -> dict:
    identities = Identity.objects.filter(member_id=member.pk).order_by("id")
    profile = Profile.objects.get(member_id=member.pk)
    return MemberOut(
        id=member.pk,
        display_name=member.display_name,
        language=member.language,
        is_premium=member.is_premium,
        is_active=member.is_active,
        email=member.email,
        referral_code=member.referral_code,
        referred_by=member.referred_by_id,
        created_at=member.created_at,
        last_active_at=member.last_active_at,
        identities=[
            IdentityOut(
                platform=i.platform,
                external_id=i.external_id,
                username=i.username,
                first_name=i.first_name,
                last_name=i.last_name,
                is_bot=i.is_bot,
            )
            for i in identities
        ],
        profile=ProfileOut(
            **{name: getattr(profile, name) for name in PROFILE_EDITABLE},
        ),
    ).model_dump(mode="json")


@router.post(
    "",
    auth=scope("members:write"),
    response={200: RegistrationOut, 201: RegistrationOut},
    summary="Register a member by platform identity (the same identity again: 200, no write)",
    openapi_extra=idempotency.OPTIONAL,
)
def register(request: HttpRequest, payload: RegisterIn):
    def work():
        member, created = actions.register_member(
            platform=payload.platform,
            external_id=payload.external_id,
            username=payload.username,
            email=payload.email,
            referral_code=payload.referral_code,
            first_name=payload.first_name,
            last_name=payload.last_name,
            is_bot=payload.is_bot,
            actor=request.auth.actor,
        )
        if not created:  # a known member again (a /start): their activity
            actions.note_activity(member)
            member.refresh_from_db(fields=["last_active_at"])
        return (201 if created else 200), {**member_data(member), "created": created}

    return idempotency.write(request, payload.model_dump(mode="json"), work, moves_value=False)


@router.get(
    "/by-identity/{platform}/{external_id}",
    auth=scope("members:read"),
    response=MemberOut,
    summary="Look a member up by platform id",
)
def by_identity(request: HttpRequest, platform: PlatformName, external_id: text(64, 1)):
    if platform not in Platform.values:
        raise Problem(404, "member_not_found", "no member has this identity")
    identity = (
        Identity.objects.select_related("member")
        .filter(platform=platform, external_id=external_id.strip())
        .first()
    )
    if identity is None:
        raise Problem(404, "member_not_found", "no member has this identity")
    return member_data(identity.member)


@router.get("/{member_id}", auth=scope("members:read"), response=MemberOut, summary="A member")
def get_member(request: HttpRequest, member_id: PathId):
    return member_data(get_or_404(Member.objects, member_id, "member"))


@router.post(
    "/{member_id}/identities",
    auth=scope("members:write"),
    response={200: MemberOut, 201: MemberOut},
    summary="Link another platform identity to a member",
    openapi_extra=idempotency.OPTIONAL,
)
def link_identity(request: HttpRequest, member_id: PathId, payload: IdentityIn):
    acts(member_id)

    def work():
        member = get_or_404(Member.objects, member_id, "member")
        before = Identity.objects.filter(member_id=member.pk).count()
        actions.link_identity(
            member,
            platform=payload.platform,
            external_id=payload.external_id,
            username=payload.username,
            first_name=payload.first_name,
            last_name=payload.last_name,
            is_bot=payload.is_bot,
            actor=request.auth.actor,
        )
        after = Identity.objects.filter(member_id=member.pk).count()
        return (201 if after > before else 200), member_data(member)

    return idempotency.write(request, payload.model_dump(mode="json"), work, moves_value=False)


@router.patch(
    "/{member_id}",
    auth=scope("members:write"),
    response=MemberOut,
    summary="Update a member (display name, language, email) and their profile (archetype,"
    " onboarding flags, preferences, personality)",
    openapi_extra=idempotency.OPTIONAL,
)
def update_profile(request: HttpRequest, member_id: PathId, payload: ProfileIn):
    changes = payload.model_dump(exclude_unset=True)
    if any(value is None for value in changes.values()):
        raise Problem(422, "validation_failed", "a field sent cannot be null")
    acts(member_id)
    profile = {name: changes.pop(name) for name in PROFILE_EDITABLE if name in changes}

    def work():
        member = get_or_404(Member.objects, member_id, "member")
        with transaction.atomic():  # both or neither
            if changes:
                member = actions.update_member(member, actor=request.auth.actor, **changes)
            if profile:
                actions.update_profile(member, actor=request.auth.actor, **profile)
        return 200, member_data(member)

    return idempotency.write(request, payload.model_dump(mode="json"), work, moves_value=False)
