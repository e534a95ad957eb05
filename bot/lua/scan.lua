-- Store.count_scan: one QR scan into the results funnel's hourly bucket.
-- KEYS[1] seen (the day's HyperLogLog of visitors of this campaign|poster), KEYS[2] funnel bucket of the hour
-- ARGV[1] visitor (a salted hash), ARGV[2] seen_ttl_ms,
-- ARGV[3] funnel field prefix ('campaign|poster|'), ARGV[4] funnel bucket expiry (unix seconds)
-- Returns 1 when the visitor counted as new today (a unique scan), else 0.
-- A HyperLogLog holds any number of visitors in at most 12 KB (0.81% standard error). The hour's
-- unique count grows by the estimate's growth, so the hours add up to the day's estimate.
-- PFCOUNT before PFADD is answered from the HyperLogLog's cached cardinality.
redis.call('HINCRBY', KEYS[2], ARGV[3] .. 'scan', 1)
local grown = 0
local before = redis.call('PFCOUNT', KEYS[1])
if redis.call('PFADD', KEYS[1], ARGV[1]) == 1 then
  grown = redis.call('PFCOUNT', KEYS[1]) - before
  if grown > 0 then redis.call('HINCRBY', KEYS[2], ARGV[3] .. 'unique_scan', grown) end
end
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
redis.call('EXPIREAT', KEYS[2], ARGV[4])
if grown > 0 then return 1 end
return 0
