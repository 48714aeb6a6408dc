-- What a choice does: the choice, its chapter and story, the story's currency, and the
-- rules of the chapter it leads to (none for an ending: then the defaults). The columns
-- are `narrative.actions.rules.Plan`'s fields, in order, up to `next_number`.
-- Read by itself on SQLite, and as the first part of PostgreSQL's claim (claim.pg.sql).
SELECT c.id AS choice_id, c.text, ch.id AS chapter_id, ch.number, s.id AS story_id,
       s.title, s.published, s.currency_id, cur.code AS currency,
       COALESCE(nx.vip_only, FALSE) AS vip_only,
       COALESCE(nx.unlock_rule, 'previous') AS unlock_rule, nx.unlock_currency_id,
       uc.code AS unlock_currency, nx.unlock_amount, c.next_chapter_id, c.ending,
       c.reward, nx.number AS next_number
  FROM narrative_choice c
  JOIN narrative_chapter ch ON ch.id = c.chapter_id
  JOIN narrative_story s ON s.id = ch.story_id
  JOIN ledger_currency cur ON cur.id = s.currency_id
  LEFT JOIN narrative_chapter nx ON nx.id = c.next_chapter_id
  LEFT JOIN ledger_currency uc ON uc.id = nx.unlock_currency_id
 WHERE c.id = %(choice)s
