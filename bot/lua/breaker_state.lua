-- Store.breaker_state: the circuit breaker as the health check reports it.
-- KEYS[1] breaker
-- ARGV: none
-- Returns {state ('open' | 'half-open' | 'closed'), ms until it may close}.
local now = now_ms()
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if open_until > now then return {'open', open_until - now} end
if open_until > 0 then return {'half-open', 0} end
return {'closed', 0}
