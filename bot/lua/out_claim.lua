-- Store.claim_outbound: one outreach text per customer, campaign and occasion.
-- KEYS[1] the claim (P:{sender}:claim:<slug>:<occasion>)
-- ARGV[1] ttl_ms
-- Returns {1, 'queued'} when this call claimed it, else {0, the state found}.
local found = redis.call('GET', KEYS[1])
if found then return {0, found} end
redis.call('SET', KEYS[1], 'queued', 'PX', ARGV[1])
return {1, 'queued'}
