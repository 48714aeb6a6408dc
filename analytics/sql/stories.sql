-- The story funnel. A progress row is a member reaching a chapter ('<story>:<number>'):
-- reaching chapter 1 is starting the story. A decision is a member leaving a chapter;
-- one whose choice ends the story is an ending ('<story>:<ending title>').
SELECT 'narrative.starts', CAST(p.story_id AS TEXT), COUNT(*)
  FROM narrative_progress p JOIN narrative_chapter ch ON ch.id = p.chapter_id
 WHERE p.started_at >= %(start)s AND p.started_at < %(end)s AND ch.number = 1
 GROUP BY p.story_id
UNION ALL
SELECT 'narrative.reached', CAST(p.story_id AS TEXT) || ':' || CAST(ch.number AS TEXT), COUNT(*)
  FROM narrative_progress p JOIN narrative_chapter ch ON ch.id = p.chapter_id
 WHERE p.started_at >= %(start)s AND p.started_at < %(end)s
 GROUP BY p.story_id, ch.number
UNION ALL
SELECT 'narrative.decided', CAST(d.story_id AS TEXT) || ':' || CAST(ch.number AS TEXT), COUNT(*)
  FROM narrative_decision d JOIN narrative_chapter ch ON ch.id = d.chapter_id
 WHERE d.created_at >= %(start)s AND d.created_at < %(end)s
 GROUP BY d.story_id, ch.number
UNION ALL
SELECT 'narrative.endings', CAST(d.story_id AS TEXT) || ':' || c.ending, COUNT(*)
  FROM narrative_decision d JOIN narrative_choice c ON c.id = d.choice_id
 WHERE d.created_at >= %(start)s AND d.created_at < %(end)s AND c.next_chapter_id IS NULL
 GROUP BY d.story_id, c.ending
