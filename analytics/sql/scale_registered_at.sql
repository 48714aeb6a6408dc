-- seed_scale: when member g registered (a fragment).
(%(now)s::timestamptz - make_interval(days => %(days)s)
   + make_interval(secs => (g - 1) * 86400.0 * %(days)s / %(n)s))
