-- Every webhook endpoint's row, in id order, FOR KEY SHARE (`api.actions.erasure`, before
-- it locks deliveries): the writers of deliveries lock their endpoint FOR UPDATE first
-- and wait; the sender's lease, an UPDATE of `leased_until` (no key), goes through.
SELECT id FROM api_webhookendpoint ORDER BY id FOR KEY SHARE
