-- Store.upstream_gate: may this issuance call Talon.One now (breaker, then the campaign's budget)?
-- KEYS[1] breaker, KEYS[2] probe, KEYS[3] budget
-- ARGV[1] budget interval_ms (0 = no budget), ARGV[2] budget burst, ARGV[3] probe_ttl_ms
-- Returns {'open', retry_in_ms} | {'over', ms until the budget's next slot} | {'go', probe (0/1), failures}.
local now = now_ms()
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if open_until > now then return {'open', open_until - now} end
local probe = 0
if open_until > 0 then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then return {'open', 1000} end
  probe = 1
end
local interval = tonumber(ARGV[1])
if interval > 0 and not gcra(KEYS[3], interval, tonumber(ARGV[2])) then
  if probe == 1 then redis.call('DEL', KEYS[2]) end
  -- the budget's next slot: when the bucket's theoretical arrival time leaves room for one more
  local tat = tonumber(redis.call('GET', KEYS[3]) or now)
  return {'over', math.max(1, tat + interval - interval * tonumber(ARGV[2]) - now)}
end
return {'go', probe, tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')}
