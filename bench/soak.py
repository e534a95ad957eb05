"""Soak run: 1,000 mixed texts with injected Talon.One faults, through the bot as deployed.

The bot runs under gunicorn with the Procfile's worker model plus one
`bot worker`, on a redis-server of its own, against loopback stand-ins for
Talon.One (with random 500s, 429s, garbage and 3 s stalls) and Twilio's REST
API. Every request is signed. Bounded: a fixed number of texts, a fixed
concurrency, loopback only.

    python bench/soak.py [--messages 1000] [--concurrency 16]

It prints the counts of replies by kind, codes, late texts, duplicates (a
customer seeing two different codes for one campaign, or two late texts:
must be 0), the consent figures (texts after a STOP, inline or late; opt-outs
lost; HTTP 500s: all must be 0) and the worst reply time, and exits non-zero
on any of those or on a reply slower than Twilio's 15 s window. Each number's
texts are sent in order (numbers run concurrently), as one phone sends them,
so "after a STOP" is well defined.
"""

from __future__ import annotations

import argparse
import collections
import random
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

CODE = re.compile(r"\b(T1-\d{5}|REF\d{4})\b")
WORDS = (
    ["SAVE"] * 45 + ["save!"] * 10 + ["REFER"] * 10 + ["POINTS"] * 10 + ["PIZZA"] * 10
    + ["HELP"] * 5 + ["STOP"] * 3 + ["START"] * 2 + ["SPRING"] * 5
)


def campaign_of(word: str) -> str | None:
    return {"SAVE": "spring", "SAVE!": "spring", "SPRING": "spring", "REFER": "friends"}.get(word.upper())


