"""`make bench`, delivery receipts: status callbacks processed per second through gunicorn, loopback only.

The bot runs under the Procfile's own gunicorn command (bound to 127.0.0.1)
against a redis-server this script starts on a free port. MESSAGES outbound
texts are recorded as `SmsSender.send` records them (`Store.record_outbound`);
each gets three callbacks, ``sent``, ``delivered`` and a repeated ``sent``,
shuffled so most arrive out of order, each signed beforehand with twilio's
RequestValidator by the tests' Twilio stand-in (tests/support/twilio_stub.py)
over the public StatusCallback URL. wrk (bench/requests.lua) posts each one
once, bounded by a count and a duration. Afterwards every message must end
``delivered`` (read back from Redis), and the rate is compared with the
issue's target: 10 x a send rate of 100/s.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlencode

import redis

from bench.__main__ import AUTH_TOKEN, PUBLIC_BASE_URL, bot_env, scrape, version, wrk
from bot.outbound import STATUS_CALLBACK_PATH
from bot.store import Store
from tests.support.gunicorn import ROOT, Gunicorn, procfile_web_args
from tests.support.redis_server import RedisServer
from tests.support.talon_stub import TalonStub
from tests.support.twilio_stub import SentMessage, TwilioStub
from tests.support.webhooks import ACCOUNT_SID, SHOP_NUMBER

MESSAGES = 8_000
STEPS = ("sent", "delivered", "sent")
#: (connections, seconds, max requests): wrk stops at whichever comes first.
LOAD = (16, 30, MESSAGES * len(STEPS) - 16)
WARMUP = 400
SEND_RATE = 100
TARGET = 10 * SEND_RATE


def messages(count: int) -> list[SentMessage]:
    now = dt.datetime.now(dt.UTC)
    return [SentMessage("SM" + uuid.uuid4().hex, ACCOUNT_SID, f"+1555{n:07d}", SHOP_NUMBER, "code", now, ACCOUNT_SID,
                        PUBLIC_BASE_URL + STATUS_CALLBACK_PATH) for n in range(count)]


def lines_for(sent: list[SentMessage]) -> list[tuple[str, str, str, str]]:
    signer = TwilioStub(auth_token=AUTH_TOKEN)  # never started: it only signs
    callbacks = [signer.callback(m, status) for m in sent for status in STEPS]
    random.Random(14).shuffle(callbacks)
    return [("POST", c.path, c.signature, urlencode(c.form)) for c in callbacks]


def main() -> int:
    if shutil.which("wrk") is None:
        print("bench: wrk is missing: `make bench` installs Debian's wrk (apt-get install wrk)", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="kcb-bench-receipts-"))
    redis_server = RedisServer().start()
    talon = TalonStub().start()  # the bot's settings name one; callbacks never call it
    prefix = "benchr" + uuid.uuid4().hex[:8]
    store = Store(redis.Redis.from_url(redis_server.url), prefix=prefix)
    bot = None
    try:
        warm, sent = messages(WARMUP), messages(MESSAGES)
        for m in warm + sent:
            store.record_outbound(m.sid, m.to, campaign="spring", occasion="bench", status="queued", sent_at=m.sent_at,
                                 retention_days=1)
        bot = Gunicorn.on_free_port(procfile_web_args, env=bot_env(redis_server.url, talon, workdir, prefix)).start()
        wrk(bot.url, lines_for(warm), (8, 2, WARMUP * len(STEPS) - 8), workdir)
        before = scrape(bot.url)
        result = wrk(bot.url, lines_for(sent), LOAD, workdir)
        after = scrape(bot.url)
        handled = {
            kind: after.get(("kcb_receipts_total", frozenset({("result", kind)})), 0)
            - before.get(("kcb_receipts_total", frozenset({("result", kind)})), 0)
            for kind in ("stored", "stale", "unknown", "forbidden", "malformed", "ignored")
        }
        finals = [store.last_status(m.sid, m.to) for m in sent]
    finally:
        if bot is not None:
            bot.stop()
        talon.close()
        redis_server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    delivered = sum(1 for f in finals if f == ("delivered", ""))
    complete = result.requests >= LOAD[2]
    print()
    print(f"delivery receipts benchmark: {os.cpu_count()} cores (shared with wrk and redis), loopback only")
    print(f"  {version(['wrk', '-v'])} -t1 -c{LOAD[0]}; {version(['redis-server', '--version'])};"
          f" Python {sys.version.split()[0]}; the bot under the Procfile's {web}")
    print(f"  {MESSAGES} texts x {len(STEPS)} callbacks ({', '.join(STEPS)}), shuffled; bounds {LOAD[2]} requests"
          f" or {LOAD[1]} s")
    print(f"  callbacks/s: {result.rps:,.0f} (p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms,"
          f" {result.errors} errors); target >= {TARGET:,}/s (10 x send_rate {SEND_RATE}):"
          f" {'met' if result.rps >= TARGET else 'NOT met'}")
    print(f"  handled: {', '.join(f'{k} {v:.0f}' for k, v in handled.items() if v)};"
          f" texts ending delivered: {delivered}/{MESSAGES}"
          f"{'' if complete else ' (the run stopped at its time bound: not every callback was posted)'}")
    return 0 if result.errors == 0 and handled["forbidden"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
