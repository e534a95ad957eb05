-- Store.take_form_nonce: use a landing form's nonce once, for the page it was served with.
-- KEYS[1] nonce
-- ARGV[1] the slug the form is posted to
-- Returns 1 when the nonce existed for this slug (it is gone now), else 0.
local slug = redis.call('GET', KEYS[1])
if not slug then return 0 end
redis.call('DEL', KEYS[1])
if slug == ARGV[1] then return 1 end
return 0
