"""Errors as RFC 9457 problem details (`application/problem+json`).

Every refusal has a stable `code` (also the last segment of `type`): bots branch on it,
never on the wording of `detail`. A domain exception's code is in `DOMAIN`, one entry per
exception class of accounts, ledger, narrative, payments and tournaments (tests/api/test_errors.py
checks that none is missing, so a new exception gets its code on purpose)."""

from __future__ import annotations

import json

from django.http import HttpResponse

from accounts import exceptions as accounts
from api import exceptions as api
from ledger import exceptions as ledger
from narrative import exceptions as narrative
from payments import exceptions as payments
from tournaments import exceptions as tournaments

CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://concord.invalid/problems/"

# exception class -> (HTTP status, code). 422: the request cannot be done as asked;
# 409: it conflicts with the current state; 404: what it names does not exist.
DOMAIN: dict[type[Exception], tuple[int, str]] = {
    accounts.AccountsError: (422, "accounts_error"),
    accounts.InvalidEmail: (422, "invalid_email"),
    accounts.InvalidIdentity: (422, "invalid_identity"),
    accounts.InvalidDisplayName: (422, "invalid_display_name"),
    accounts.EmailAlreadyRegistered: (409, "email_already_registered"),
    accounts.UnknownReferralCode: (422, "unknown_referral_code"),
    accounts.IdentityAlreadyLinked: (409, "identity_already_linked"),
    accounts.SubscriptionAlreadyActive: (409, "subscription_already_active"),
    accounts.InvalidSubscription: (422, "invalid_subscription"),
    accounts.InvalidExternalId: (422, "invalid_external_id"),
    accounts.SubscriptionNotActive: (409, "subscription_not_active"),
    accounts.InvalidProfile: (422, "invalid_profile"),
    accounts.UnknownArchetype: (422, "unknown_archetype"),
    accounts.InvalidPreferences: (422, "invalid_preferences"),
    accounts.InvalidPersonality: (422, "invalid_personality"),
    accounts.ErasureRefused: (422, "erasure_refused"),
    accounts.ErasureReasonRequired: (422, "erasure_reason_required"),
    accounts.ErasureNotPermitted: (403, "erasure_not_permitted"),
    accounts.MemberAlreadyErased: (409, "member_already_erased"),
    accounts.MemberErased: (409, "member_erased"),
    ledger.LedgerError: (422, "ledger_error"),
    ledger.InvalidAmount: (422, "invalid_amount"),
    ledger.InvalidRequest: (422, "invalid_request"),
    ledger.UnknownCurrency: (422, "unknown_currency"),
    ledger.UnknownMember: (404, "member_not_found"),
    ledger.InsufficientFunds: (409, "insufficient_funds"),
    ledger.IdempotencyConflict: (409, "idempotency_conflict"),
    ledger.AlreadyReversed: (409, "already_reversed"),
    ledger.InvalidReversal: (422, "invalid_reversal"),
    ledger.HoldNotPending: (409, "hold_not_pending"),
    ledger.HoldExpired: (409, "hold_expired"),
    ledger.AchievementError: (422, "achievement_error"),
    ledger.ArchiveRaced: (409, "archive_raced"),
    narrative.NarrativeError: (422, "narrative_error"),
    narrative.InvalidRequest: (422, "invalid_request"),
    narrative.InvalidStory: (422, "invalid_story"),
    narrative.StoryNotPublished: (409, "story_not_published"),
    narrative.NotStarted: (409, "story_not_started"),
    narrative.NotCurrentChapter: (409, "not_current_chapter"),
    narrative.ChapterLocked: (403, "chapter_locked"),
    narrative.ChapterAlreadyDecided: (409, "chapter_already_decided"),
    narrative.RelationshipOutOfRange: (409, "relationship_out_of_range"),
    payments.PaymentsError: (422, "payments_error"),
    payments.InvalidPayment: (422, "invalid_payment"),
    payments.PaymentNotFound: (404, "payment_not_found"),
    payments.PaymentConflict: (409, "payment_conflict"),
    payments.PaymentFailed: (409, "payment_failed"),
    payments.PaymentAlreadyCompleted: (409, "payment_already_completed"),
    payments.PaymentNotRefundable: (409, "payment_not_refundable"),
    payments.RefundWouldOverdraw: (409, "refund_would_overdraw"),
    payments.InvalidReading: (422, "invalid_reading"),
    payments.NotAReadingHold: (404, "not_a_reading"),
    payments.ReadingConflict: (409, "reading_conflict"),
    payments.ReadingNotOpen: (409, "reading_not_open"),
    payments.ReadingAlreadyFinished: (409, "reading_already_finished"),
    tournaments.TournamentsError: (422, "tournaments_error"),
    tournaments.InvalidTournament: (422, "invalid_tournament"),
    tournaments.InvalidRequest: (422, "invalid_request"),
    tournaments.IllegalTransition: (409, "illegal_transition"),
    tournaments.RegistrationClosed: (409, "registration_closed"),
    tournaments.TournamentFull: (409, "tournament_full"),
    tournaments.Disqualified: (403, "disqualified"),
    tournaments.NotCheckInTime: (409, "not_check_in_time"),
    tournaments.NotRegistered: (409, "not_registered"),
    tournaments.TournamentStarted: (409, "tournament_started"),
    tournaments.BracketError: (409, "bracket_error"),
    tournaments.InvalidResult: (422, "invalid_result"),
    tournaments.NotFinished: (409, "not_finished"),
    api.ApiError: (422, "api_error"),
    api.InvalidKeyRequest: (422, "invalid_key_request"),
    api.UnknownKey: (404, "unknown_key"),
    api.KeyNotActive: (409, "key_not_active"),
    api.InvalidWebhook: (422, "invalid_webhook"),
    api.UnknownWebhook: (404, "webhook_not_found"),
    api.WebhookDisabled: (409, "webhook_disabled"),
}
DOMAIN_BASES = (
    accounts.AccountsError,
    ledger.LedgerError,
    narrative.NarrativeError,
    payments.PaymentsError,
    tournaments.TournamentsError,
    api.ApiError,
)
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
}


