"""`make bench`, delivery receipts: status callbacks processed per second through gunicorn, loopback only.

The bot runs under the Procfile's own gunicorn command (bound to 127.0.0.1)
against a redis-server this script starts on a free port. MESSAGES outbound
texts are recorded as `SmsSender.send` records them (`Store.record_outbound`);
each gets three callbacks, ``sent``, ``delivered`` and a repeated ``sent``,
shuffled so most arrive out of order, each signed beforehand with twilio's
RequestValidator by the tests' Twilio stand-in (tests/support/twilio_stub.py)
over the public StatusCallback URL. wrk (bench/requests.lua) posts them in
that order, each once, for a fixed duration: wrk reports the whole duration
even when its count stops it early, so the count is set above what the bot
can do and a run that reaches it is marked as a lower bound. Afterwards, read
back from Redis: every text whose ``delivered`` was posted (before the last
requests in flight) is ``delivered``, whatever came after it, and every text
none of whose callbacks was posted is still ``queued``. The rate is compared
with the issue's target: 10 x a send rate of 100/s.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlencode

import redis

from bench.__main__ import AUTH_TOKEN, PUBLIC_BASE_URL, bot_env, scrape, settled_scrape, version, wrk
from bot.outbound import STATUS_CALLBACK_PATH
from bot.store import Store
from tests.support.gunicorn import ROOT, Gunicorn, procfile_web_args
from tests.support.redis_server import RedisServer
from tests.support.talon_stub import TalonStub
from tests.support.twilio_stub import SentMessage, TwilioStub
from tests.support.webhooks import ACCOUNT_SID, SHOP_NUMBER

MESSAGES = 10_000
STEPS = ("sent", "delivered", "sent")
#: (connections, seconds, max requests): wrk stops at whichever comes first; the count is only
#: reached above 3,000 callbacks/s.
LOAD = (16, 10, MESSAGES * len(STEPS) - 16)
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
    # wrk's first request() call builds a request it never sends: a callback for a text never recorded
    # (an unknown message, harmless if it is sent after all) takes that place.
    spare = signer.callback(messages(1)[0], "sent")
    return [("POST", c.path, c.signature, urlencode(c.form)) for c in [spare, *callbacks]]


def sid_of(line: tuple[str, str, str, str]) -> str:
    return re.search(r"(?:^|&)MessageSid=([^&]*)", line[3]).group(1)


def wrong_ends(sent: list[SentMessage], lines: list, finals: dict[str, tuple[str, str] | None], posted: int) -> int:
    """Texts not ending as the callbacks posted say: lines 1 to `posted` were sent (line 0 is wrk's spare),
    give or take the requests in flight when wrk stopped."""
    first: dict[str, int] = {}
    delivered_at: dict[str, int] = {}
    for i, line in enumerate(lines):
        sid = sid_of(line)
        first.setdefault(sid, i)
        if "MessageStatus=delivered" in line[3]:
            delivered_at[sid] = i
    margin = LOAD[0]
    wrong = 0
    for m in sent:
        if delivered_at[m.sid] < posted - margin and finals[m.sid] != ("delivered", ""):
            wrong += 1
        elif first[m.sid] >= posted + margin and finals[m.sid] != ("queued", ""):
            wrong += 1
    return wrong


def main() -> int:
    if shutil.which("wrk") is None:
        print("bench: wrk is missing: `make bench` installs Debian's wrk (apt-get install wrk)", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="kcb-bench-receipts-"))
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
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
        lines = lines_for(sent)
        result = wrk(bot.url, lines, LOAD, workdir)
        after = settled_scrape(bot.url, counters=("kcb_receipts_total",))
        handled = {
            kind: after.get(("kcb_receipts_total", frozenset({("result", kind)})), 0)
            - before.get(("kcb_receipts_total", frozenset({("result", kind)})), 0)
            for kind in ("stored", "stale", "unknown", "forbidden", "malformed", "ignored")
        }
        finals = {m.sid: store.last_status(m.sid, m.to) for m in sent}
    finally:
        if bot is not None:
            bot.stop()
        talon.close()
        redis_server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    delivered = sum(1 for f in finals.values() if f == ("delivered", ""))
    wrong = wrong_ends(sent, lines, finals, result.requests)
    print()
    print(f"delivery receipts benchmark: {os.cpu_count()} cores (shared with wrk and redis), loopback only")
    print(f"  {version(['wrk', '-v'])} -t1 -c{LOAD[0]}; {version(['redis-server', '--version'])};"
          f" Python {sys.version.split()[0]}; the bot under the Procfile's {web}")
    print(f"  {MESSAGES} texts x {len(STEPS)} callbacks ({', '.join(STEPS)}), shuffled; bounds {LOAD[1]} s"
          f" or {LOAD[2]} requests; load average before: {load_before}")
    print(f"  callbacks/s: {'>= ' if result.capped else ''}{result.rps:,.0f} (p50 {result.p50_ms:.1f} ms,"
          f" p99 {result.p99_ms:.1f} ms, {result.errors} errors); target >= {TARGET:,}/s (10 x send_rate"
          f" {SEND_RATE}): {'met' if result.rps >= TARGET else 'NOT met'}")
    print(f"  handled: {', '.join(f'{k} {v:.0f}' for k, v in handled.items() if v)}; texts delivered {delivered},"
          f" ending otherwise than their posted callbacks say: {wrong}")
    return 0 if result.errors == 0 and handled["forbidden"] == 0 and wrong == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
