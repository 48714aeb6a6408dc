"""Every write to progress, decisions and relationships goes through here.

`make_choice` is one transaction: it claims the member's current chapter (the row lock on
their `started` progress row serializes every submit for that chapter), pays the reward
through the ledger with the key `narrative:<member>:<chapter>`, records the decision,
starts the next chapter (or marks the ending), applies the impacts to the relationships
and publishes `narrative.decision_made`. Any refusal leaves the database as it was.

`rebuild_member_state` recomputes progress and relationships from the decisions, under
the same row locks, so it can run while the member plays.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import events
from accounts.models import Member, SubscriptionStatus, Tier
from events import actions as event_log
from events.models import Event
from events.payloads import sql_object
from ledger import actions as ledger
from ledger.models import TransferKind
from ledger.posting import Ref, SystemKey, prepared_row
from narrative import payloads
from narrative.exceptions import (
    ChapterAlreadyDecided,
    ChapterLocked,
    InvalidRequest,
    InvalidStory,
    NotCurrentChapter,
    NotStarted,
    RelationshipOutOfRange,
    StoryNotPublished,
)
from narrative.models import (
    DONE,
    LEVEL_MAX,
    LEVEL_MIN,
    Chapter,
    Character,
    Choice,
    ChoiceImpact,
    Decision,
    Progress,
    ProgressStatus,
    Relationship,
    Story,
    UnlockRule,
)

# Tiers that count as a premium subscription (a chapter's `subscription` rule).
PREMIUM_TIERS = (Tier.PREMIUM, Tier.PROFESSIONAL)


def reward_key(member_id: int, chapter_id: int) -> SystemKey:
    """The reward's idempotency key: one per member and chapter, as the decision is."""
    return SystemKey(f"narrative:{member_id}:{chapter_id}")


def _pk(obj, what: str) -> int:
    pk = obj if type(obj) is int else getattr(obj, "pk", None)
    if type(pk) is not int:
        raise InvalidRequest(f"{obj!r} is not a saved {what}")
    return pk


def _db_time(moment: datetime):
    return connection.ops.adapt_datetimefield_value(moment)


# --- what a choice does (read before the transaction) ---------------------------------


@dataclass(frozen=True)
class _Plan:
    choice_id: int
    text: str
    chapter_id: int
    number: int
    story_id: int
    title: str
    published: bool
    currency_id: int
    currency: str
    # The rules of the chapter the choice leads to (none for an ending): a member enters
    # a chapter only if they meet them.
    vip_only: bool
    unlock_rule: str
    unlock_currency_id: int | None
    unlock_currency: str | None
    unlock_amount: int | None
    next_chapter_id: int | None
    ending: str
    reward: int
    next_number: int | None
    impacts: tuple[tuple[int, int], ...]  # (character id, delta), by character id


# What a choice does, in `_Plan`'s order: read by itself on SQLite, and as the first part
# of the PostgreSQL claim (`_CLAIM`).
_PLAN = """
SELECT c.id AS choice_id, c.text, ch.id AS chapter_id, ch.number, s.id AS story_id,
       s.title, s.published, s.currency_id, cur.code AS currency,
       COALESCE(nx.vip_only, FALSE) AS vip_only,
       COALESCE(nx.unlock_rule, 'previous') AS unlock_rule, nx.unlock_currency_id,
       uc.code AS unlock_currency, nx.unlock_amount, c.next_chapter_id, c.ending,
       c.reward, nx.number AS next_number
  FROM narrative_choice c
  JOIN narrative_chapter ch ON ch.id = c.chapter_id
  JOIN narrative_story s ON s.id = ch.story_id
  JOIN ledger_currency cur ON cur.id = s.currency_id
  LEFT JOIN narrative_chapter nx ON nx.id = c.next_chapter_id
  LEFT JOIN ledger_currency uc ON uc.id = nx.unlock_currency_id
 WHERE c.id = %(choice)s
"""


def _plan(choice_id: int) -> _Plan:
    with connection.cursor() as cursor:
        cursor.execute(_PLAN, {"choice": choice_id})
        row = cursor.fetchone()
        if row is None:
            raise InvalidRequest(f"no choice {choice_id}")
        cursor.execute(
            "SELECT character_id, delta FROM narrative_choiceimpact WHERE choice_id = %s"
            " ORDER BY character_id",
            [choice_id],
        )
        impacts = tuple((character_id, delta) for character_id, delta in cursor.fetchall())
    return _Plan(*row[:6], bool(row[6]), *row[7:9], bool(row[9]), *row[10:], impacts)


# --- who the member is, as the chapter's rules ask -----------------------------------


