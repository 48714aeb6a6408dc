-- A choice's impacts on the member's relationships: each character's level moves by the
-- impact's delta (from 0 for a character new to the member). {rows} are (member,
-- character, delta, moment), in character order: concurrent writers lock relationship
-- rows in one order. Returns each character's level after.
INSERT INTO narrative_relationship (member_id, character_id, level, updated_at)
{rows}
    ON CONFLICT (member_id, character_id) DO UPDATE
   SET level = narrative_relationship.level + EXCLUDED.level,
       updated_at = EXCLUDED.updated_at
RETURNING character_id, level
