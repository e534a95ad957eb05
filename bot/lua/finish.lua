-- Store.finish: store the reply, cache the code, release the lock, record the
-- opt-out/in and the consent event, in one round trip.
-- ARGV is built in Python by senders.finish_args, in the order named here.
local sid_key, code_key, lock_key, optout_key, consent_key, served_key, noticed_key, reply_key =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local reply = ARGV[1]                 -- the reply text, stored for replays
local reply_ttl_ms = ARGV[2]
local code = ARGV[3]                  -- '' = no code to cache
local code_ttl_ms = ARGV[4]
local lock_token = ARGV[5]            -- '' = no lock held
local optout = ARGV[6]                -- '' | 'out' | 'in'
local optout_word = ARGV[7]
local now_iso = ARGV[8]
local consent_event = ARGV[9]         -- '' = none | 'opt_in_source' | 'opt_out' | 'opt_in'
local consent_at_ms = ARGV[10]
local consent_retention_ms = ARGV[11]
local consent_entry = ARGV[12]        -- 'at_ms|event|channel|campaign|word'
local consent_campaign = ARGV[13]
local consent_max_events = ARGV[14]
local optout_at_us = ARGV[15]         -- the compliance word's arrival time (microseconds)
local optout_sid = ARGV[16]
local noticed = ARGV[17]              -- '1': this reply carried the opt-in confirmation
local cached_reply = ARGV[18]         -- '' | 'version\ncode\nreply': what begin.lua answers a repeat texter

if optout ~= '' then
  -- a compliance word's MessageSid is kept as long as the opt-out record it changed (no expiry),
  -- so a captured signed START replayed later is a replay, not a new START
  redis.call('SET', sid_key, 'R' .. reply)
else
  redis.call('SET', sid_key, 'R' .. reply, 'PX', reply_ttl_ms)
end
if code ~= '' then redis.call('SET', code_key, code, 'PX', code_ttl_ms) end
if lock_token ~= '' and redis.call('GET', lock_key) == lock_token then redis.call('DEL', lock_key) end
if optout ~= '' then
  apply_optout(optout_key, optout, optout_at_us, now_iso, optout_word, optout_sid)
end
if noticed == '1' then redis.call('SET', noticed_key, '1', 'PX', code_ttl_ms) end
if cached_reply ~= '' then redis.call('SET', reply_key, cached_reply, 'PX', code_ttl_ms) end
if consent_event ~= '' then
  local retention = tonumber(consent_retention_ms)
  local cutoff = tonumber(consent_at_ms) - retention
  local record = true
  if consent_event == 'opt_in_source' then
    -- an opt-in source is recorded once per campaign and retention
    local previous = redis.call('HGET', served_key, consent_campaign)
    record = (not previous) or tonumber(previous) < cutoff
    if record then
      redis.call('HSET', served_key, consent_campaign, consent_at_ms)
      redis.call('PEXPIRE', served_key, retention)
    end
  end
  if record then
    redis.call('RPUSH', consent_key, consent_entry)
    while true do
      local head = redis.call('LINDEX', consent_key, 0)
      if (not head) or tonumber(string.match(head, '^(%d+)')) >= cutoff then break end
      redis.call('LPOP', consent_key)
    end
    redis.call('LTRIM', consent_key, -tonumber(consent_max_events), -1)
    redis.call('PEXPIRE', consent_key, retention)
  end
end
return 1