@dataclass(frozen=True)
class _Member:
    is_premium: bool
    progress: str | None  # this chapter's status for the member
    in_story: bool  # any progress in the story
    balance: int | None
    subscribed: bool


def _member_state(member_id: int, *, story_id: int, chapter_id: int, rule: _Plan | Chapter):
    now = _db_time(timezone.now())
    sql = [
        "SELECT m.is_premium,",
        " (SELECT status FROM narrative_progress WHERE member_id = m.id AND chapter_id = %s),",
        # `+ 0`: see _CLAIM (found through the member's rows, whatever the statistics say).
        " EXISTS (SELECT 1 FROM narrative_progress WHERE member_id = m.id AND story_id + 0 = %s),",
    ]
    params: list = [chapter_id, story_id]
    if rule.unlock_rule == UnlockRule.MIN_BALANCE:
        sql.append(
            " (SELECT balance FROM ledger_account WHERE member_id = m.id AND currency_id = %s),"
        )
        params.append(rule.unlock_currency_id)
    else:
        sql.append(" NULL,")
    if rule.unlock_rule == UnlockRule.SUBSCRIPTION:
        sql.append(
            " EXISTS (SELECT 1 FROM accounts_subscription s WHERE s.member_id = m.id"
            " AND s.status = %s AND s.tier IN (%s, %s) AND s.starts_at <= %s"
            " AND (s.expires_at IS NULL OR s.expires_at > %s))"
        )
        params += [SubscriptionStatus.ACTIVE, *PREMIUM_TIERS, now, now]
    else:
        sql.append(" FALSE")
    sql.append(" FROM accounts_member m WHERE m.id = %s")
    params.append(member_id)
    with connection.cursor() as cursor:
        cursor.execute("".join(sql), params)
        row = cursor.fetchone()
    if row is None:
        raise InvalidRequest(f"no member {member_id}")
    return _Member(bool(row[0]), row[1], bool(row[2]), row[3], bool(row[4]))


def unmet_rule(chapter: _Plan | Chapter, state: _Member, *, label: str) -> ChapterLocked | None:
    """The rule of `chapter` the member does not meet now, as the error to raise."""
    if chapter.vip_only and not state.is_premium:
        return ChapterLocked(f"{label} is for VIP members only", rule="vip")
    if chapter.unlock_rule == UnlockRule.MIN_BALANCE:
        code = getattr(chapter, "unlock_currency", None)
        code = code if isinstance(code, str) else getattr(code, "code", "")
        if (state.balance or 0) < chapter.unlock_amount:
            return ChapterLocked(
                f"{label} needs a balance of at least {chapter.unlock_amount} {code}"
                f" (the member has {state.balance or 0})",
                rule=UnlockRule.MIN_BALANCE,
            )
    if chapter.unlock_rule == UnlockRule.SUBSCRIPTION and not state.subscribed:
        return ChapterLocked(
            f"{label} needs an active premium subscription", rule=UnlockRule.SUBSCRIPTION
        )
    return None


# --- starting a story ----------------------------------------------------------------


def start_story(member, story, *, actor=None) -> Progress:
    """Put `member` at chapter 1 of `story` (published). Starting again returns where the
    member is: their current chapter, or the chapter where they ended it. Raises
    `ChapterLocked` if chapter 1's rules shut the member out."""
    member_id, story_id = _pk(member, "member"), _pk(story, "story")
    found = Story.objects.filter(pk=story_id).values_list("published", "title").first()
    if found is None:
        raise InvalidRequest(f"no story {story_id}")
    published, title = found
    where = _where(member_id, story_id)
    if where is not None:
        where.created = False
        return where
    if not published:
        raise StoryNotPublished(f"story {title!r} is not published")
    first = (
        Chapter.objects.select_related("unlock_currency")
        .filter(story_id=story_id, number=1)
        .first()
    )
    if first is None:
        raise InvalidStory([f"story {title!r} has no chapter 1"])
    state = _member_state(member_id, story_id=story_id, chapter_id=first.pk, rule=first)
    locked = unmet_rule(first, state, label=f"chapter {first.number} of {title!r}")
    if locked is not None:
        raise locked
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO narrative_progress (member_id, story_id, chapter_id, status,"
                " started_at, completed_at) VALUES (%s, %s, %s, %s, %s, NULL)"
                " ON CONFLICT DO NOTHING RETURNING id",
                [member_id, story_id, first.pk, ProgressStatus.STARTED, _db_time(now)],
            )
            inserted = cursor.fetchone()
        if inserted is None:  # a concurrent start won
            where = _where(member_id, story_id)
            if where is None:  # chapter 1 played, yet no current chapter: broken state
                raise NotCurrentChapter(
                    f"member {member_id} is nowhere in {title!r} though they played it"
                    " (run rebuild_member_state)"
                )
            where.created = False
            return where
        events.publish(
            "narrative.story_started",
            payloads.story_started(story_id=story_id, member_id=member_id, chapter_id=first.pk),
            actor=actor,
            subject=f"story:{story_id}",
        )
    progress = Progress.objects.get(pk=inserted[0])
    progress.created = True
    return progress


