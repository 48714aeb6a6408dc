-- What `register` reads before its transaction, in one statement and without a lock:
-- the tournament and its currency, the member's current registration in it ({active}:
-- `tournaments.models.ACTIVE`), whether they were disqualified from it, and {reserve}:
-- on PostgreSQL, a registration id drawn for this call when it may register (NULL on
-- SQLite, which draws one in the transaction).
SELECT t.id, t.name, t.status, t.registration_opens_at, t.registration_closes_at,
       t.entry_fee, t.capacity, t.active_count, c.code, r.id,
       EXISTS (SELECT 1 FROM tournaments_registration d
                WHERE d.tournament_id = t.id AND d.member_id = %(member)s
                  AND d.status = 'disqualified'),
       {reserve}
  FROM tournaments_tournament t
  JOIN ledger_currency c ON c.id = t.currency_id
  LEFT JOIN tournaments_registration r
         ON r.tournament_id = t.id AND r.member_id = %(member)s AND r.status IN ({active})
 WHERE t.id = %(tournament)s
