"""Where a repeat texter's webhook spends its time, in process: a profile and one figure per part.

The real bot (bench/redis_cost.py's `in_process_app`) against a redis-server of
its own on loopback, called as gunicorn calls it: the WSGI app with a prepared
environ, its JSON log line written to /dev/null. Prints µs per call of each
part the issue names (log line, counter, keyword match, reply template,
signature check, TwiML) measured alone, the whole webhook, and cProfile's top
functions over the whole webhook.

    python bench/hot_path.py [--requests 3000] [--top 25]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402
from werkzeug.datastructures import MultiDict  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

from bench.redis_cost import PUBLIC_URL, TOKEN, in_process_app, seed_repeat_texter  # noqa: E402
from bot.metrics import count_text  # noqa: E402
from bot.services import services_of  # noqa: E402
from bot.sms import signature_valid, twiml  # noqa: E402
from bot.store import Store  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.talon_stub import TalonStub  # noqa: E402
from tests.support.webhooks import SHOP_NUMBER, sign, twilio_form  # noqa: E402


def per_call_us(call: Callable[[], object], repeats: int) -> float:
    """Median of five runs of `repeats` calls, in µs per call."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            call()
        runs.append((time.perf_counter() - started) / repeats * 1e6)
    return sorted(runs)[2]


def environ(form: dict[str, str]) -> dict:
    """The WSGI environ of Twilio's signed POST /sms, as gunicorn would hand it over."""
    return EnvironBuilder(
        path="/sms", method="POST", base_url="http://127.0.0.1:8000", data=urlencode(form),
        content_type="application/x-www-form-urlencoded",
        headers={"X-Twilio-Signature": sign(form, token=TOKEN)},
    ).get_environ()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="webhooks profiled (bounded)")
    parser.add_argument("--top", type=int, default=25, help="functions shown, by own time")
    args = parser.parse_args()
    n = max(100, min(args.requests, 20000))

    server = RedisServer().start()
    talon = TalonStub().start()
    try:
        app = in_process_app(server, talon)
        for handler in logging.getLogger("bot").handlers:  # the log line is written, where nobody reads it
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the whole process
        store = Store(redis.Redis.from_url(server.url), prefix="bench")
        senders = [f"+1202{i:07d}" for i in range(2 * n + 200)]
        for sender in senders:  # repeat texters: what the first issuance stored
            seed_repeat_texter(store, sender, services_of(app).book)
        environs = iter([environ(twilio_form("SAVE", sender=s)) for s in senders])

        def webhook() -> None:
            body = b"".join(app(next(environs), lambda status, headers, exc_info=None: None))
            assert b"T1-CACHED" in body, body

        for _ in range(100):
            webhook()

        # The parts, alone.
        book = services_of(app).book
        campaign = book.by_slug("spring")
        context = {**campaign.template_context(), "program": {"name": book.program.name}}
        form = twilio_form("SAVE", sender="+15550000001")
        url = PUBLIC_URL + "/sms"
        signature = sign(form, url=url, token=TOKEN)
        multidict = MultiDict(form)
        log = logging.getLogger("bot.conversation")
        extra = {"event": "text", "message_sid": form["MessageSid"], "channel": "sms", "sender_hash": "ab" * 8,
                 "campaign": "spring", "outcome": "repeat", "poster": None, "duration_ms": 0.42}
        reply = "Your Acme code: T1-CACHED. Show it at the till."
        parts: dict[str, Callable[[], object]] = {
            "log line (INFO, JSON to /dev/null)": lambda: log.info("text handled", extra=extra),
            "log.debug, level disabled": lambda: log.debug("inbound %s from %s", "SM1", "+15•••••••67"),
            "counter (kcb_texts_total)": lambda: count_text("sms", "spring", "repeat"),
            "signature check": lambda: signature_valid(TOKEN, url, multidict, signature),
            "TwiML": lambda: twiml(reply),
            "keyword match (book.match)": lambda: book.match("SAVE", SHOP_NUMBER),
            "reply template": lambda: campaign.reply.render(**context, code="T1-CACHED"),
        }
        print(f"repeat texter's webhook, in process (WSGI call, real redis-server on loopback), {n} requests")
        for name, call in parts.items():
            print(f"  {name:<40} {per_call_us(call, 2000):8.1f} µs")
        print(f"  {'whole webhook':<40} {per_call_us(webhook, n // 5):8.1f} µs")

        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(n // 2):
            webhook()
        profiler.disable()
    finally:
        talon.close()
        server.cleanup()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