def _where(member_id: int, story_id: int) -> Progress | None:
    """The member's current chapter in the story, else the one where they ended it."""
    return (
        Progress.objects.filter(
            member_id=member_id,
            story_id=story_id,
            status__in=(ProgressStatus.STARTED, ProgressStatus.ENDED),
        )
        .order_by("-started_at", "-pk")
        .first()
    )


# --- making a choice ---------------------------------------------------------------


class _Raced(Exception):
    """A concurrent submit decided the chapter first."""


def make_choice(member, choice, *, actor=None) -> Decision:
    """Record that `member` chose `choice` in its chapter, the member's current one.

    In one transaction: claims the chapter, pays the choice's reward (once, by a key
    derived from member and chapter), records the decision, starts the next chapter or
    marks the ending, applies the impacts and publishes `narrative.decision_made`.

    The same choice again returns the recorded decision (`created=False`); another choice
    in a decided chapter raises `ChapterAlreadyDecided`. Raises `NotStarted`,
    `NotCurrentChapter`, `ChapterLocked` (naming the unmet rule), `StoryNotPublished` or
    `RelationshipOutOfRange`, writing nothing."""
    member_id, choice_id = _pk(member, "member"), _pk(choice, "choice")
    if connection.vendor == "postgresql":
        return _make_choice_postgresql(member_id, choice_id, actor)
    plan = _plan(choice_id)
    existing = _decided(member_id, plan.chapter_id)
    if existing is not None:
        return _repeat(existing, plan)
    if not plan.published:
        raise StoryNotPublished(f"story {plan.title!r} is not published")
    try:
        with transaction.atomic():
            return _decide(member_id, plan, actor)
    except _Raced:
        return _raced(member_id, plan)
    except IntegrityError as error:
        raise _explain(error, plan) from error


def _raced(member_id: int, plan: _Plan) -> Decision:
    decided = _decided(member_id, plan.chapter_id)
    if decided is None:  # the chapter is marked done with no decision: see repair
        raise NotCurrentChapter(
            f"chapter {plan.number} of {plan.title!r} is done for member {member_id}"
            " but has no decision (run rebuild_member_state)"
        ) from None
    return _repeat(decided, plan)


def _pay(member_id: int, plan: _Plan, actor):
    """The choice's reward, through the ledger (None if it pays nothing)."""
    if not plan.reward:
        return None
    return ledger.award(
        Ref(member_id),
        plan.reward,
        currency=plan.currency,
        kind=TransferKind.AWARD,
        reason=f"Story choice: {plan.title}"[:255],
        idempotency_key=reward_key(member_id, plan.chapter_id),
        actor=actor,
        context={
            "story_id": plan.story_id,
            "chapter_id": plan.chapter_id,
            "choice_id": plan.choice_id,
        },
    )


def _decided(member_id: int, chapter_id: int) -> Decision | None:
    return Decision.objects.filter(member_id=member_id, chapter_id=chapter_id).first()


def _repeat(existing: Decision, plan: _Plan) -> Decision:
    if existing.choice_id != plan.choice_id:
        raise ChapterAlreadyDecided(
            f"member {existing.member_id} decided chapter {plan.number} of {plan.title!r}"
            f" already (choice {existing.choice_id})",
            decision=existing,
        )
    existing.created, existing.event = False, None
    return existing


def _explain(error: IntegrityError, plan: _Plan | None) -> Exception:
    text = str(error)
    if plan is None:
        return error
    if "narrative_relationship_level_in_range" in text:
        return RelationshipOutOfRange(
            f"choice {plan.choice_id} would take a relationship past {LEVEL_MIN}..{LEVEL_MAX}"
        )
    if "narrative_progress_once_per_chapter" in text:
        return InvalidStory(
            [f"choice {plan.choice_id} leads back to a chapter the member has played"]
        )
    return error


