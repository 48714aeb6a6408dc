"""Narrative integrity checks: each a set-based query returning the ids breaking one rule.

The decisions are the record; progress and relationship levels are what they imply, and
each rewarded decision has exactly one transfer. The SQL runs unchanged on PostgreSQL and
SQLite. `narrative.actions.rebuild_member_state` (or `manage.py rebuild_story_state`)
repairs what the first three find."""

from __future__ import annotations

from django.db import connection

from config.history import rows_unlike_their_history
from integrity.registry import Violations, check
from ledger.integrity import history_violations
from narrative.models import Chapter, Choice, Story


def _ids(sql: str, params=()) -> Violations:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return Violations.from_ids(row[0] for row in cursor.fetchall())


# The sum of a member's decisions' impacts on each character they touched.
_SUMS = """
SELECT d.member_id, i.character_id, SUM(i.delta) AS total
  FROM narrative_decision d
  JOIN narrative_choiceimpact i ON i.choice_id = d.choice_id
 GROUP BY d.member_id, i.character_id
"""


@check(
    "narrative.relationships_match_decisions",
    "Every relationship level equals the sum of the impacts of the member's decisions"
    " (sampled: relationship ids, or -member ids where a non-zero sum has no row).",
)
def relationships_match_decisions() -> Violations:
    return _ids(
        f"""
        SELECT r.id FROM narrative_relationship r
          LEFT JOIN ({_SUMS}) s ON s.member_id = r.member_id AND s.character_id = r.character_id
         WHERE r.level <> COALESCE(s.total, 0)
        UNION ALL
        SELECT -s.member_id FROM ({_SUMS}) s
         WHERE s.total <> 0 AND NOT EXISTS (
               SELECT 1 FROM narrative_relationship r
                WHERE r.member_id = s.member_id AND r.character_id = s.character_id)
        ORDER BY 1
        """
    )


@check(
    "narrative.progress_matches_decisions",
    "A chapter is completed (or ended the story) exactly when the member has a decision"
    " in it, `ended` exactly when that decision's choice ends the story, and the chapter a"
    " decision led to is in the member's progress (sampled: progress ids, or -decision ids"
    " where a progress row is missing).",
)
def progress_matches_decisions() -> Violations:
    return _ids(
        """
        SELECT p.id FROM narrative_progress p
          LEFT JOIN narrative_decision d
            ON d.member_id = p.member_id AND d.chapter_id = p.chapter_id
          LEFT JOIN narrative_choice c ON c.id = d.choice_id
         WHERE (p.status = 'started' AND d.id IS NOT NULL)
            OR (p.status IN ('completed', 'ended') AND d.id IS NULL)
            OR (p.status = 'completed' AND c.next_chapter_id IS NULL)
            OR (p.status = 'ended' AND c.next_chapter_id IS NOT NULL)
        UNION ALL
        SELECT -d.id FROM narrative_decision d
         WHERE NOT EXISTS (SELECT 1 FROM narrative_progress p
                            WHERE p.member_id = d.member_id AND p.chapter_id = d.chapter_id)
        UNION
        SELECT -d.id FROM narrative_decision d
          JOIN narrative_choice c ON c.id = d.choice_id
         WHERE c.next_chapter_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM narrative_progress p
                            WHERE p.member_id = d.member_id
                              AND p.chapter_id = c.next_chapter_id)
        ORDER BY 1
        """
    )


@check(
    "narrative.no_locked_chapter_started",
    "A member is in a chapter other than chapter 1 only if one of their decisions led"
    " there (the previous chapter on their path is completed), and is never in a story"
    " past its end (progress ids).",
)
def no_locked_chapter_started() -> Violations:
    return _ids(
        """
        SELECT p.id FROM narrative_progress p
          JOIN narrative_chapter ch ON ch.id = p.chapter_id
         WHERE ch.number <> 1 AND NOT EXISTS (
               SELECT 1 FROM narrative_decision d
                 JOIN narrative_choice c ON c.id = d.choice_id
                WHERE d.member_id = p.member_id AND c.next_chapter_id = p.chapter_id)
        UNION
        SELECT p.id FROM narrative_progress p
         WHERE p.status = 'started' AND EXISTS (
               SELECT 1 FROM narrative_progress e
                WHERE e.member_id = p.member_id AND e.story_id = p.story_id
                  AND e.status = 'ended')
        ORDER BY 1
        """
    )


@check(
    "narrative.rewards_paid_once",
    "Each rewarded decision has exactly one transfer, the one its key names"
    " (narrative:<member>:<chapter>), paying the member the reward; no narrative reward"
    " transfer lacks its decision (sampled: decision ids, or -transfer ids).",
)
def rewards_paid_once() -> Violations:
    return _ids(
        """
        SELECT d.id FROM narrative_decision d
          LEFT JOIN ledger_transfer t ON t.id = d.reward_transfer_id
         WHERE d.reward > 0 AND (
               t.id IS NULL
               OR t.idempotency_key <> 'narrative:' || d.member_id || ':' || d.chapter_id
               OR COALESCE((SELECT SUM(p.amount) FROM ledger_posting p
                              JOIN ledger_account a ON a.id = p.account_id
                             WHERE p.transfer_id = t.id AND a.member_id = d.member_id), 0)
                  <> d.reward)
        UNION ALL
        SELECT d.id FROM narrative_decision d
         WHERE d.reward = 0 AND EXISTS (
               SELECT 1 FROM ledger_transfer t
                WHERE t.idempotency_key = 'narrative:' || d.member_id || ':' || d.chapter_id)
        UNION ALL
        SELECT -t.id FROM ledger_transfer t
         WHERE t.idempotency_key LIKE 'narrative:%%' AND NOT EXISTS (
               SELECT 1 FROM narrative_decision d WHERE d.reward_transfer_id = t.id)
        ORDER BY 1
        """
    )


@check(
    "narrative.configuration_history_current",
    "Every story, chapter and choice reads as its latest history version (PostgreSQL;"
    " a row changed with the history triggers off fails; sampled: 'chapter:<id>' ...).",
)
def configuration_history_current() -> Violations:

    return history_violations(rows_unlike_their_history, Story, Chapter, Choice)
