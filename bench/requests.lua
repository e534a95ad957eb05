-- wrk script: send pre-signed requests, each once, in order; stop after `limit` responses.
-- Usage: wrk -t1 -cN -dS -s bench/requests.lua URL -- FILE LIMIT
-- FILE: one request a line, "METHOD<TAB>PATH<TAB>X-Twilio-Signature<TAB>form body"; a GET's third
-- field is its X-Forwarded-For (each scan its own client, as the bot's per-client scan limit expects).
-- FILE holds LIMIT requests plus one spare per connection, so requests sent
-- while the last responses are on their way are new ones too, never repeats.
local requests = {}
local sent = 0
local received = 0
local limit = 0

function init(args)
  for line in io.lines(args[1]) do
    local method, path, signature, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    local headers = {}
    if signature ~= "" then
      headers[method == "GET" and "X-Forwarded-For" or "X-Twilio-Signature"] = signature
    end
    -- A QR scan comes from a phone's browser (requests without a browser's User-Agent are not counted).
    if method == "GET" then
      headers["User-Agent"] = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 " ..
        "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
    end
    if body ~= "" then
      headers["Content-Type"] = "application/x-www-form-urlencoded"
    else
      body = nil
    end
    requests[#requests + 1] = wrk.format(method, path, headers, body)
  end
  limit = tonumber(args[2])
end

function request()
  sent = sent + 1
  if sent > #requests then sent = #requests end
  return requests[sent]
end

function response(status, headers, body)
  received = received + 1
  if received >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "mean_us": %.1f, ' ..
    '"connect_errors": %d, "read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
