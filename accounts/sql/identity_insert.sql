-- The member's first identity. {values}: member id, platform, external id, username,
-- created at (a VALUES list, or a SELECT from the member just written).
INSERT INTO accounts_identity (member_id, platform, external_id, username, created_at)
{values}
