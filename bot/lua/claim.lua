-- Store.claim: lease the first due job; a dead worker's job comes due again after the lease.
-- KEYS[1] due, KEYS[2] payloads, KEYS[3] attempts
-- ARGV[1] lease_ms
-- Returns {id, payload, attempt} or false.
local now = now_ms()
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
if #ids == 0 then return false end
local id = ids[1]
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id)
local attempt = redis.call('HINCRBY', KEYS[3], id, 1)
return {id, redis.call('HGET', KEYS[2], id), attempt}
