INSERT INTO accounts_profile (archetype, preferences, personality, welcomed,
                              onboarding_completed, tutorial_completed, updated_at, member_id)
SELECT '', '{{}}', '{{}}', false, false, false, m.created_at, m.id
  FROM accounts_member m WHERE m.id > %(base)s AND m.id <= %(base)s + %(n)s
