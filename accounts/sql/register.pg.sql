-- Registration on PostgreSQL: member, identity and profile in one statement (one round
-- trip, one plan); SQLite runs the three inserts one by one. Pieces: {member_insert},
-- {identity_insert}, {profile_insert}.
WITH member AS ({member_insert}),
identity AS ({identity_insert}),
profile AS ({profile_insert})
SELECT id FROM member
