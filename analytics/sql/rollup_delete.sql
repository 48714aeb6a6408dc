-- A rebuild's first step: the buckets' rows go, the computed ones are then inserted.
DELETE FROM analytics_rollup WHERE grain = %(grain)s AND bucket >= %(start)s AND bucket < %(end)s
