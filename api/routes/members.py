"""Members: register by platform identity, link an identity, look up, update the profile.

Each calls the accounts action every other door calls (`register_member`,
`link_identity`, `update_member`) with the key's actor."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from accounts import actions
from accounts.models import Identity, Member, Platform
from api import idempotency
from api.auth import scope
from api.problems import Problem
from api.routes.common import get_or_404
from api.schemas import PathId, text

router = Router(tags=["members"])
PlatformName = text(16, 1)


class IdentityIn(Schema):
    platform: PlatformName
    external_id: text(64, 1)
    username: text(150) = ""


class RegisterIn(IdentityIn):
    email: text(254) | None = None
    referral_code: text(32) | None = None


class ProfileIn(Schema):
    display_name: text(150) | None = None
    language: text(16, 1) | None = None
    email: text(254) | None = None


class IdentityOut(Schema):
    platform: str
    external_id: str
    username: str


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
    identities: list[IdentityOut]


class RegistrationOut(MemberOut):
    created: bool


def member_data(member: Member) -> dict:
    identities = Identity.objects.filter(member_id=member.pk).order_by("id")
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
        identities=[
            IdentityOut(platform=i.platform, external_id=i.external_id, username=i.username)
            for i in identities
        ],
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
            actor=request.auth.actor,
        )
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
    def work():
        member = get_or_404(Member.objects, member_id, "member")
        before = Identity.objects.filter(member_id=member.pk).count()
        actions.link_identity(
            member,
            platform=payload.platform,
            external_id=payload.external_id,
            username=payload.username,
            actor=request.auth.actor,
        )
        after = Identity.objects.filter(member_id=member.pk).count()
        return (201 if after > before else 200), member_data(member)

    return idempotency.write(request, payload.model_dump(mode="json"), work, moves_value=False)


@router.patch(
    "/{member_id}",
    auth=scope("members:write"),
    response=MemberOut,
    summary="Update a member's profile (display name, language, email)",
    openapi_extra=idempotency.OPTIONAL,
)
def update_profile(request: HttpRequest, member_id: PathId, payload: ProfileIn):
    changes = payload.model_dump(exclude_unset=True)
    if any(value is None for value in changes.values()):
        raise Problem(422, "validation_failed", "a field sent cannot be null")

    def work():
        member = get_or_404(Member.objects, member_id, "member")
        updated = actions.update_member(member, actor=request.auth.actor, **changes)
        return 200, member_data(updated)

    return idempotency.write(request, payload.model_dump(mode="json"), work, moves_value=False)
