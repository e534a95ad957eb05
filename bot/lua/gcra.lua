-- Prelude (after clock.lua): the one GCRA implementation every limiting script shares.
-- gcra(key, interval_ms, burst) is true when the event is allowed (and records
-- it in the theoretical arrival time at `key`), false when the bucket is empty.
local function gcra(key, interval, burst)
  local now = now_ms()
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  if new_tat - now > interval * burst then return false end
  redis.call('SET', key, new_tat, 'PX', new_tat - now)
  return true
end