def main() -> int:
    parser = argparse.ArgumentParser(description="bounded loopback soak run with injected faults")
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--numbers", type=int, default=300, help="distinct customers")
    args = parser.parse_args()
    count = max(10, min(args.messages, 5000))
    rng = random.Random(2026)

    redis_server = RedisServer().start()
    talon = TalonStub().start()
    twilio = TwilioStub().start()
    talon.chaos = [(0.08, "500"), (0.05, "429"), (0.04, "garbage"), (0.02, "slow")]
    campaigns = Path(redis_server.dir) / "campaigns.toml"
    campaigns.write_text(CAMPAIGNS)
    env = {
        "REDIS_URL": redis_server.url, "TALON_API_KEY": "soak", "TALON_DEPLOYMENT": "soak.talon.one",
        "TALON_BASE_URL": talon.url, "TALON_READ_TIMEOUT": "2", "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_API_URL": twilio.url, "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "BOT_SECRET": "soak", "CAMPAIGNS_FILE": str(campaigns), "WEBHOOK_BUDGET_S": "5",
        "BREAKER_COOLDOWN_S": "2", "JOB_LEASE_S": "10",
    }
    bot = BotProcess(env, workers=2, threads=4).start()
    worker = WorkerProcess(env).start()
    numbers = [f"+1555{n:07d}" for n in rng.sample(range(10**6, 10**7), args.numbers)]
    plan = []
    for _ in range(count):
        form = twilio_form(rng.choice(WORDS), sender=rng.choice(numbers))
        plan.append(form)
        if rng.random() < 0.05:
            plan.append(dict(form))  # Twilio delivering the same MessageSid again
    plan = plan[:count]

    def send(form: dict) -> tuple[dict, int, str | None, float, float]:
        started = time.monotonic()
        response = httpx.post(bot.url + "/sms", data=form, headers={"X-Twilio-Signature": sign(form)}, timeout=30)
        elapsed = time.monotonic() - started
        text = None
        if response.status_code == 200:
            root = ET.fromstring(response.content)
            assert root.tag == "Response"
            messages = [m.text for m in root.findall("Message")]
            text = messages[0] if messages else None
        return form, response.status_code, text, elapsed, time.time()

    by_number: dict[str, list[dict]] = collections.defaultdict(list)
    for form in plan:
        by_number[form["From"]].append(form)

    def send_in_order(forms: list[dict]) -> list[tuple[dict, int, str | None, float, float]]:
        return [send(form) for form in forms]

    try:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            results = [r for batch in pool.map(send_in_order, by_number.values()) for r in batch]
        wall = time.monotonic() - started
        store = connect(redis_server.url)
        wait_until(lambda: store.queued() == 0, timeout=180, what="the late-delivery queue to drain")
    finally:
        worker.stop()
        bot.stop()

    kinds: collections.Counter[str] = collections.Counter()
    seen: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    for form, status, text, *_ in results:
        if status != 200:
            kinds[f"HTTP {status}"] += 1
        elif text is None:
            kinds["empty (opted out / limited / STOP)"] += 1
        elif CODE.search(text):
            kinds["code"] += 1
            seen[(form["From"], campaign_of(form["Body"]) or "?")].add(CODE.search(text).group(1))
        elif "on its way" in text:
            kinds["code on its way (late)"] += 1
        elif "points" in text:
            kinds["loyalty balance"] += 1
        elif "don't know that word" in text:
            kinds["fallback"] += 1
        elif "could not get your code" in text:
            kinds["polite failure"] += 1
        elif "text SAVE for a coupon" in text:
            kinds["help"] += 1
        elif "too many messages" in text:
            kinds["rate-limit notice"] += 1
        elif "busy right now" in text:
            kinds["busy, text again"] += 1
        else:
            kinds[text[:40]] += 1
    late = twilio.sent()
    late_per_key: collections.Counter[tuple[str, str]] = collections.Counter()
    for message in late:
        match = CODE.search(message.body)
        campaign = "friends" if match and match.group(1).startswith("REF") else "spring"
        late_per_key[(message.to, campaign)] += 1
        if match:
            seen[(message.to, campaign)].add(match.group(1))
    two_codes = sum(1 for codes in seen.values() if len(codes) > 1)

    # Consent: per number, from the moment its STOP was answered until a START was, nothing may reach
    # it but the help text it asks for: neither an inline reply (a replayed MessageSid of a text sent
    # before the STOP excepted: that is the first answer again, not a new text) nor a late text.
    replayed = {sid for sid, n in collections.Counter(form["MessageSid"] for form in plan).items() if n > 1}
    stop_windows: dict[str, list[list[float]]] = collections.defaultdict(list)
    after_stop = help_after_stop = 0
    last_word: dict[str, str] = {}
    for form, status, text, _, answered in results:  # each number's texts in the order it sent them
        word, number, windows = form["Body"].upper(), form["From"], stop_windows[form["From"]]
        is_open = bool(windows) and windows[-1][1] == float("inf")
        if status == 200 and word == "STOP":
            last_word[number] = word
            if not is_open:
                windows.append([answered, float("inf")])
        elif status == 200 and word == "START":
            last_word[number] = word
            if is_open:
                windows[-1][1] = answered
        elif text and is_open and form["MessageSid"] not in replayed:
            if word in ("HELP", "INFO"):
                help_after_stop += 1  # the program's help text, asked for: CTIA wants HELP to work always
            else:
                after_stop += 1
    for message in late:
        when = message.sent_at.timestamp()
        after_stop += any(start < when < end for start, end in stop_windows.get(message.to, []))
    lost_opt_outs = sum(1 for number, word in last_word.items() if word == "STOP" and not store.is_opted_out(number))
    http_500 = sum(1 for _, status, *_ in results if status >= 500)
    twice_texted = sum(1 for n in late_per_key.values() if n > 1)
    worst = max(r[3] for r in results)
    times = sorted(r[3] for r in results)

    print(f"soak: {len(results)} texts from {args.numbers} numbers, concurrency {args.concurrency}, "
          f"{wall:.1f}s wall; {len(talon.requests)} Talon.One calls, with "
          + ", ".join(f"{p:.0%} {kind}" for p, kind in talon.chaos) + " injected")
    for kind, n in kinds.most_common():
        print(f"  {kind:40} {n:6}")
    print(f"  {'late texts sent (Twilio REST)':40} {len(late):6}")
    print(f"  {'customers with a code':40} {len(seen):6}")
    print(f"  {'duplicates: two codes for one customer':40} {two_codes:6}")
    print(f"  {'duplicates: late code texted twice':40} {twice_texted:6}")
    print(f"  {'texts after a STOP (inline or late)':40} {after_stop:6}")
    print(f"  {'  (HELP answered after a STOP: allowed)':40} {help_after_stop:6}")
    print(f"  {'opt-outs lost':40} {lost_opt_outs:6}")
    print(f"  {'HTTP 500':40} {http_500:6}")
    print(f"  reply time p50 {times[len(times) // 2] * 1000:.0f} ms,"
          f" p99 {times[int(len(times) * 0.99)] * 1000:.0f} ms, "
          f"worst {worst * 1000:.0f} ms")
    talon.close()
    twilio.close()
    redis_server.cleanup()
    clean = two_codes == 0 and twice_texted == 0 and after_stop == 0 and lost_opt_outs == 0 and http_500 == 0
    return 0 if clean and worst < 15 else 1


if __name__ == "__main__":
    sys.exit(main())