def _refusal(member_id: int, plan: _Plan, state: _Member) -> Exception | None:
    """Why `member_id` may not make `plan`'s choice now (None: they may)."""
    if not plan.published:
        return StoryNotPublished(f"story {plan.title!r} is not published")
    if state.progress in DONE:
        return _Raced()  # decided since we looked
    if state.progress != ProgressStatus.STARTED:
        if not state.in_story:
            return NotStarted(f"member {member_id} has not started {plan.title!r}")
        return NotCurrentChapter(
            f"chapter {plan.number} of {plan.title!r} is not member {member_id}'s current chapter"
        )
    if plan.next_chapter_id is None:
        return None  # an ending: no chapter to enter
    return unmet_rule(plan, state, label=f"chapter {plan.next_number} of {plan.title!r}")


def _decide(member_id: int, plan: _Plan, actor) -> Decision:
    state = _member_state(member_id, story_id=plan.story_id, chapter_id=plan.chapter_id, rule=plan)
    refusal = _refusal(member_id, plan, state)
    if refusal is not None:
        raise refusal
    now = timezone.now()
    at = _db_time(now)
    ending = plan.next_chapter_id is None
    with connection.cursor() as cursor:
        # The claim: the row lock queues any other submit for this chapter behind us; it
        # finds the row decided when we commit.
        cursor.execute(
            "UPDATE narrative_progress SET status = %s, completed_at = %s"
            " WHERE member_id = %s AND chapter_id = %s AND status = %s",
            [
                ProgressStatus.ENDED if ending else ProgressStatus.COMPLETED,
                at,
                member_id,
                plan.chapter_id,
                ProgressStatus.STARTED,
            ],
        )
        if cursor.rowcount != 1:
            raise _Raced()
    transfer = _pay(member_id, plan, actor)
    levels: dict[int, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO narrative_decision (member_id, story_id, chapter_id, choice_id, reward,"
            " reward_transfer_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            [
                member_id,
                plan.story_id,
                plan.chapter_id,
                plan.choice_id,
                plan.reward,
                transfer.pk if transfer else None,
                at,
            ],
        )
        (decision_id,) = cursor.fetchone()
        if not ending:
            cursor.execute(
                "INSERT INTO narrative_progress (member_id, story_id, chapter_id, status,"
                " started_at, completed_at) VALUES (%s, %s, %s, %s, %s, NULL)",
                [member_id, plan.story_id, plan.next_chapter_id, ProgressStatus.STARTED, at],
            )
        if plan.impacts:
            # In character order: concurrent writers lock relationship rows in one order.
            values = ", ".join(["(%s, %s, %s, %s)"] * len(plan.impacts))
            params: list = []
            for character_id, delta in plan.impacts:
                params += [member_id, character_id, delta, at]
            cursor.execute(
                "INSERT INTO narrative_relationship (member_id, character_id, level, updated_at)"
                f" VALUES {values} ON CONFLICT (member_id, character_id) DO UPDATE"
                " SET level = narrative_relationship.level + EXCLUDED.level,"
                " updated_at = EXCLUDED.updated_at RETURNING character_id, level",
                params,
            )
            levels = dict(cursor.fetchall())
    event = events.publish(
        "narrative.decision_made",
        payloads.decision_made(
            story_id=plan.story_id,
            chapter_id=plan.chapter_id,
            choice_id=plan.choice_id,
            decision_id=decision_id,
            member_id=member_id,
            next_chapter_id=plan.next_chapter_id,
            ending=plan.ending,
            reward=plan.reward,
            currency=plan.currency,
            transfer_id=transfer.pk if transfer else None,
            levels=levels,
        ),
        actor=actor,
        subject=f"story:{plan.story_id}",
    )
    return _made(decision_id, member_id, plan, transfer, now, event)


def _made(decision_id: int, member_id: int, plan: _Plan, transfer, now, event) -> Decision:
    decision = Decision(
        pk=decision_id,
        member_id=member_id,
        story_id=plan.story_id,
        chapter_id=plan.chapter_id,
        choice_id=plan.choice_id,
        reward=plan.reward,
        reward_transfer=transfer,
        created_at=now,
    )
    decision._state.adding = False
    decision.created, decision.event = True, event
    return decision


# --- the same on PostgreSQL, in two statements around the reward ------------------------

_E = Event._meta.db_table

