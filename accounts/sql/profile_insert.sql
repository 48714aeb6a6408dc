-- The member's empty profile. {values}: member id, archetype, preferences, personality,
-- the three onboarding flags and updated at (a VALUES list, or a SELECT from the member).
INSERT INTO accounts_profile (member_id, archetype, preferences, personality, welcomed,
                              onboarding_completed, tutorial_completed, updated_at)
{values}
