-- seed_scale: the history's legs (a fragment): (transfer, kind, at, member, system
-- account, amount). Per member g, at increasing times after registering: the welcome
-- bonus (slot 0), an award, a spend of half of it, another award and spend (slots 1-4),
-- the referral bonus paid to the referrer (slot 5, every tenth member) and a gift of 5 to
-- the member before (slot 6, every fifth). Balances never go below zero.
WITH member AS (
    SELECT g, %(base)s + g AS id, {registered_at} AS joined,
           10 + (g * 7919) %% 90 AS a1, 10 + (g * 104729) %% 90 AS a3
      FROM generate_series(1::bigint, %(n)s::bigint) g
), slot AS (
    SELECT m.*, j,
           m.joined + (%(now)s::timestamptz - m.joined)
               * ((j + ((m.g * 7919 + j * 104729) %% 1000) / 1000.0) / 5.0) AS at
      FROM member m CROSS JOIN generate_series(0, 4) j
)
SELECT %(tbase)s + g * 8 + j AS tid,
       CASE WHEN j = 0 THEN 'bonus' WHEN j IN (1, 3) THEN 'award' ELSE 'spend' END AS kind,
       CASE WHEN j = 0 THEN joined ELSE at END AS at, id AS member_id, NULL AS system,
       CASE j WHEN 0 THEN 100 WHEN 1 THEN a1 WHEN 2 THEN -(a1 / 2)
              WHEN 3 THEN a3 ELSE -(a3 / 2) END AS amount
  FROM slot
UNION ALL
SELECT %(tbase)s + g * 8 + j, CASE WHEN j = 0 THEN 'bonus' WHEN j IN (1, 3) THEN 'award'
       ELSE 'spend' END, CASE WHEN j = 0 THEN joined ELSE at END, NULL,
       CASE WHEN j IN (2, 4) THEN 'sink:shop' ELSE 'issuance' END,
       CASE j WHEN 0 THEN -100 WHEN 1 THEN -a1 WHEN 2 THEN a1 / 2
              WHEN 3 THEN -a3 ELSE a3 / 2 END
  FROM slot
UNION ALL
SELECT %(tbase)s + g * 8 + 5, 'referral_bonus', joined, id - 1, NULL, 50
  FROM member WHERE g %% 10 = 0
UNION ALL
SELECT %(tbase)s + g * 8 + 5, 'referral_bonus', joined, NULL, 'issuance', -50
  FROM member WHERE g %% 10 = 0
UNION ALL
SELECT %(tbase)s + s.g * 8 + 6, 'transfer', s.at + interval '1 second', s.id, NULL, -5
  FROM slot s WHERE s.j = 4 AND s.g %% 5 = 0
UNION ALL
SELECT %(tbase)s + s.g * 8 + 6, 'transfer', s.at + interval '1 second', s.id - 1, NULL, 5
  FROM slot s WHERE s.j = 4 AND s.g %% 5 = 0
