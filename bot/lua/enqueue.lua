-- Store.enqueue: queue a late-delivery job once.
-- KEYS[1] due, KEYS[2] payloads, KEYS[3] attempts
-- ARGV[1] job id, ARGV[2] payload, ARGV[3] delay_ms
-- Returns 1 = queued, 0 = a job with this id is already waiting.
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
local now = now_ms()
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], 0)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
return 1
