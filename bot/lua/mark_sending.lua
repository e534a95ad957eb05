-- Store.mark_sending: a late reply is sent at most once per sender and campaign.
-- KEYS[1] sent
-- ARGV[1] now_iso, ARGV[2] ttl_ms
-- Returns the marker found ('sent' or 'sending:<time>': the caller must not blindly
-- send), or false after writing 'sending:<now>' (the caller may send).
local found = redis.call('GET', KEYS[1])
if found then return found end
redis.call('SET', KEYS[1], 'sending:' .. ARGV[1], 'PX', ARGV[2])
return false
