-- Store.begin: a text's whole decision in one round trip; for a repeat texter, its whole answer.
-- KEYS[1] sid, KEYS[2] optout, KEYS[3] rate, KEYS[4] notice, KEYS[5] code, KEYS[6] lock, KEYS[7] noticed,
-- KEYS[8] ask (a pending question: "BDAY" alone asked for the date), KEYS[9] reply (the cached reply of
-- KEYS[5]'s campaign), KEYS[10] consent:served; with the upstream gate (one Redis node only): KEYS[11]
-- breaker, KEYS[12] probe, KEYS[13] the campaign's budget
-- ARGV[1] pending_ttl_ms, ARGV[2] check_optout ('0'/'1'), ARGV[3] rate_interval_ms (0 = no limit),
-- ARGV[4] rate_burst, ARGV[5] notice_ttl_ms, ARGV[6] lock_token ('' = no issuance), ARGV[7] lock_ttl_ms,
-- ARGV[8] reply_version ('' = the reply is not served from the cache), ARGV[9] served_since_ms (the consent
-- retention's cutoff), ARGV[10] reply_ttl_ms, ARGV[11] campaign slug, ARGV[12] journalled_stop_us (the
-- arrival of the STOP this host journalled as the number's latest event; '0' = none); with the gate:
-- ARGV[13] budget interval_ms (0 = no budget), ARGV[14] budget burst, ARGV[15] probe_ttl_ms
-- Returns {status, value, opted_out, noticed, asking[, code | the gate's three values]}:
--   journal_ahead (nothing claimed: Redis's opt-out record is older than ARGV[12] or missing, so Redis
--     lost that STOP; the caller writes it again and begins again)
--   replay (value = stored reply) | in_flight | opted_out
--   limited (value = 1 when this text gets the one notice of the window)
--   served (value = the cached reply, already stored for replays; code = the cached code)
--   ok (value = cached code, or false when nothing is to be issued)
--   issue (this caller holds the lock: ask upstream; with the gate's keys, followed by
--     upstream_gate's answer, so the call needs no round trip of its own) | wait (another caller holds it)
-- opted_out: 1 when the number's opt-out record says out (a record with state 'in' is a START kept
-- for its arrival time); noticed: 1 once the number was sent the opt-in confirmation; asking: 1 when,
-- with nothing to issue, a question is pending (a birthday asked for): this text may be its answer.
if ARGV[12] ~= '0' and tonumber(redis.call('HGET', KEYS[2], 'at_us') or '0') < tonumber(ARGV[12]) then
  return {'journal_ahead', false, 0, 0, 0}
end
local out = 0
if redis.call('EXISTS', KEYS[2]) == 1 and redis.call('HGET', KEYS[2], 'state') ~= 'in' then out = 1 end
local stored = redis.call('GET', KEYS[1])
if stored then
  if string.sub(stored, 1, 1) == 'R' then return {'replay', string.sub(stored, 2), out, 0, 0} end
  return {'in_flight', false, out, 0, 0}
end
redis.call('SET', KEYS[1], 'P', 'PX', ARGV[1])
local noticed = redis.call('EXISTS', KEYS[7])
if ARGV[2] == '1' and out == 1 then
  return {'opted_out', false, out, noticed, 0}
end
local interval = tonumber(ARGV[3])
if interval > 0 and not gcra(KEYS[3], interval, tonumber(ARGV[4])) then
  local first = redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[5])
  return {'limited', first and 1 or 0, out, noticed, 0}
end
if ARGV[6] == '' then return {'ok', false, out, noticed, redis.call('EXISTS', KEYS[8])} end
local code = redis.call('GET', KEYS[5])
if code then
  -- The cached reply answers only what finish would have answered unchanged: rendered from this
  -- template version and this code, no opt-in confirmation due, and the campaign's opt-in source
  -- already in the consent log within the retention (so finish would write no consent event).
  if ARGV[8] ~= '' and noticed == 1 then
    local cached = redis.call('GET', KEYS[9])
    local head = ARGV[8] .. '\n' .. code .. '\n'
    local served = tonumber(redis.call('HGET', KEYS[10], ARGV[11]) or '')
    if cached and string.sub(cached, 1, #head) == head and served and served >= tonumber(ARGV[9]) then
      local reply = string.sub(cached, #head + 1)
      redis.call('SET', KEYS[1], 'R' .. reply, 'PX', ARGV[10])
      return {'served', reply, out, noticed, 0, code}
    end
  end
  return {'ok', code, out, noticed, 0}
end
if redis.call('SET', KEYS[6], ARGV[6], 'NX', 'PX', ARGV[7]) then
  if KEYS[11] then
    local gate = upstream_gate(KEYS[11], KEYS[12], KEYS[13], tonumber(ARGV[13]), tonumber(ARGV[14]), ARGV[15])
    return {'issue', false, out, noticed, 0, gate[1], gate[2], gate[3] or 0}
  end
  return {'issue', false, out, noticed, 0}
end
return {'wait', false, out, noticed, 0}
