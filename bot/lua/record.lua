-- Store.record_upstream: one upstream call's outcome, for the circuit breaker.
-- KEYS[1] breaker, KEYS[2] probe
-- ARGV[1] ok ('1'/'0'), ARGV[2] failure threshold, ARGV[3] cooldown_ms, ARGV[4] window_ms
-- Returns 'open' when this failure opened (or re-opened) the breaker, else 'closed'.
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 'closed'
end
local now = now_ms()
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) + 2 * tonumber(ARGV[3]))
if failures >= tonumber(ARGV[2]) or open_until > 0 then
  redis.call('HSET', KEYS[1], 'open_until', now + tonumber(ARGV[3]), 'failures', 0)
  redis.call('DEL', KEYS[2])
  return 'open'
end
return 'closed'
