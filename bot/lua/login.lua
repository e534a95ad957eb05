-- Store.login_attempt / refund_login: the marketer login's limiter, decided before any password is read.
-- KEYS[1] this client's failure bucket, KEYS[2] the global failure bucket (one hash tag: one slot)
-- ARGV[1] 'take' | 'refund', ARGV[2] client interval_ms, ARGV[3] client burst,
-- ARGV[4] global interval_ms, ARGV[5] global burst
-- take: 1 when both buckets have room (one is taken from each), 0 when this client is locked,
-- -1 when every client is (the global budget). refund: gives the attempt back after a right password.
local now = now_ms()
local buckets = {{KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3])}, {KEYS[2], tonumber(ARGV[4]), tonumber(ARGV[5])}}
local tats = {}
for i, b in ipairs(buckets) do
  local tat = tonumber(redis.call('GET', b[1]) or now)
  if tat < now then tat = now end
  tats[i] = tat
end
if ARGV[1] == 'refund' then
  for i, b in ipairs(buckets) do
    local tat = tats[i] - b[2]
    if tat > now then redis.call('SET', b[1], tat, 'PX', tat - now) else redis.call('DEL', b[1]) end
  end
  return 1
end
for i, b in ipairs(buckets) do
  if tats[i] + b[2] - now > b[2] * b[3] then
    if i == 1 then return 0 end
    return -1
  end
end
for i, b in ipairs(buckets) do
  local tat = tats[i] + b[2]
  redis.call('SET', b[1], tat, 'PX', tat - now)
end
return 1
