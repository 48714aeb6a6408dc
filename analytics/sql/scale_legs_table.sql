-- seed_scale: the legs, computed once into a temporary table that the later steps read,
-- with transfer ids in the order of their time (as a live ledger numbers them: ids
-- follow commits), so that ranges of time are ranges of ids as in production.
CREATE TEMPORARY TABLE scale_legs ON COMMIT DROP AS
SELECT %(tbase)s + DENSE_RANK() OVER (ORDER BY at, tid) AS tid, kind, at, member_id, system, amount
  FROM ({legs}) legs
