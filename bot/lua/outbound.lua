-- Store.record_outbound: a text we just created, so its status callbacks can be matched.
-- KEYS[1] the message (under its recipient's tag)
-- ARGV[1] campaign, ARGV[2] occasion, ARGV[3] status from Twilio's answer, ARGV[4] its rank,
-- ARGV[5] now_iso, ARGV[6] retention_ms, ARGV[7] the send's time (unix seconds): receipts are counted by it
-- A callback may have won the race to the key only if it was stored, and it never is for an
-- unknown message: so this write is always the first.
redis.call('HSET', KEYS[1], 'campaign', ARGV[1], 'occasion', ARGV[2], 'status', ARGV[3], 'rank', ARGV[4],
  'error', '', 'at', ARGV[5], 'sent', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