# Reads the choice, the member and what the chapter's rules ask of them, and claims the
# chapter (its `started` progress row, locked to commit) if every rule is met. A submit
# racing ours waits on that row lock, then finds the row decided and claims nothing.
# `in_story` reads the member's own rows (narrative_progress_once_per_chapter leads with
# the member): `story_id + 0` keeps the story's index out of it, which the planner took on
# tables never analyzed and which holds a row for every reader of the story.
_CLAIM = f"""
WITH plan AS ({_PLAN}), state AS (
    SELECT m.is_premium,
           (SELECT status FROM narrative_progress
             WHERE member_id = m.id AND chapter_id = plan.chapter_id) AS progress,
           EXISTS (SELECT 1 FROM narrative_progress
                    WHERE member_id = m.id AND story_id + 0 = plan.story_id) AS in_story,
           (SELECT balance FROM ledger_account
             WHERE member_id = m.id AND currency_id = plan.unlock_currency_id) AS balance,
           plan.unlock_rule = 'subscription' AND EXISTS (
               SELECT 1 FROM accounts_subscription s
                WHERE s.member_id = m.id AND s.status = 'active'
                  AND s.tier IN ('premium', 'professional') AND s.starts_at <= %(now)s
                  AND (s.expires_at IS NULL OR s.expires_at > %(now)s)) AS subscribed,
           (SELECT choice_id FROM narrative_decision
             WHERE member_id = m.id AND chapter_id = plan.chapter_id) AS decided
      FROM accounts_member m, plan WHERE m.id = %(member)s::bigint
), claim AS (
    UPDATE narrative_progress p
       SET status = CASE WHEN plan.next_chapter_id IS NULL THEN 'ended' ELSE 'completed' END,
           completed_at = %(now)s
      FROM plan, state
     WHERE p.member_id = %(member)s::bigint AND p.chapter_id = plan.chapter_id
       AND p.status = 'started' AND plan.published AND state.decided IS NULL
       AND (NOT plan.vip_only OR state.is_premium)
       AND (plan.unlock_rule <> 'min_balance' OR COALESCE(state.balance, 0) >= plan.unlock_amount)
       AND (plan.unlock_rule <> 'subscription' OR state.subscribed)
    RETURNING p.id
)
SELECT plan.*, state.is_premium IS NOT NULL, state.is_premium, state.progress,
       state.in_story, state.balance, state.subscribed, state.decided,
       (SELECT id FROM claim)
  FROM plan LEFT JOIN state ON true
"""
_CLAIM = " ".join(_CLAIM.split())

# The event's data (`narrative.payloads.DecisionMade`), from `_RECORD`'s parameters, its
# `decision` (d) and `levels`: the same keys as `payloads.decision_made` gives SQLite.
_DECISION_MADE = sql_object(
    payloads.DecisionMade,
    story_id="%(story)s::bigint",
    chapter_id="%(chapter)s::bigint",
    choice_id="%(choice)s::bigint",
    decision_id="d.id",
    member_id="%(member)s::bigint",
    next_chapter_id="%(next)s::bigint",
    ending="%(ending)s::text",
    reward="%(reward)s::bigint",
    currency="%(currency)s::text",
    transfer_id="%(transfer)s::bigint",
    levels="COALESCE((SELECT jsonb_object_agg(character_id::text, level) FROM levels),"
    " '{}'::jsonb)",
)

# Records the decision, starts the next chapter, applies the impacts (in character order:
# concurrent writers lock relationship rows in one order) and writes the event row.
_RECORD = f"""
WITH decision AS (
    INSERT INTO narrative_decision (member_id, story_id, chapter_id, choice_id, reward,
                                    reward_transfer_id, created_at)
    VALUES (%(member)s::bigint, %(story)s::bigint, %(chapter)s::bigint, %(choice)s::bigint,
            %(reward)s::bigint, %(transfer)s::bigint, %(now)s)
    RETURNING id
), next AS (
    INSERT INTO narrative_progress (member_id, story_id, chapter_id, status, started_at,
                                    completed_at)
    SELECT %(member)s::bigint, %(story)s::bigint, %(next)s::bigint, 'started', %(now)s, NULL
     WHERE %(next)s::bigint IS NOT NULL
), levels AS (
    INSERT INTO narrative_relationship (member_id, character_id, level, updated_at)
    SELECT %(member)s::bigint, i.character_id, i.delta, %(now)s
      FROM narrative_choiceimpact i WHERE i.choice_id = %(choice)s::bigint
     ORDER BY i.character_id
        ON CONFLICT (member_id, character_id) DO UPDATE
       SET level = narrative_relationship.level + EXCLUDED.level,
           updated_at = EXCLUDED.updated_at
    RETURNING character_id, level
), event AS (
    INSERT INTO {_E} ({event_log.INSERT_COLUMNS})
    SELECT 'narrative.decision_made', %(actor)s::bigint, 'story:' || %(story)s::bigint,
           {_DECISION_MADE},
           %(now)s
      FROM decision d
    RETURNING seq, data::text
)
SELECT d.id, e.seq, e.data FROM decision d, event e
"""
_RECORD = " ".join(_RECORD.split())


