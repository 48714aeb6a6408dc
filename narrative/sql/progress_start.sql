-- A chapter started. {values}: member, story, chapter, status ('started'), started at and
-- completed at (NULL): a VALUES list or a SELECT. {then}: what follows (ON CONFLICT ...,
-- RETURNING ..., or nothing).
INSERT INTO narrative_progress (member_id, story_id, chapter_id, status, started_at,
                                completed_at)
{values}
{then}
