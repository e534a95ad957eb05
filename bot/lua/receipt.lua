-- Store.record_receipt: one Twilio status callback, applied once, in rank order.
-- KEYS[1] the message, KEYS[2] the recipient's opt-out, KEYS[3] the recipient's do-not-send mark
-- ARGV[1] status, ARGV[2] its rank, ARGV[3] ErrorCode ('' for none), ARGV[4] now_iso,
-- ARGV[5] mark: '' | 'optout' | 'undeliverable', ARGV[6] the do-not-send mark's ttl_ms
-- Returns {'unknown'} for a message we did not send (or whose record expired);
-- {'stale', campaign, occasion, status, sent (unix seconds)} when the message already has this rank or a higher one
-- (a retry, or a late 'sent' after 'delivered'): nothing is written;
-- {'stored', campaign, occasion, previous status, sent} when this status is the message's new last one.
local found = redis.call('HMGET', KEYS[1], 'campaign', 'occasion', 'status', 'rank', 'sent')
if not found[1] then return {'unknown'} end
if tonumber(ARGV[2]) <= tonumber(found[4] or '0') then
  return {'stale', found[1], found[2], found[3], found[5]}
end
-- HSET keeps the key's expiry: the record lives the retention from its send.
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'rank', ARGV[2], 'error', ARGV[3], 'at', ARGV[4])
if ARGV[5] == 'optout' then
  -- As Store.record_opt_out writes it; an earlier STOP's time and word are kept.
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('HSET', KEYS[2], 'at', ARGV[4], 'word', ARGV[3])
  end
elseif ARGV[5] == 'undeliverable' then
  redis.call('HSET', KEYS[3], 'code', ARGV[3], 'at', ARGV[4])
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
end
return {'stored', found[1], found[2], found[3], found[5]}