def _make_choice_postgresql(member_id: int, choice_id: int, actor) -> Decision:
    now = timezone.now()
    plan = None
    try:
        with transaction.atomic():
            row = prepared_row(_CLAIM, {"choice": choice_id, "member": member_id, "now": now})
            if row is None:
                raise InvalidRequest(f"no choice {choice_id}")
            plan = _Plan(*row[:18], impacts=())
            found, is_premium, progress, in_story, balance, subscribed, decided, claimed = row[18:]
            if not found:
                raise InvalidRequest(f"no member {member_id}")
            if decided is None and claimed is None:
                state = _Member(is_premium, progress, in_story, balance, subscribed)
                raise _refusal(member_id, plan, state) or _Raced()
            if claimed is not None:
                transfer = _pay(member_id, plan, actor)
                decision_id, seq, data = prepared_row(
                    _RECORD,
                    {
                        "member": member_id,
                        "story": plan.story_id,
                        "chapter": plan.chapter_id,
                        "choice": plan.choice_id,
                        "reward": plan.reward,
                        "transfer": transfer.pk if transfer else None,
                        "next": plan.next_chapter_id,
                        "ending": plan.ending,
                        "currency": plan.currency,
                        "actor": actor.pk if actor is not None else None,
                        "now": now,
                    },
                )
                event = event_log.adopt(
                    seq=seq,
                    kind="narrative.decision_made",
                    actor_id=actor.pk if actor is not None else None,
                    subject=f"story:{plan.story_id}",
                    data=json.loads(data),
                    created_at=now,
                )
                return _made(decision_id, member_id, plan, transfer, now, event)
    except _Raced:
        return _raced(member_id, plan)
    except IntegrityError as error:
        raise _explain(error, plan) from error
    return _repeat(_decided(member_id, plan.chapter_id), plan)


# --- rebuilding from the decisions -----------------------------------------------------


@dataclass
class Rebuilt:
    """What `rebuild_member_state` changed (zero everywhere: the state was right)."""

    progress_fixed: int = 0
    relationships_fixed: int = 0
    stories: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.progress_fixed or self.relationships_fixed)


def rebuild_member_state(member, *, story=None, actor=None) -> Rebuilt:
    """Recompute `member`'s progress and relationship levels (in `story`, or in every
    story they played) from their decisions, as the story reads now, and write what
    differs. Used by repair, and after a story's impacts or paths are edited.

    Raises `RelationshipOutOfRange` (writing nothing) if the story as edited would take
    a level past its bounds."""
    member_id = _pk(member, "member")
    if not Member.objects.filter(pk=member_id).exists():
        raise InvalidRequest(f"no member {member_id}")
    if story is not None:
        story_ids = [_pk(story, "story")]
    else:
        story_ids = sorted(
            set(Progress.objects.filter(member_id=member_id).values_list("story_id", flat=True))
            | set(Decision.objects.filter(member_id=member_id).values_list("story_id", flat=True))
            | set(
                Relationship.objects.filter(member_id=member_id).values_list(
                    "character__story_id", flat=True
                )
            )
        )
    result = Rebuilt(stories=story_ids)
    try:
        with transaction.atomic():
            for story_id in story_ids:
                progress, relationships = _rebuild(member_id, story_id)
                result.progress_fixed += progress
                result.relationships_fixed += relationships
                if progress or relationships:
                    events.publish(
                        "narrative.member_rebuilt",
                        payloads.member_rebuilt(
                            story_id=story_id,
                            member_id=member_id,
                            progress_fixed=progress,
                            relationships_fixed=relationships,
                        ),
                        actor=actor,
                        subject=f"story:{story_id}",
                    )
    except IntegrityError as error:
        if "narrative_relationship_level_in_range" in str(error):
            raise RelationshipOutOfRange(
                f"member {member_id}'s decisions now sum past {LEVEL_MIN}..{LEVEL_MAX}"
            ) from error
        raise
    return result


