-- The API key a bearer token's prefix names (`api.actions.authenticate`, every request):
-- written out once here rather than built by the ORM each time.
SELECT id, label, prefix, secret_hash, scopes, actor_id, created_at, expires_at, revoked_at,
       last_used_at, replaced_by_id
  FROM api_apikey
 WHERE prefix = %s
