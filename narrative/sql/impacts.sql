-- The choice's impacts on characters' relationship levels, in character order.
SELECT character_id, delta FROM narrative_choiceimpact WHERE choice_id = %(choice)s
 ORDER BY character_id
