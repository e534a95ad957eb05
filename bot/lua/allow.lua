-- Store.allow: take one event from a GCRA bucket.
-- KEYS[1] bucket
-- ARGV[1] interval_ms, ARGV[2] burst
-- Returns 1 (allowed) or 0.
if gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])) then return 1 end
return 0
