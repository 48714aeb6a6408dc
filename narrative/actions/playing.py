"""Playing a story: starting it and making choices.

`make_choice` is one transaction: it claims the member's current chapter (the row lock on
their `started` progress row serializes every submit for that chapter), pays the reward
through the ledger with the key `narrative:<member>:<chapter>`, records the decision,
starts the next chapter (or marks the ending), applies the impacts to the relationships
and publishes `narrative.decision_made`. Any refusal leaves the database as it was.

On SQLite it runs one statement at a time; on PostgreSQL in two statements around the
reward (narrative/sql/claim.pg.sql and record.pg.sql). What the two share is written once
in narrative/sql/ and `narrative.actions.rules`.
"""

from __future__ import annotations

import json

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

import events
from config.db import Ref, prepared_row
from events import log as event_log
from events.payloads import sql_object
from ledger import actions as ledger
from ledger.models import TransferKind
from ledger.plans import SystemKey
from narrative import payloads, sql
from narrative.actions.common import db_time, pk_of
from narrative.actions.rules import (
    PLAN,
    ChoicePlan,
    MemberState,
    Raced,
    load_plan,
    member_state,
    member_state_columns,
    refusal,
    unmet_rule,
)
from narrative.exceptions import (
    ChapterAlreadyDecided,
    InvalidRequest,
    InvalidStory,
    NotCurrentChapter,
    RelationshipOutOfRange,
    StoryNotPublished,
)
from narrative.models import (
    LEVEL_MAX,
    LEVEL_MIN,
    Chapter,
    Decision,
    Progress,
    ProgressStatus,
    Story,
)


def reward_key(member_id: int, chapter_id: int) -> SystemKey:
    """The reward's idempotency key: one per member and chapter, as the decision is."""
    return SystemKey(f"narrative:{member_id}:{chapter_id}")


# --- starting a story ----------------------------------------------------------------


def start_story(member, story, *, actor=None) -> Progress:
    """Put `member` at chapter 1 of `story` (published). Starting again returns where the
    member is: their current chapter, or the chapter where they ended it. Raises
    `ChapterLocked` if chapter 1's rules shut the member out."""
    member_id, story_id = pk_of(member, "member"), pk_of(story, "story")
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
    state = member_state(member_id, story_id=story_id, chapter_id=first.pk, rule=first)
    locked = unmet_rule(first, state, label=f"chapter {first.number} of {title!r}")
    if locked is not None:
        raise locked
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                _START_FIRST, [member_id, story_id, first.pk, ProgressStatus.STARTED, db_time(now)]
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


def make_choice(member, choice, *, actor=None) -> Decision:
    """Record that `member` chose `choice` in its chapter, the member's current one.

    In one transaction: claims the chapter, pays the choice's reward (once, by a key
    derived from member and chapter), records the decision, starts the next chapter or
    marks the ending, applies the impacts and publishes `narrative.decision_made`.

    The same choice again returns the recorded decision (`created=False`); another choice
    in a decided chapter raises `ChapterAlreadyDecided`. Raises `NotStarted`,
    `NotCurrentChapter`, `ChapterLocked` (naming the unmet rule), `StoryNotPublished` or
    `RelationshipOutOfRange`, writing nothing."""
    member_id, choice_id = pk_of(member, "member"), pk_of(choice, "choice")
    if connection.vendor == "postgresql":
        return _make_choice_postgresql(member_id, choice_id, actor)
    plan = load_plan(choice_id)
    existing = _decided(member_id, plan.chapter_id)
    if existing is not None:
        return _repeat(existing, plan)
    if not plan.published:
        raise StoryNotPublished(f"story {plan.title!r} is not published")
    try:
        with transaction.atomic():
            return _decide(member_id, plan, actor)
    except Raced:
        return _raced(member_id, plan)
    except IntegrityError as error:
        raise _explain(error, plan) from error


# --- what both paths share -------------------------------------------------------------


def _raced(member_id: int, plan: ChoicePlan) -> Decision:
    decided = _decided(member_id, plan.chapter_id)
    if decided is None:  # the chapter is marked done with no decision: see repair
        raise NotCurrentChapter(
            f"chapter {plan.number} of {plan.title!r} is done for member {member_id}"
            " but has no decision (run rebuild_member_state)"
        ) from None
    return _repeat(decided, plan)


def _pay(member_id: int, plan: ChoicePlan, actor):
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


def _repeat(existing: Decision, plan: ChoicePlan) -> Decision:
    if existing.choice_id != plan.choice_id:
        raise ChapterAlreadyDecided(
            f"member {existing.member_id} decided chapter {plan.number} of {plan.title!r}"
            f" already (choice {existing.choice_id})",
            decision=existing,
        )
    existing.created, existing.event = False, None
    return existing


def _explain(error: IntegrityError, plan: ChoicePlan | None) -> Exception:
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


def _made(decision_id: int, member_id: int, plan: ChoicePlan, transfer, now, event) -> Decision:
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


# --- SQLite: one statement at a time ---------------------------------------------------


def _decide(member_id: int, plan: ChoicePlan, actor) -> Decision:
    state = member_state(member_id, story_id=plan.story_id, chapter_id=plan.chapter_id, rule=plan)
    refused = refusal(member_id, plan, state)
    if refused is not None:
        raise refused
    now = timezone.now()
    at = db_time(now)
    _claim(member_id, plan, at)
    transfer = _pay(member_id, plan, actor)
    decision_id = _record(member_id, plan, transfer, at)
    levels = _apply_impacts(member_id, plan, at)
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


