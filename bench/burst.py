"""Burst: N first-time texters in a short window against the campaign's Talon.One budget.

The bot runs as deployed (gunicorn with the Procfile's worker model, one `bot
worker`) on a redis-server of its own, against loopback stand-ins for
Talon.One and Twilio's REST API. N distinct numbers text SAVE once each,
spread evenly over the window, with the program's `upstream_limit` set. Every
request is signed; bounded counts, loopback only.

    python bench/burst.py [--texters 600] [--window 20] [--rate 1200] [--burst 10]

It prints the reply times during the burst (p50, p99, worst), how each texter
was answered (the code inline while the budget lasts, "on its way" after),
the codes each number got in the end (inline plus texts at the Twilio
stand-in: exactly one each), and the time to the last code beside the
physical bound: the budget's burst at once, then one call per slot, so
(N - burst) / rate, or the last arrival when that is later. The stand-in for
Twilio sends at once, so no send rate lowers the bound here. Exits non-zero
when a number has no code or two, p99 is 1 s or more, or the last code comes
more than 10 % after the bound.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import re
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.store import connect  # noqa: E402
from tests.support.bot_process import BotProcess, WorkerProcess, wait_until  # noqa: E402
from tests.support.campaign_files import CAMPAIGNS  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402
from tests.support.talon_stub import TalonStub  # noqa: E402
from tests.support.twilio_stub import TwilioStub  # noqa: E402
from tests.support.webhooks import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL, sign, twilio_form  # noqa: E402

CODE = re.compile(r"\bT1-\d{5}\b")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texters", type=int, default=600, help="distinct first-time texters (≤ 5,000)")
    parser.add_argument("--window", type=float, default=20.0, help="seconds over which they text")
    parser.add_argument("--rate", type=int, default=1200, help="the campaign's Talon.One budget, calls a minute")
    parser.add_argument("--burst", type=int, default=10, help="the budget's burst")
    args = parser.parse_args()
    n = max(10, min(args.texters, 5000))
    per_s = args.rate / 60

    redis_server = RedisServer().start()
    talon = TalonStub().start()
    twilio = TwilioStub().start()
    campaigns = Path(redis_server.dir) / "campaigns.toml"
    campaigns.write_text(CAMPAIGNS.replace(
        "[program]", f"[program]\nupstream_limit = {{ rate = {args.rate}, per_seconds = 60, burst = {args.burst} }}",
        1))
    env = {
        "REDIS_URL": redis_server.url, "TALON_API_KEY": "burst", "TALON_DEPLOYMENT": "burst.talon.one",
        "TALON_BASE_URL": talon.url, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_API_URL": twilio.url, "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "BOT_SECRET": "burst",
        "CAMPAIGNS_FILE": str(campaigns),
    }
    bot = BotProcess(env, workers=2, threads=4).start()
    worker = WorkerProcess(env).start()
    numbers = [f"+1555{i:07d}" for i in range(n)]
    forms = [twilio_form("SAVE", sender=number) for number in numbers]
    client = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=32))

    def send(i: int) -> tuple[str, str | None, float, float]:
        due = started + i * args.window / n
        time.sleep(max(0.0, due - time.monotonic()))
        form = forms[i]
        sent = time.monotonic()
        response = client.post(bot.url + "/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
        answered = time.monotonic()
        assert response.status_code == 200, response.text
        messages = [m.text for m in ET.fromstring(response.content).findall("Message")]
        return form["From"], messages[0] if messages else None, answered - sent, answered - started

    try:
        started_wall = dt.datetime.now(dt.UTC)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=32) as pool:
            results = list(pool.map(send, range(n)))
        last_arrival = time.monotonic() - started
        store = connect(redis_server.url)
        wait_until(lambda: store.queued() == 0, timeout=max(120.0, 3 * n / per_s), what="the queue to drain")
    finally:
        worker.stop()
        bot.stop()
        client.close()

    codes: dict[str, list[str]] = collections.defaultdict(list)
    kinds: collections.Counter[str] = collections.Counter()
    last_code = 0.0
    for sender, text, _, at in results:
        match = CODE.search(text or "")
        if match:
            codes[sender].append(match.group(0))
            kinds["code inline"] += 1
            last_code = max(last_code, at)
        elif text and "on its way" in text:
            kinds["on its way"] += 1
        else:
            kinds[(text or "(nothing)")[:40]] += 1
    for message in twilio.sent():
        match = CODE.search(message.body)
        if match:
            codes[message.to].append(match.group(0))
            last_code = max(last_code, (message.sent_at - started_wall).total_seconds())
    one_each = sum(1 for number in numbers if len(codes.get(number, [])) == 1)
    none = sum(1 for number in numbers if not codes.get(number))
    two = sum(1 for number in numbers if len(codes.get(number, [])) > 1)
    times = sorted(seconds for _, _, seconds, _ in results)
    p50, p99 = times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]
    bound = max((n - args.burst) / per_s, last_arrival)

    print(f"burst: {n} first-time texters over {args.window:.0f}s, Talon.One budget {args.rate}/min "
          f"(burst {args.burst}); gunicorn 2 workers x 4 threads + one `bot worker`, loopback")
    print(f"  replies during the burst: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
          f"worst {times[-1] * 1000:.0f} ms")
    for kind, count in kinds.most_common():
        print(f"  {kind:40} {count:6}")
    print(f"  {'late codes texted (Twilio stand-in)':40} {len(twilio.sent()):6}")
    print(f"  {'numbers with exactly one code':40} {one_each:6} of {n} (none: {none}, two or more: {two})")
    print(f"  time to the last code: {last_code:.1f}s; physical bound {bound:.1f}s "
          f"((N - burst) / rate = ({n} - {args.burst}) / {per_s:g}/s; last arrival {last_arrival:.1f}s); "
          f"{last_code / bound:.2f}x the bound")
    talon.close()
    twilio.close()
    redis_server.cleanup()
    return 0 if one_each == n and p99 < 1.0 and last_code <= 1.1 * bound else 1


if __name__ == "__main__":
    sys.exit(main())
