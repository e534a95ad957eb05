-- Store.commit_draw: freeze a competition's entry list and keep the draw's secret seed, once.
-- KEYS[1] draw, KEYS[2] frozen, KEYS[3] entries
-- ARGV[1] ends_ms, ARGV[2] entry count the list was made from, ARGV[3] commitment (JSON),
-- ARGV[4] seed, ARGV[5] the frozen ids (canonical: sorted, one per line)
-- Returns 'ok', or why not: 'early' (before ends_at on Redis's clock), 'twice' (already
-- committed), 'changed' (entries were added since the list was read).
if now_ms() <= tonumber(ARGV[1]) then return 'early' end
if redis.call('HEXISTS', KEYS[1], 'commitment') == 1 then return 'twice' end
if redis.call('HLEN', KEYS[3]) ~= tonumber(ARGV[2]) then return 'changed' end
redis.call('HSET', KEYS[1], 'commitment', ARGV[3], 'seed', ARGV[4])
redis.call('SET', KEYS[2], ARGV[5])
return 'ok'
