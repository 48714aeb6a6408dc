-- PostgreSQL's second statement of a choice, once the chapter is claimed and the reward
-- paid: records the decision, starts the next chapter (none after an ending), applies the
-- impacts ({apply_impacts}: apply_impacts.sql, the rows read from the choice's impacts)
-- and writes the `narrative.decision_made` event row ({event_table}, {event_columns}),
-- its data built by {decision_made} (`narrative.payloads.DecisionMade`).
--
-- Returns the decision's id, the event's seq and data.
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
    {apply_impacts}
), event AS (
    INSERT INTO {event_table} ({event_columns})
    SELECT 'narrative.decision_made', %(actor)s::bigint, 'story:' || %(story)s::bigint,
           {decision_made},
           %(now)s
      FROM decision d
    RETURNING seq, data::text
)
SELECT d.id, e.seq, e.data FROM decision d, event e
