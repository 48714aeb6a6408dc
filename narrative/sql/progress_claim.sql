-- SQLite's claim of a chapter (claim.pg.sql on PostgreSQL, which also checks the rules
-- in the same statement): the member's started progress row in it becomes %(status)s
-- (completed, or ended after an ending); no row if it was decided already.
UPDATE narrative_progress SET status = %(status)s, completed_at = %(now)s
 WHERE member_id = %(member)s AND chapter_id = %(chapter)s AND status = 'started'
