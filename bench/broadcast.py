"""Broadcast: 50,000 recipients at send_rate = 100 through 2 `bot worker` processes, then their status callbacks.

Loopback only (bench/outreach_rig.py: one redis-server, the Talon.One and Twilio stand-ins). Steps, each timed:

1. save the audience (customers with imported consent, in a zone where it is about noon now);
2. plan the broadcast (`broadcasts.plan_broadcast`: the store read in pipelined batches) and
   enqueue it (the snapshot, one `Outbound` per recipient through `SendEngine.enqueue_many`);
   the enqueue runs twice, the second finding everything claimed (a re-run `bot send`);
3. send: two `bot worker` processes until the broadcast is done. The achieved rate is the
   stand-in's texts over the span between the first and the last; doubles are counted per number;
4. the status callbacks: each text's StatusCallback gets `sent`, `delivered` and a repeated `sent`,
   shuffled, signed (bench/receipts.py's lines), posted by wrk to the bot under the Procfile's
   gunicorn; every text must end `delivered`, at >= 10 x the send rate.

    python bench/broadcast.py [--recipients 50000] [--rate 100]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.__main__ import scrape, wrk  # noqa: E402
from bench.outreach_rig import OutreachRig, noon_zone  # noqa: E402
from bench.receipts import lines_for, messages  # noqa: E402
from bot import broadcasts  # noqa: E402
from bot.store import AudienceRecord  # noqa: E402
from tests.support.bot_process import wait_until  # noqa: E402
from tests.support.gunicorn import Gunicorn, procfile_web_args  # noqa: E402
from tests.support.webhooks import SHOP_NUMBER  # noqa: E402

# Talon.One's default budget (500 calls a minute) would shape the texts to ~8/s: allow the send rate.
UNLIMITED = "upstream_limit = false\n"
AREA_CODES = (212, 312, 415, 617, 713, 305, 206, 404, 303, 602)


def numbers(count: int) -> list[str]:
    return [f"+1{AREA_CODES[n % 10]}{200 + (n // 10) // 10000:03d}{(n // 10) % 10000:04d}" for n in range(count)]


def post_callbacks(url: str, lines: list, workdir: Path) -> tuple[float, float, object]:
    """wrk posts every line once; the time is from its start until the bot's /metrics count them all handled
    (wrk itself reports its whole duration, not when its count ran out)."""
    def receipts() -> float:
        return sum(v for (name, _), v in scrape(url).items() if name == "kcb_receipts_total")

    before = receipts()
    total = len(lines) - 1  # line 0 is wrk's spare (see bench/receipts.py)
    lines = [*lines, *lines_for(messages(6))[1:]]  # a spare per connection: callbacks for texts never sent
    finished: dict[str, object] = {}
    load = (16, int(total / 1000) + 60, total)  # wrk runs the whole duration: just above the target's
    poster = threading.Thread(target=lambda: finished.update(result=wrk(url, lines, load, workdir)))
    started = time.perf_counter()
    poster.start()
    while (handled := receipts() - before) < total and poster.is_alive():
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    poster.join()
    return handled, elapsed, finished["result"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk is missing: `make bench` installs Debian's wrk (apt-get install wrk)", file=sys.stderr)
        return 1
    rows: list[tuple[str, str]] = []
    ok = False
    with OutreachRig(args.rate) as rig:
        # More threads than the birthday bench's 6: a thread waits on Talon.One and Twilio for each text, and on a
        # loaded machine 12 of them leave moments of the shared pace unclaimed.
        rig.env["SEND_THREADS"] = "10"
        rig.campaigns.write_text(rig.campaigns.read_text().replace("[program]\n", "[program]\n" + UNLIMITED))
        services = rig.services()
        store, book = services.store, services.book
        zone, _ = noon_zone(dt.datetime.now(dt.UTC))
        phones = numbers(args.recipients)
        started = time.perf_counter()
        for start in range(0, len(phones), 5000):
            store.save_audience([AudienceRecord(p, "", zone, "2025-05-01T12:00:00+00:00", "bench", True)
                                 for p in phones[start:start + 5000]])
        rows.append(("save the audience", f"{time.perf_counter() - started:.1f} s, {len(phones):,} customers"))

        now = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        plan = broadcasts.plan_broadcast(book, store, book.by_slug("spring"), broadcasts.audience_all(store),
                                         at=None, now=now, messaging_service=False)
        rows.append(("plan", f"{time.perf_counter() - started:.2f} s, {len(plan.recipients):,} recipients, "
                             f"duration {plan.duration_s:.0f} s, refusals {len(plan.refusals)}"))
        record, _ = broadcasts.start(store, plan, now=now, sender=SHOP_NUMBER)
        engine = services.send_engine()
        started = time.perf_counter()
        queued = broadcasts.enqueue(store, engine, record)
        again = broadcasts.enqueue(store, engine, store.broadcast(record.id))
        rows.append(("enqueue (then once more)", f"{time.perf_counter() - started:.2f} s, {queued:,} queued, "
                                                 f"then {again} more"))

        rig.start_workers(2)

        def shown():
            return broadcasts.progress(store, record.id, now=dt.datetime.now(dt.UTC), send_rate=args.rate)

        wait_until(lambda: shown().state == "done", timeout=args.recipients / args.rate * 2 + 120,
                   what="the broadcast done")
        for worker in rig.workers:
            worker.stop()
        rig.workers.clear()
        sent = list(rig.twilio.messages)
        rate, span = rig.achieved(sent)
        doubles = rig.doubles(sent)
        final = shown()
        rows.append((f"send {len(sent):,} texts, 2 workers",
                     f"{rate:.1f} texts/s over {span:.0f} s (configured {args.rate:g}: "
                     f"{100 * (rate - args.rate) / args.rate:+.1f} %)"))
        rows.append(("doubles / counts", f"{doubles} / sent {final.sent:,}, skipped {final.skipped}, "
                                         f"failed {final.failed}"))

        lines = lines_for(sent)
        web = Gunicorn.on_free_port(procfile_web_args, env=rig.full_env).start()
        try:
            handled, elapsed, result = post_callbacks(web.url, lines, rig.folder)
        finally:
            web.stop()
        delivered = sum(1 for m in sent if store.last_status(m.sid, m.to) == ("delivered", ""))
        target = 10 * args.rate
        callback_rate = handled / elapsed
        rows.append((f"status callbacks ({len(lines) - 1:,}, shuffled)",
                     f"{handled:,.0f} handled in {elapsed:.1f} s: {callback_rate:,.0f}/s (wrk p50 {result.p50_ms:.1f} "
                     f"ms, p99 {result.p99_ms:.1f} ms, {result.errors} errors); target >= {target:,.0f}/s: "
                     f"{'met' if callback_rate >= target else 'NOT met'}"))
        rows.append(("texts delivered", f"{delivered:,} of {len(sent):,}"))
        ok = (doubles == 0 and abs(rate - args.rate) <= 0.05 * args.rate and delivered == len(sent) == len(phones)
              and callback_rate >= target and result.errors == 0)
    print(f"broadcast bench ({args.recipients:,} recipients, send_rate {args.rate:g})")
    for name, value in rows:
        print(f"  {name:<42} {value}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
