-- Store.replay_compliance: one journalled STOP/START written into Redis (journal.py replays them in
-- arrival order). Idempotent: a MessageSid already stored was applied before.
-- KEYS[1] sid, KEYS[2] optout, KEYS[3] consent
-- ARGV[1] state ('out'|'in'), ARGV[2] at_us, ARGV[3] at_iso, ARGV[4] word, ARGV[5] sid, ARGV[6] reply,
-- ARGV[7] consent entry, ARGV[8] consent retention ms, ARGV[9] consent max events
-- Returns 'known' (sid seen before), 'applied' or 'stale' (a newer event holds the record).
-- A known sid is not logged again, but the record still takes it when it is newer than what the
-- record holds: the opt-out record alone can be lost (deleted, an old backup restored).
if redis.call('EXISTS', KEYS[1]) == 1 and string.sub(redis.call('GET', KEYS[1]), 1, 1) == 'R' then
  apply_optout(KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
  return 'known'
end
-- kept as long as the opt-out record it changed: no expiry
redis.call('SET', KEYS[1], 'R' .. ARGV[6])
local applied = apply_optout(KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
redis.call('RPUSH', KEYS[3], ARGV[7])
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[9]), -1)
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[8]))
if applied then return 'applied' end
return 'stale'
