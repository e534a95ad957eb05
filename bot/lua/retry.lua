-- Store.retry_later: put a leased job back, due after the delay (only if still queued).
-- KEYS[1] due
-- ARGV[1] job id, ARGV[2] delay_ms
-- Returns the number of jobs ZADD XX added (always 0: it only moves a queued job).
return redis.call('ZADD', KEYS[1], 'XX', now_ms() + tonumber(ARGV[2]), ARGV[1])
