INSERT INTO narrative_progress (member_id, story_id, chapter_id, status, started_at)
SELECT m.id, %(story)s, %(chapter)s, 'started', m.created_at + interval '1 day'
  FROM accounts_member m
 WHERE m.id > %(base)s AND m.id <= %(base)s + %(n)s AND m.id %% 3 = 0
   AND m.created_at + interval '1 day' < %(now)s
