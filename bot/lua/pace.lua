-- Store.pace: the program-wide send rate, one GCRA bucket on Redis's clock shared by every worker.
-- KEYS[1] pace
-- ARGV[1] interval_ms (1000 / send_rate), ARGV[2] burst
-- Returns 0 when this send may go now (and takes its place), else the ms to wait before asking again.
local now = now_ms()
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - interval * burst
if wait > 0 then return wait end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now + 1)
return 0
