-- PostgreSQL's first statement of a choice: reads the choice ({plan}: plan.sql), the
-- member and what the chapter's rules ask of them ({member_state}: member_state.sql, on
-- the plan's columns), and claims the chapter (the member's `started` progress row,
-- locked to commit) if every rule is met. A submit racing ours waits on that row lock,
-- then finds the row decided and claims nothing.
--
-- The rules in the claim's WHERE are the ones `narrative.actions.rules.unmet_rule`
-- explains when nothing was claimed.
--
-- Returns the plan's columns, then: whether the member exists, their state, the choice
-- they made in this chapter already (if any) and the claimed row's id (if claimed).
WITH plan AS ({plan}), state AS (
    {member_state},
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
