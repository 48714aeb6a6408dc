-- Payments (payments_payment): purchases completed and refunds made in the bucket, per
-- money currency (ISO 4217): how many, and the money in minor units. The credits they
-- bought show in the ledger flows as kind 'award' (payment:<provider>:<reference>).
SELECT 'payments.purchases', currency, COUNT(*) FROM payments_payment
 WHERE completed_at >= %(start)s AND completed_at < %(end)s GROUP BY currency
UNION ALL
SELECT 'payments.money_in', currency, SUM(amount) FROM payments_payment
 WHERE completed_at >= %(start)s AND completed_at < %(end)s GROUP BY currency
UNION ALL
SELECT 'payments.refunds', currency, COUNT(*) FROM payments_payment
 WHERE refunded_at >= %(start)s AND refunded_at < %(end)s GROUP BY currency
UNION ALL
SELECT 'payments.money_refunded', currency, SUM(amount) FROM payments_payment
 WHERE refunded_at >= %(start)s AND refunded_at < %(end)s GROUP BY currency
