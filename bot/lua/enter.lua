-- Store.enter: one competition entry, decided with the window on Redis's clock, once.
-- KEYS[1] entrants, KEYS[2] entries, KEYS[3] counts, KEYS[4] draw
-- ARGV[1] e164, ARGV[2] channel, ARGV[3] poster, ARGV[4] starts_ms, ARGV[5] ends_ms,
-- ARGV[6] max entries per person
-- Returns {status, entry number, nth}: 'entered' (a new entry), 'repeat' (the person's last
-- entry: they have made the most they may), 'not_started' or 'ended' (0, 0).
local now = now_ms()
if now < tonumber(ARGV[4]) then return {'not_started', 0, 0} end
if now > tonumber(ARGV[5]) or redis.call('HEXISTS', KEYS[4], 'commitment') == 1 then
  return {'ended', 0, 0}
end
local nth, number = 0, 0
local found = redis.call('HGET', KEYS[1], ARGV[1])
if found then
  local sep = string.find(found, '|', 1, true)
  nth, number = tonumber(string.sub(found, 1, sep - 1)), tonumber(string.sub(found, sep + 1))
  if nth >= tonumber(ARGV[6]) then return {'repeat', number, nth} end
end
nth = nth + 1
number = redis.call('HLEN', KEYS[2]) + 1
redis.call('HSET', KEYS[2], number, table.concat({ARGV[1], nth, ARGV[2], ARGV[3], now}, '|'))
redis.call('HSET', KEYS[1], ARGV[1], nth .. '|' .. number)
redis.call('HINCRBY', KEYS[3], table.concat({math.floor(now / 3600000), ARGV[2], ARGV[3]}, '|'), 1)
return {'entered', number, nth}
