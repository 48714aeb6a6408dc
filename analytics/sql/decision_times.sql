-- Each decision of the bucket with the time its member reached the chapter
-- ('<story>:<number>', reached, decided); the median is taken in Python (portable).
SELECT CAST(d.story_id AS TEXT) || ':' || CAST(ch.number AS TEXT), p.started_at, d.created_at
  FROM narrative_decision d
  JOIN narrative_chapter ch ON ch.id = d.chapter_id
  JOIN narrative_progress p ON p.member_id = d.member_id AND p.chapter_id = d.chapter_id
 WHERE d.created_at >= %(start)s AND d.created_at < %(end)s
