-- Store the answer of a claimed Idempotency-Key (`api.idempotency.write`), in the
-- request's transaction, after its work.
UPDATE api_idempotentrequest SET status = %s, response_body = %s WHERE id = %s
