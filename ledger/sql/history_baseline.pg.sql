-- The first version of each configuration row that existed before its history was kept
-- (run once by the migration that starts a model's history; config.history.baseline).
-- Labelled 'baseline': config_changed() writes no event for it.
INSERT INTO {history} (pgh_created_at, pgh_label, pgh_obj_id, {columns})
SELECT now(), 'baseline', id, {columns} FROM {tracked}
