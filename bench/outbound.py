"""Outbound: 20,000 birthday texts at send_rate = 100 through 2 `bot worker` processes, one killed twice.

Loopback only: one real redis-server on a free port, the tests' Talon.One and Twilio stand-ins in
this process. Steps, each timed:

1. write an audience CSV of 1,000,000 customers (US mobiles; 20,000 born today in a zone where
   it is about noon now, the others on days at least two days away);
2. import it with the real importer (`bot audience import --skip-bad`, a subprocess: its peak
   memory is the import's own); one pass: the default all-or-nothing import reads the file
   twice (check, then write), so it takes about twice as long, in the same memory;
3. plan today with the real planner, in this process: the planning time for 1,000,000 customers;
4. send: two `bot worker` processes; after 15 % and 50 % of the texts one of them is killed with
   SIGKILL and replaced. The achieved rate is the stand-in's texts over the span between the
   first and the last; doubles and misses are counted per customer.

    python bench/outbound.py [--customers 1000000] [--today 20000] [--rate 100]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.outreach_rig import OutreachRig, noon_zone  # noqa: E402
from tests.support.bot_process import clean_environ, wait_until  # noqa: E402
from tests.support.campaign_files import BIRTHDAY_CAMPAIGN  # noqa: E402

# Talon.One's default budget (500 calls a minute) would shape birthday texts to ~8/s: allow the send rate.
BIRTHDAY = BIRTHDAY_CAMPAIGN.replace('kind = "birthday"\n', 'kind = "birthday"\nsend_at = "08:00"\n'
                                     'upstream_limit = { rate = 150, per_seconds = 1, burst = 20 }\n')
AREA_CODES = (212, 312, 415, 617, 713, 305, 206, 404, 303, 602)


def write_audience(path: Path, customers: int, today: int, zone: str, day: dt.date) -> list[str]:
    """The CSV; returns the numbers born today."""
    rng = random.Random(7)
    far_days = [day + dt.timedelta(days=n) for n in range(3, 363)]
    born_today = []
    with path.open("w", newline="") as out:
        out.write("phone,birthday,consent_at,consent_source,timezone\n")
        for n in range(customers):
            area, exchange, line = AREA_CODES[n % 10], 200 + (n // 10) // 10000, (n // 10) % 10000
            phone = f"+1{area}{exchange:03d}{line:04d}"
            if n < today:
                born_today.append(phone)
                out.write(f"{phone},{day:%m-%d},2025-05-01T12:00:00Z,bench,{zone}\n")
            else:
                birthday = rng.choice(far_days)
                out.write(f"{phone},{birthday:%m-%d},2025-05-01T12:00:00Z,bench,\n")
    return born_today


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--today", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    customers = max(args.today, min(args.customers, 2_000_000))

    rig = OutreachRig(args.rate, BIRTHDAY)
    folder, env, twilio = rig.folder, rig.env, rig.twilio
    rows: list[tuple[str, str]] = []
    try:
        now = dt.datetime.now(dt.UTC)
        zone, day = noon_zone(now)
        audience = folder / "audience.csv"
        started = time.perf_counter()
        born_today = write_audience(audience, customers, args.today, zone, day)
        rows.append(("write the audience CSV", f"{time.perf_counter() - started:.1f} s, {customers:,} lines, "
                                               f"{audience.stat().st_size / 2**20:.0f} MiB"))

        print(f"importing {customers:,} customers ...", file=sys.stderr)
        started = time.perf_counter()
        clean = clean_environ()
        done = subprocess.run([sys.executable, "-m", "bot.cli", "audience", "import", "--skip-bad", str(audience)],
                              cwd=ROOT, env={**clean, **env}, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        import_s = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rows.append(("import (bot audience import --skip-bad)",
                     f"{import_s:.1f} s ({customers / import_s:,.0f} lines/s), peak memory {peak:.0f} MiB"))

        services = rig.services()
        engine = services.send_engine()
        planner = services.birthday_planner(engine)
        started = time.perf_counter()
        planned = planner.plan(dt.datetime.now(dt.UTC))
        plan_s = time.perf_counter() - started
        rows.append((f"plan today ({customers:,} customers)", f"{plan_s:.2f} s, {planned:,} texts queued"))
        if planned != args.today:
            print(f"bench: planned {planned}, expected {args.today}", file=sys.stderr)

        rig.start_workers(2)
        kills = 0
        for threshold in (args.today * 3 // 20, args.today // 2):
            wait_until(lambda t=threshold: len(twilio.messages) >= t, timeout=600, what=f"{threshold} texts")
            rig.replace_worker(0)
            kills += 1
        store = services.store
        wait_until(lambda: engine.queued() == 0, timeout=900, what="the outbound queue to drain")
        sent = list(twilio.messages)
        per_number = Counter(m.to for m in sent)
        doubles = rig.doubles(sent)
        misses = sum(1 for number in born_today if per_number[number] == 0)
        states = Counter((store.outbound_state(n, "bday", f"birthday:{day.year}") or "none").split(":")[0]
                         for n in born_today)
        rate, span = rig.achieved(sent)
        rows.append((f"send {len(sent):,} texts, 2 workers, {kills} SIGKILLs",
                     f"{rate:.1f} texts/s over {span:.0f} s (configured {args.rate:g}: "
                     f"{100 * (rate - args.rate) / args.rate:+.1f} %)"))
        rows.append(("doubles / misses", f"{doubles} / {misses} (claims: {dict(states)})"))
    finally:
        rig.__exit__()
    print(f"outbound bench ({customers:,} customers, {args.today:,} birthdays today, send_rate {args.rate:g})")
    for name, value in rows:
        print(f"  {name:<42} {value}")
    return 0 if doubles == 0 and misses == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
