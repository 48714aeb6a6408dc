-- The bonuses a registration pays: per currency opening on signup, welcome and referral.
SELECT code, signup_bonus, referral_bonus FROM ledger_currency
 WHERE opens_on_signup AND (signup_bonus > 0 OR referral_bonus > 0)
 ORDER BY id
