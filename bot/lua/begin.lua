-- Store.begin: a text's whole decision in one round trip.
-- KEYS[1] sid, KEYS[2] optout, KEYS[3] rate, KEYS[4] notice, KEYS[5] code, KEYS[6] lock,
-- KEYS[7] ask (a pending question: "BDAY" alone asked for the date)
-- ARGV[1] pending_ttl_ms, ARGV[2] check_optout ('0'/'1'), ARGV[3] rate_interval_ms (0 = no limit),
-- ARGV[4] rate_burst, ARGV[5] notice_ttl_ms, ARGV[6] lock_token ('' = no issuance), ARGV[7] lock_ttl_ms
-- Returns {status, value}:
--   replay (value = stored reply) | in_flight | opted_out
--   limited (value = 1 when this text gets the one notice of the window)
--   ok (value = cached code, or false when nothing is to be issued; a third value 1 when,
--       with nothing to issue, a question is pending: this text may be its answer)
--   issue (this caller holds the lock: ask upstream) | wait (another caller holds it)
local stored = redis.call('GET', KEYS[1])
if stored then
  if string.sub(stored, 1, 1) == 'R' then return {'replay', string.sub(stored, 2)} end
  return {'in_flight', false}
end
redis.call('SET', KEYS[1], 'P', 'PX', ARGV[1])
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  return {'opted_out', false}
end
local interval = tonumber(ARGV[3])
if interval > 0 and not gcra(KEYS[3], interval, tonumber(ARGV[4])) then
  local first = redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[5])
  return {'limited', first and 1 or 0}
end
if ARGV[6] == '' then return {'ok', false, redis.call('EXISTS', KEYS[7])} end
local code = redis.call('GET', KEYS[5])
if code then return {'ok', code} end
if redis.call('SET', KEYS[6], ARGV[6], 'NX', 'PX', ARGV[7]) then return {'issue', false} end
return {'wait', false}