class Problem(Exception):
    """Raised anywhere under /api/v1/ to answer with a problem body."""

    def __init__(self, status: int, code: str, detail: str = "", **extra):
        super().__init__(detail or code)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra
        self.headers: dict[str, str] = extra.pop("headers", {})

    def body(self) -> dict:
        return body(self.status, self.code, self.detail, **self.extra)


def body(status: int, code: str, detail: str = "", **extra) -> dict:
    data = {
        "type": TYPE_BASE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "code": code,
    }
    if detail:
        data["detail"] = detail
    data.update(extra)
    return data


def of_domain(exc: Exception) -> Problem:
    """The problem a domain exception answers with (its class's entry, else its base's)."""
    for cls in type(exc).__mro__:
        if cls in DOMAIN:
            status, code = DOMAIN[cls]
            extra = {}
            if isinstance(exc, ledger.IdempotencyConflict):
                extra["fields"] = list(exc.fields)
            if isinstance(exc, narrative.ChapterLocked):
                extra["rule"] = exc.rule
            return Problem(status, code, str(exc), **extra)
    raise TypeError(f"{type(exc).__name__} is not a domain exception")


def response(status: int, data: dict, headers: dict[str, str] | None = None) -> HttpResponse:
    """A JSON response; a problem's when `status` >= 400."""
    answer = HttpResponse(
        json.dumps(data, ensure_ascii=False),
        status=status,
        content_type=CONTENT_TYPE if status >= 400 else "application/json",
    )
    for name, value in (headers or {}).items():
        answer[name] = value
    return answer


def render(problem: Problem) -> HttpResponse:
    return response(problem.status, problem.body(), problem.headers)
