-- Prelude: Redis's own clock in milliseconds. Every worker and host agrees on
-- it, where the app's clocks may drift.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
