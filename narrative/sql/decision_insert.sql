-- The member's decision. {values}: member, story, chapter, choice, reward, reward
-- transfer and created at (a VALUES list, typed for its database).
INSERT INTO narrative_decision (member_id, story_id, chapter_id, choice_id, reward,
                                reward_transfer_id, created_at)
{values}
RETURNING id