def _rebuild(member_id: int, story_id: int) -> tuple[int, int]:
    # The locks make_choice claims a chapter with: once every progress row of the member
    # in this story is ours, no decision lands until we commit. A row can appear while
    # we wait for one (a claim we waited for started the next chapter): lock again until
    # what we hold is everything there is.
    rows = Progress.objects.filter(member_id=member_id, story_id=story_id)
    while True:
        current = {p.chapter_id: p for p in rows.select_for_update().order_by("pk")}
        if set(rows.values_list("pk", flat=True)) == {p.pk for p in current.values()}:
            break
    decisions = list(
        Decision.objects.filter(member_id=member_id, story_id=story_id)
        .select_related("choice")
        .order_by("created_at", "pk")
    )
    expected: dict[int, tuple[str, datetime, datetime | None]] = {}
    arrived: dict[int, datetime] = {}
    first_id = (
        Chapter.objects.filter(story_id=story_id, number=1).values_list("pk", flat=True).first()
    )
    if first_id is not None and (current or decisions):
        start = current[first_id].started_at if first_id in current else None
        arrived[first_id] = start or (decisions[0].created_at if decisions else timezone.now())
    for decision in decisions:
        status = ProgressStatus.ENDED if decision.choice.ends_story else ProgressStatus.COMPLETED
        kept = current.get(decision.chapter_id)
        started = kept.started_at if kept else arrived.get(decision.chapter_id, decision.created_at)
        expected[decision.chapter_id] = (status, started, decision.created_at)
        if decision.choice.next_chapter_id is not None:
            arrived.setdefault(decision.choice.next_chapter_id, decision.created_at)
    # The current chapter: where the latest decision led (or chapter 1, before any).
    latest = decisions[-1].choice.next_chapter_id if decisions else first_id if arrived else None
    if latest is not None and latest not in expected:
        kept = current.get(latest)
        expected[latest] = (
            ProgressStatus.STARTED,
            kept.started_at if kept else arrived[latest],
            None,
        )
    wrong = [
        p.pk
        for chapter_id, p in current.items()
        if expected.get(chapter_id) != (p.status, p.started_at, p.completed_at)
    ]
    missing = [
        Progress(
            member_id=member_id,
            story_id=story_id,
            chapter_id=chapter_id,
            status=status,
            started_at=started,
            completed_at=completed,
        )
        for chapter_id, (status, started, completed) in expected.items()
        if chapter_id not in current or current[chapter_id].pk in wrong
    ]
    Progress.objects.filter(pk__in=wrong).delete()
    Progress.objects.bulk_create(missing)
    by_pk = {p.pk: chapter_id for chapter_id, p in current.items()}
    progress_fixed = len({by_pk[pk] for pk in wrong} | {p.chapter_id for p in missing})

    sums: dict[int, int] = {}
    impacts = ChoiceImpact.objects.filter(choice__in=[d.choice_id for d in decisions])
    per_choice: dict[int, list[tuple[int, int]]] = {}
    for choice_id, character_id, delta in impacts.values_list("choice_id", "character_id", "delta"):
        per_choice.setdefault(choice_id, []).append((character_id, delta))
    for decision in decisions:
        for character_id, delta in per_choice.get(decision.choice_id, []):
            sums[character_id] = sums.get(character_id, 0) + delta
    have = {
        r.character_id: r
        for r in Relationship.objects.select_for_update(of=("self",))
        .filter(member_id=member_id, character__story_id=story_id)
        .order_by("character_id")
    }
    now = timezone.now()
    relationships_fixed = 0
    for character_id in sorted(set(have) | set(sums)):
        level = sums.get(character_id, 0)
        row = have.get(character_id)
        if row is None:
            if level:
                Relationship.objects.create(
                    member_id=member_id, character_id=character_id, level=level, updated_at=now
                )
                relationships_fixed += 1
        elif row.level != level:
            Relationship.objects.filter(pk=row.pk).update(level=level, updated_at=now)
            relationships_fixed += 1
    return progress_fixed, relationships_fixed


def members_to_rebuild(story) -> list[int]:
    """Members with any state in `story` (decisions, progress or relationships): whose
    state an edit of its impacts changes, or a repair may have to fix."""
    story_id = _pk(story, "story")
    return sorted(
        set(Decision.objects.filter(story_id=story_id).values_list("member_id", flat=True))
        | set(Progress.objects.filter(story_id=story_id).values_list("member_id", flat=True))
        | set(
            Relationship.objects.filter(character__story_id=story_id).values_list(
                "member_id", flat=True
            )
        )
    )


def rebuild_story(story, *, actor=None) -> Rebuilt:
    """`rebuild_member_state` for every member who played `story` (one transaction each)."""
    story_id = _pk(story, "story")
    total = Rebuilt(stories=[story_id])
    for member_id in members_to_rebuild(story_id):
        done = rebuild_member_state(Ref(member_id), story=story_id, actor=actor)
        total.progress_fixed += done.progress_fixed
        total.relationships_fixed += done.relationships_fixed
    return total


# --- checking a story ---------------------------------------------------------------

SLUG = re.compile(r"[-a-zA-Z0-9_]+\Z")


