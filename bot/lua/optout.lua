-- Prelude (takes no KEYS or ARGV of its own; finish.lua and compliance.lua pass them): apply a compliance event to a number's opt-out record, only when it is newer.
-- The record (hash: state 'out'|'in', at_us, at, word, sid) keeps the arrival time of the latest
-- event, so a START replayed from a journal after a later STOP never wins. A tie goes to 'out':
-- doubt resolves toward stopping. Returns true when the event changed the record.
local function apply_optout(key, state, at_us_text, at_iso, word, sid)
  -- stored as given: tostring() of a 16-digit number would round it to 14 digits
  local at_us = tonumber(at_us_text)
  local previous = redis.call('HMGET', key, 'state', 'at_us')
  local known = tonumber(previous[2] or '')
  if previous[1] and not known then known = 0 end  -- a record from before arrival times: older than any event
  if known and (known > at_us or (known == at_us and (previous[1] == 'out' or state == 'in'))) then
    return false
  end
  redis.call('HSET', key, 'state', state, 'at_us', at_us_text, 'at', at_iso, 'word', word, 'sid', sid)
  return true
end
