INSERT INTO analytics_rollup (grain, bucket, metric, dimension, value)
VALUES (%(grain)s, %(bucket)s, %(metric)s, %(dimension)s, %(value)s)
