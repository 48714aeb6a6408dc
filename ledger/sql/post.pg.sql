-- One transfer in one statement, one round trip, atomic by itself (it may run without
-- BEGIN/COMMIT). Each CTE feeds the next: nothing is written unless the accounts exist
-- (ready), and nothing past the transfer unless its key is new; the wallets are locked
-- in id order and updated only where they cover their change (covered). If one did not,
-- the last expression calls ledger_short() (ledger/sql/ledger_short.pg.sql), which
-- aborts the statement and all it wrote (the transfer, and any wallet already updated).
-- Pieces: {currency_id}, {wallet_id}, {system_account_id}, {transfer_insert}, {covers},
-- {posting_insert}, {due} (the shared fragments, filled by ledger.posting),
-- {event_columns} and {event_data} (the event row, from events.log and the payload
-- schema), {gate}, {rider} and {rider_row} (a caller's condition, taken before anything
-- is written, and its own row written with the transfer, see ledger.posting.Rider; true,
-- empty and NULL without one).
WITH cur AS (
    {currency_id}
), legs AS (
    SELECT leg.ord, leg.member_id, leg.system, leg.delta, leg.held_delta,
           CASE WHEN leg.member_id IS NOT NULL THEN ({wallet_id})
                ELSE ({system_account_id}) END AS account_id
      FROM cur, unnest(%(members)s::bigint[], %(systems)s::text[], %(deltas)s::bigint[],
                       %(held)s::bigint[])
           WITH ORDINALITY AS leg(member_id, system, delta, held_delta, ord)
), ready AS (
    SELECT count(account_id) = %(legs)s::bigint AND {gate} AS ok FROM legs
), transfer AS (
    {transfer_insert}
), locked AS (
    SELECT a.id FROM ledger_account a
     WHERE a.id = ANY(ARRAY(SELECT account_id FROM legs WHERE member_id IS NOT NULL))
       AND EXISTS (SELECT FROM transfer)
     ORDER BY a.id
       FOR NO KEY UPDATE
), wallets AS (
    UPDATE ledger_account a
       SET balance = a.balance + legs.delta,
           held = a.held + legs.held_delta,
           version = a.version + 1
      FROM legs
     WHERE a.id = ANY(ARRAY(SELECT id FROM locked)) AND a.id = legs.account_id
       AND {covers}
    RETURNING a.id, a.balance, a.version
), covered AS (
    SELECT count(*) = %(wallets)s::bigint AS ok FROM wallets
), postings AS (
    {posting_insert}
), event AS (
    INSERT INTO events_event ({event_columns})
    SELECT %(event_kind)s::text, %(actor)s::bigint, 'transfer:' || transfer.id, {event_data},
           %(now)s::timestamptz
      FROM transfer, covered WHERE covered.ok
    RETURNING seq, data
){rider}
SELECT (SELECT id FROM cur), (SELECT ok FROM ready), (SELECT id FROM transfer),
       CASE WHEN (SELECT id FROM transfer) IS NOT NULL AND NOT (SELECT ok FROM covered)
            THEN ledger_short(%(key)s::text) ELSE true END,
       (SELECT seq FROM event), (SELECT data::text FROM event),
       (SELECT jsonb_agg(jsonb_build_array(legs.member_id, due.id))
          FROM legs JOIN wallets ON wallets.id = legs.account_id
          CROSS JOIN LATERAL ({due}) due
         WHERE legs.delta > 0)::text,
       {rider_row}
