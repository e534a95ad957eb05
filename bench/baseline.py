"""The benchmark's floor: a minimal Flask webhook doing the bot's two Redis round trips, and TwiML.

Run under the same gunicorn settings as the bot (`bench.baseline:app`). Per
POST /sms: one `SET NX PX` claiming the MessageSid (the dedupe claim), one
`EVALSHA` of a GCRA limit check keyed by the sender (GET, compute, SET PX:
the same work as the bot's limit), and a fixed TwiML reply. No signature
check, no keyword matching, no templates, no logging: everything the bot does
beyond this is its own overhead.

`GET /q/<slug>` is the scan's floor: one INCR (the count) and a static HTML page.

`POST /sms?upstream=1` also asks the Talon.One stand-in (TALON_BASE_URL) for
the sender's coupon with one pooled httpx GET, as the bot's first-code path
does: the floor of that path on the same machine.
"""

from __future__ import annotations

import os
from xml.sax.saxutils import escape

import httpx
import redis
from flask import Flask, Response, request

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

client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=2.0, socket_connect_timeout=2.0)
limit = client.register_script(_LIMIT)
talon = httpx.Client(base_url=os.environ.get("TALON_BASE_URL", "http://127.0.0.1:9"), timeout=5.0,
                     headers={"Authorization": "ApiKey-v1 baseline", "destination-hostname": "baseline.talon.one"})
app = Flask(__name__)

REPLY = "Your Acme code: BASE-LINE1. Show it at the till."


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
    body = '<?xml version="1.0" encoding="UTF-8"?><Response>'
    body += f"<Message>{escape(text)}</Message></Response>" if text else "</Response>"
    return Response(body, status=200, mimetype="text/xml")


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Rewards</title></head>
<body><h1>Text SAVE to +1 500-555-0006</h1><a href="sms:+15005550006?body=SAVE">Text SAVE</a></body></html>"""


@app.get("/q/<slug>")
def scan(slug: str) -> Response:
    client.incr(f"base:scans:{slug}")
    return Response(PAGE, status=200, mimetype="text/html")


@app.get("/healthz")
def healthz() -> str:
    return "ok"
