-- Prelude (after clock.lua and gcra.lua): the upstream gate, which gate.lua runs alone and begin.lua
-- runs for a first code on one Redis node (its keys are not in the sender's cluster slot).
-- upstream_gate(breaker, probe, budget, interval_ms, burst, probe_ttl_ms): may an issuance call
-- Talon.One now (the breaker, then the campaign's budget; interval_ms 0 = no budget)?
-- Returns {'open', retry_in_ms} | {'over', ms until the budget's next slot} | {'go', probe (0/1), failures}.
local function upstream_gate(breaker, probe_key, budget, interval, burst, probe_ttl_ms)
  local now = now_ms()
  local open_until = tonumber(redis.call('HGET', breaker, 'open_until') or '0')
  if open_until > now then return {'open', open_until - now} end
  local probe = 0
  if open_until > 0 then
    if not redis.call('SET', probe_key, '1', 'NX', 'PX', probe_ttl_ms) then return {'open', 1000} end
    probe = 1
  end
  if interval > 0 and not gcra(budget, interval, burst) then
    if probe == 1 then redis.call('DEL', probe_key) end
    -- the budget's next slot: when the bucket's theoretical arrival time leaves room for one more
    local tat = tonumber(redis.call('GET', budget) or now)
    return {'over', math.max(1, tat + interval - interval * burst - now)}
  end
  return {'go', probe, tonumber(redis.call('HGET', breaker, 'failures') or '0')}
end
