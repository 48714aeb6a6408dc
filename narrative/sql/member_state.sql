-- Who the member `m` is, as a chapter's rules ask: premium now ({premium_subscriber}:
-- accounts' one rule, what VIP chapters ask), their status in the
-- chapter they are deciding ({chapter}), whether they are anywhere in the story
-- ({story}), their balance in the rule's currency ({currency}) and, for a `subscription`
-- rule ({rule}), whether they are a premium subscriber at %(now)s ({premium_subscriber}:
-- accounts' rule). The columns are `narrative.actions.rules.MemberState`'s fields.
--
-- A select list: the caller adds its FROM (and PostgreSQL's claim a column). The fields
-- are the plan's columns there, parameters on SQLite.
--
-- `story_id + 0`: `in_story` reads the member's own rows (narrative_progress_once_per_chapter
-- leads with the member); `+ 0` keeps the story's index out of it, which the planner took
-- on tables never analyzed and which holds a row for every reader of the story.
SELECT {premium_subscriber} AS is_premium,
       (SELECT status FROM narrative_progress
         WHERE member_id = m.id AND chapter_id = {chapter}) AS progress,
       EXISTS (SELECT 1 FROM narrative_progress
                WHERE member_id = m.id AND story_id + 0 = {story}) AS in_story,
       (SELECT balance FROM ledger_account
         WHERE member_id = m.id AND currency_id = {currency}) AS balance,
       {rule} = 'subscription' AND {premium_subscriber} AS subscribed
