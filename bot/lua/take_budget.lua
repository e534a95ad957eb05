-- Store.take_form_budget: one text from the hour's global budget of form texts.
-- KEYS[1] the hour's counter
-- ARGV[1] budget (texts this hour), ARGV[2] counter expiry (unix seconds)
-- Returns 1 when the text fits the budget, else 0 (the counter is one integer whatever it counts).
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end
if used <= tonumber(ARGV[1]) then return 1 end
return 0
