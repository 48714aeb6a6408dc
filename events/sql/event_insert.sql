-- One event row (`events.publish`); its seq is the log's order. {columns}:
-- `events.log.INSERT_COLUMNS`, the list the actions' own statements fill the same way.
INSERT INTO events_event ({columns}) VALUES (%s, %s, %s, %s, %s) RETURNING seq
