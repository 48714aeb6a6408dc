-- Hourly rows are kept for the last 48 hours.
DELETE FROM analytics_rollup WHERE grain = 'hour' AND bucket < %(before)s
