-- The member's first identity. {values}: member id, platform, external id, username,
-- first name, last name, is bot, created at (a VALUES list, or a SELECT from the member
-- just written).
INSERT INTO accounts_identity (member_id, platform, external_id, username, first_name,
                               last_name, is_bot, created_at)
{values}