def check_story(story) -> list[str]:
    """What would stop a member playing `story` through (see `narrative.graph`)."""
    from narrative import graph

    return graph.problems(graph.load(_pk(story, "story")))


def record_story_change(story, *, actor=None) -> None:
    """Record an edit of `story`'s structure (the admin's saves) as `narrative.story_changed`,
    in the caller's transaction: open story maps redraw after it commits."""
    story_id = _pk(story, "story")
    found = Story.objects.filter(pk=story_id).values_list("title", "published").first()
    if found is None:
        raise InvalidRequest(f"no story {story_id}")
    with transaction.atomic():
        events.publish(
            "narrative.story_changed",
            payloads.story_changed(story_id=story_id, title=found[0], published=found[1]),
            actor=actor,
            subject=f"story:{story_id}",
        )


@transaction.atomic
def publish_story(story, *, actor=None) -> Story:
    """Publish `story` if it is playable (`InvalidStory` lists what is not)."""
    locked = Story.objects.select_for_update().get(pk=_pk(story, "story"))
    if locked.published:
        return locked
    found = check_story(locked)
    if found:
        raise InvalidStory(found)
    locked.published = True
    locked.save(update_fields=["published"])
    events.publish(
        "narrative.story_published",
        payloads.story_published(story_id=locked.pk, title=locked.title),
        actor=actor,
        subject=f"story:{locked.pk}",
    )
    return locked


# --- writing a story from a plain description -----------------------------------------


@transaction.atomic
def create_story(
    *,
    title: str,
    slug: str,
    currency: str = "points",
    description: str = "",
    characters=(),
    chapters=(),
    published: bool = False,
    actor=None,
) -> Story:
    """A whole story in one call (demo data, imports, tests, benchmarks).

    `characters` are names; each chapter is a dict: `number`, `title`, optional
    `content`, `vip_only`, `unlock` (`"subscription"` or `{"min_balance": amount,
    "currency": code}`) and `choices`, each a dict: `text`, `to` (a chapter number) or
    `ending` (its title), optional `reward` and `impacts` ({character name: delta}).
    With `published=True` the story must be playable (`InvalidStory` lists why not)."""
    from ledger.models import Currency

    if not isinstance(slug, str) or not SLUG.match(slug):
        raise InvalidStory([f"a slug is letters, digits, - and _, not {slug!r}"])
    paid_in = Currency.objects.filter(code=currency).first()
    if paid_in is None:
        raise InvalidStory([f"no currency {currency!r}"])
    if Story.objects.filter(slug=slug).exists():
        raise InvalidStory([f"a story with slug {slug!r} exists"])
    try:
        story = Story.objects.create(
            title=title, slug=slug, description=description, currency=paid_in
        )
        cast = {name: Character.objects.create(story=story, name=name).pk for name in characters}
        numbered: dict[int, Chapter] = {}
        for spec in chapters:
            unlock = spec.get("unlock")
            rule, unlock_currency, amount = UnlockRule.PREVIOUS, None, None
            if unlock == "subscription":
                rule = UnlockRule.SUBSCRIPTION
            elif isinstance(unlock, dict):
                rule, amount = UnlockRule.MIN_BALANCE, unlock.get("min_balance")
                unlock_currency = Currency.objects.filter(
                    code=unlock.get("currency", currency)
                ).first()
            numbered[spec["number"]] = Chapter.objects.create(
                story=story,
                number=spec["number"],
                title=spec["title"],
                content=spec.get("content", ""),
                vip_only=spec.get("vip_only", False),
                unlock_rule=rule,
                unlock_currency=unlock_currency,
                unlock_amount=amount,
            )
        for spec in chapters:
            for position, option in enumerate(spec.get("choices", ()), start=1):
                target = option.get("to")
                if target is not None and target not in numbered:
                    raise InvalidStory([f"choice {option['text']!r} leads to no chapter {target}"])
                made = Choice.objects.create(
                    chapter=numbered[spec["number"]],
                    position=position,
                    text=option["text"],
                    next_chapter=numbered.get(target) if target is not None else None,
                    ending=option.get("ending", ""),
                    reward=option.get("reward", 0),
                )
                for name, delta in option.get("impacts", {}).items():
                    if name not in cast:
                        raise InvalidStory(
                            [f"choice {option['text']!r} names no character {name!r}"]
                        )
                    ChoiceImpact.objects.create(choice=made, character_id=cast[name], delta=delta)
    except (IntegrityError, KeyError, TypeError) as error:
        raise InvalidStory([f"the story cannot be stored as given: {error}"]) from error
    if published:
        publish_story(story, actor=actor)
        story.refresh_from_db()
    return story
