"""The benchmark's floors: minimal Flask webhooks under the bot's gunicorn settings.

Run under the same gunicorn settings as the bot (`bench.baseline:app`). Per
POST /sms: one `SET NX PX` claiming the MessageSid (the dedupe claim), one
`EVALSHA` of a GCRA limit check keyed by the sender (GET, compute, SET PX:
the same work as the bot's limit), and a fixed TwiML reply. No signature
check, no keyword matching, no templates, no logging: everything the bot does
beyond this is its own overhead.

`POST /sms/one-trip` is the floor of a repeat texter's answer in ONE round
trip: the signature checked with twilio's RequestValidator (one HMAC, as the
bot does), then one EVALSHA that claims the MessageSid, checks the opt-out and
the GCRA limit, reads the cached code, builds the reply and stores it for
replays. A text with no cached code is a 500, so a floor run that skipped the
work fails the benchmark instead of flattering the floor.

`POST /sms/bare` is bare Flask: fixed TwiML, nothing read, nothing checked.

`GET /q/<slug>` is the scan's floor: one INCR (the count) and a static HTML page.

`POST /sms?upstream=1` also asks the Talon.One stand-in (TALON_BASE_URL) for
the sender's coupon with one pooled httpx GET, as the bot's first-code path
does: the floor of that path on the same machine.
"""

from __future__ import annotations

import hmac
import os
from xml.sax.saxutils import escape

import httpx
import redis
from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator

_LIMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + tonumber(ARGV[1])
if new_tat - now > tonumber(ARGV[1]) * tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 1
"""

# KEYS[1] sid, KEYS[2] optout, KEYS[3] rate, KEYS[4] code; ARGV[1] interval ms, ARGV[2] burst,
# ARGV[3] reply before the code, ARGV[4] after it. Returns the reply, '' (nothing to send) or false (no code).
_ONE_TRIP = """
local stored = redis.call('GET', KEYS[1])
if stored then return string.sub(stored, 2) end
redis.call('SET', KEYS[1], 'P', 'PX', 30000)
if redis.call('EXISTS', KEYS[2]) == 1 then return '' end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tat = tonumber(redis.call('GET', KEYS[3]) or now)
if tat < now then tat = now end
local new_tat = tat + tonumber(ARGV[1])
if new_tat - now > tonumber(ARGV[1]) * tonumber(ARGV[2]) then return '' end
redis.call('SET', KEYS[3], new_tat, 'PX', new_tat - now)
local code = redis.call('GET', KEYS[4])
if not code then return false end
local reply = ARGV[3] .. code .. ARGV[4]
redis.call('SET', KEYS[1], 'R' .. reply, 'PX', 86400000)
return reply
"""

client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2.0, socket_connect_timeout=2.0)
limit = client.register_script(_LIMIT)
one_trip = client.register_script(_ONE_TRIP)
validator = RequestValidator(os.environ.get("TWILIO_AUTH_TOKEN", ""))
public_base_url = os.environ.get("PUBLIC_BASE_URL", "")
talon = httpx.Client(base_url=os.environ.get("TALON_BASE_URL", "http://127.0.0.1:9"), timeout=5.0,
                     headers={"Authorization": "ApiKey-v1 baseline", "destination-hostname": "baseline.talon.one"})
app = Flask(__name__)

REPLY = "Your Acme code: BASE-LINE1. Show it at the till."


def code_key(sender: str) -> str:
    """Where the one-trip floor reads a repeat texter's code (the benchmark seeds it)."""
    return f"base:{{{sender}}}:code"


def twiml(text: str) -> Response:
    body = '<?xml version="1.0" encoding="UTF-8"?><Response>'
    body += f"<Message>{escape(text)}</Message></Response>" if text else "</Response>"
    return Response(body, status=200, mimetype="text/xml")


@app.post("/sms")
def sms() -> Response:
    form = request.form
    sender = form["From"]
    claimed = client.set(f"base:{{{sender}}}:sid:{form['MessageSid']}", "P", nx=True, px=30_000)
    allowed = limit(keys=[f"base:{{{sender}}}:rate"], args=[120_000, 5])
    text = REPLY if claimed and allowed else ""
    if text and request.args.get("upstream"):
        params = {"applicationId": 12, "campaignId": 345, "externalCampaignId": "sms-spring", "identifier": sender}
        text = f"Your Acme code: {talon.get('/customer_engagement/coupon', params=params).json()['Value']}."
    return twiml(text)


class _FormLists(dict):
    """{name: [values]} with the `getall` RequestValidator asks for first (as bot/sms.py passes the form)."""

    getall = dict.__getitem__


@app.post("/sms/one-trip")
def sms_one_trip() -> Response:
    form = request.form
    expected = validator.compute_signature(public_base_url + request.path, _FormLists(form.lists()))
    if not hmac.compare_digest(expected.encode(), request.headers.get("X-Twilio-Signature", "").encode()):
        abort(403)
    sender = form["From"]
    keys = [f"base:{{{sender}}}:sid:{form['MessageSid']}", f"base:{{{sender}}}:optout", f"base:{{{sender}}}:rate",
            code_key(sender)]
    reply = one_trip(keys=keys, args=[120_000, 5, "Your Acme code: ", ". Show it at the till."])
    if reply is None:
        abort(500, description="no cached code: the benchmark did not seed this sender")
    return twiml(reply.decode())


BARE = twiml(REPLY).get_data()


@app.post("/sms/bare")
def sms_bare() -> Response:
    return Response(BARE, status=200, mimetype="text/xml")


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Rewards</title></head>
<body><h1>Text SAVE to +1 500-555-0006</h1><a href="sms:+15005550006?body=SAVE">Text SAVE</a></body></html>"""


@app.get("/q/<slug>")
def scan(slug: str) -> Response:
    client.incr(f"base:scans:{slug}")
    return Response(PAGE, status=200, mimetype="text/html")


@app.get("/healthz")
def healthz() -> str:
    return "ok"
