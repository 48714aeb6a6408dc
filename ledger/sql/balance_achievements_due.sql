-- The balance achievements (their ids) that member {member}, whose wallet in currency
-- {currency} now holds {balance}, reaches and does not hold yet.
SELECT ach.id FROM ledger_achievement ach
 WHERE ach.rule = 'balance' AND ach.is_active
   AND ach.reward_currency_id = {currency} AND ach.threshold <= {balance}
   AND NOT EXISTS (SELECT 1 FROM ledger_memberachievement g
                    WHERE g.member_id = {member} AND g.achievement_id = ach.id)