def _claim(member_id: int, plan: ChoicePlan, at) -> None:
    """Mark the member's chapter decided. The row lock queues any other submit for this
    chapter behind us; it finds the row decided when we commit."""
    ending = plan.next_chapter_id is None
    with connection.cursor() as cursor:
        cursor.execute(
            sql.load("progress_claim"),
            {
                "status": ProgressStatus.ENDED if ending else ProgressStatus.COMPLETED,
                "now": at,
                "member": member_id,
                "chapter": plan.chapter_id,
            },
        )
        if cursor.rowcount != 1:
            raise Raced()


def _record(member_id: int, plan: ChoicePlan, transfer, at) -> int:
    """Insert the decision and start the next chapter (none after an ending)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _DECISION,
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
        if plan.next_chapter_id is not None:
            cursor.execute(
                _START_NEXT,
                [member_id, plan.story_id, plan.next_chapter_id, ProgressStatus.STARTED, at],
            )
    return decision_id


def _apply_impacts(member_id: int, plan: ChoicePlan, at) -> dict[int, int]:
    """narrative/sql/apply_impacts.sql on the plan's impacts: each character's level after."""
    if not plan.impacts:
        return {}
    rows = "VALUES " + ", ".join(["(%s, %s, %s, %s)"] * len(plan.impacts))
    params: list = []
    for character_id, delta in plan.impacts:  # in character order
        params += [member_id, character_id, delta, at]
    with connection.cursor() as cursor:
        cursor.execute(sql.load("apply_impacts", rows=rows), params)
        return dict(cursor.fetchall())


# --- PostgreSQL: two statements around the reward ---------------------------------------

_CLAIM = sql.load(
    "claim.pg",
    plan=PLAN,
    member_state=member_state_columns(
        chapter="plan.chapter_id",
        story="plan.story_id",
        currency="plan.unlock_currency_id",
        rule="plan.unlock_rule",
    ),
)

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

# SQLite's steps, from the fragments PostgreSQL's statements use too.
_DECISION = sql.load("decision_insert", values="VALUES (%s, %s, %s, %s, %s, %s, %s)")
_START_NEXT = sql.load("progress_start", values="VALUES (%s, %s, %s, %s, %s, NULL)", then="")
# Starting a story: a concurrent start of the same story inserts nothing.
_START_FIRST = sql.load(
    "progress_start",
    values="VALUES (%s, %s, %s, %s, %s, NULL)",
    then="ON CONFLICT DO NOTHING RETURNING id",
)

_RECORD = sql.load(
    "record.pg",
    decision_insert=sql.load(
        "decision_insert",
        values="VALUES (%(member)s::bigint, %(story)s::bigint, %(chapter)s::bigint,"
        " %(choice)s::bigint, %(reward)s::bigint, %(transfer)s::bigint, %(now)s)",
    ),
    progress_start=sql.load(
        "progress_start",
        values="SELECT %(member)s::bigint, %(story)s::bigint, %(next)s::bigint, 'started',"
        " %(now)s, NULL WHERE %(next)s::bigint IS NOT NULL",
        then="",
    ),
    apply_impacts=sql.load(
        "apply_impacts",
        rows="SELECT %(member)s::bigint, i.character_id, i.delta, %(now)s"
        " FROM narrative_choiceimpact i WHERE i.choice_id = %(choice)s::bigint"
        " ORDER BY i.character_id",
    ),
    event_columns=event_log.INSERT_COLUMNS,
    decision_made=_DECISION_MADE,
)


def _make_choice_postgresql(member_id: int, choice_id: int, actor) -> Decision:
    now = timezone.now()
    plan = None
    try:
        with transaction.atomic():
            plan, state, decided, claimed = _claim_postgresql(member_id, choice_id, now)
            if decided is None and claimed is None:
                raise refusal(member_id, plan, state) or Raced()
            if claimed is not None:
                return _record_postgresql(member_id, plan, actor, now)
    except Raced:
        return _raced(member_id, plan)
    except IntegrityError as error:
        raise _explain(error, plan) from error
    return _repeat(_decided(member_id, plan.chapter_id), plan)


def _claim_postgresql(member_id: int, choice_id: int, now):
    """`_CLAIM`'s answer: (the plan, the member's state, the choice they made in the
    chapter already, the claimed progress row's id)."""
    row = prepared_row(_CLAIM, {"choice": choice_id, "member": member_id, "now": now})
    if row is None:
        raise InvalidRequest(f"no choice {choice_id}")
    plan = ChoicePlan(*row[:18], impacts=())
    found, is_premium, progress, in_story, balance, subscribed, decided, claimed = row[18:]
    if not found:
        raise InvalidRequest(f"no member {member_id}")
    state = MemberState(is_premium, progress, in_story, balance, subscribed)
    return plan, state, decided, claimed


def _record_postgresql(member_id: int, plan: ChoicePlan, actor, now) -> Decision:
    """Pay the reward, then `_RECORD` the decision and its event."""
    transfer = _pay(member_id, plan, actor)
    actor_id = actor.pk if actor is not None else None
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
            "actor": actor_id,
            "now": now,
        },
    )
    event = event_log.adopt(
        seq=seq,
        kind="narrative.decision_made",
        actor_id=actor_id,
        subject=f"story:{plan.story_id}",
        data=json.loads(data),
        created_at=now,
    )
    return _made(decision_id, member_id, plan, transfer, now, event)
