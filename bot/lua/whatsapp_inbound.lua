-- Store.open_whatsapp_window: a WhatsApp text came in, so the 24-hour customer-service window opens.
-- KEYS[1] window, KEYS[2] refused
-- ARGV[1] at_ms (the text's time), ARGV[2] window_ms
-- A person who blocked the sender (63014) and now writes to it has unblocked it: that record
-- goes. Meta's 131050 ("Stop promotions") stays: only the person resumes it, in their app.
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('HGET', KEYS[2], 'code') == '63014' then
  redis.call('DEL', KEYS[2])
end
return 1
