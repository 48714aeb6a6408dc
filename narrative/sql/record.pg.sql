-- PostgreSQL's second statement of a choice, once the chapter is claimed and the reward
-- paid: records the decision ({decision_insert}), starts the next chapter
-- ({progress_start}; none after an ending; both shared with SQLite's steps), applies the
-- impacts ({apply_impacts}: apply_impacts.sql, the rows read from the choice's impacts)
-- and writes the `narrative.decision_made` event row ({event_columns}),
-- its data built by {decision_made} (`narrative.payloads.DecisionMade`).
--
-- Returns the decision's id, the event's seq and data.
WITH decision AS (
    {decision_insert}
), next AS (
    {progress_start}
), levels AS (
    {apply_impacts}
), event AS (
    INSERT INTO events_event ({event_columns})
    SELECT 'narrative.decision_made', %(actor)s::bigint, 'story:' || %(story)s::bigint,
           {decision_made},
           %(now)s
      FROM decision d
    RETURNING seq, data::text
)
SELECT d.id, e.seq, e.data FROM decision d, event e
