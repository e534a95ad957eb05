-- Store.take_lease: one holder at a time (the birthday planner); the holder renews it.
-- KEYS[1] lease
-- ARGV[1] token, ARGV[2] ttl_ms
-- Returns 1 when `token` holds the lease now (taken or renewed), else 0.
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
