-- Store.outbound_step: move an outreach claim from one state to the next, only from the state expected.
-- KEYS[1] the claim
-- ARGV[1] expected state ('' = any state that is not final), ARGV[2] new state, ARGV[3] ttl_ms
-- Returns {1, new state} when moved, else {0, the state found (false when none)}.
-- Final states (sent:, skipped:, failed:) never move: a text is decided once.
local found = redis.call('GET', KEYS[1])
local final = found and (string.find(found, '^sent:') or string.find(found, '^skipped:') or string.find(found, '^failed:'))
if final or (ARGV[1] ~= '' and found ~= ARGV[1]) then return {0, found or false} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return {1, ARGV[2]}
