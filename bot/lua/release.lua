-- Store.release: give up a claim that never got a reply, so Twilio's retry can run.
-- KEYS[1] sid
-- ARGV: none
-- Returns 1 when the pending claim was deleted, else 0.
if redis.call('GET', KEYS[1]) == 'P' then return redis.call('DEL', KEYS[1]) end
return 0
