"""The competition draw for a million entries: each step's time and the process's peak memory.

In process, no Redis and no network (bot/draw.py is pure): build the entry ids from E.164
numbers, commit, reveal 10 winners, write DRAW.json's text, parse it back and verify it.

    python bench/draw.py [--entries 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import draw  # noqa: E402

SECRET = "bench-secret"
CAMPAIGN = "bench-prize"
WINNERS = 10


def peak_mib() -> float:
    """The process's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries in the draw (bounded)")
    args = parser.parse_args()
    count = max(WINNERS, min(args.entries, 5_000_000))
    committed = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
    rows: list[tuple[str, float, float]] = []

    def step(name: str, work):
        started = time.perf_counter()
        result = work()
        rows.append((name, time.perf_counter() - started, peak_mib()))
        return result

    entries = step("entry ids (HMAC-SHA256)", lambda: [
        draw.entry_id(SECRET, CAMPAIGN, f"+1{2_000_000_000 + n}") for n in range(count)])
    commitment, seed = step("commit (sort, hash)", lambda: draw.commit(CAMPAIGN, entries, at=committed))
    drawn = step(f"reveal ({WINNERS} winners)", lambda: draw.reveal(
        commitment, seed, entries, winners=WINNERS, at=committed + dt.timedelta(hours=1)))
    text = step("DRAW.json text", drawn.dumps)
    document = step("parse DRAW.json", lambda: json.loads(text))
    problems = step("verify", lambda: draw.verify(document))
    if problems:
        print(f"bench: the draw does not verify: {problems[:3]}", file=sys.stderr)
        return 1

    print()
    print(f"competition draw benchmark: {count:,} entries, {WINNERS} winners; "
          f"Python {sys.version.split()[0]} on {platform.machine()}, one core")
    print(f"  DRAW.json {len(text.encode()) / 2**20:.1f} MiB; verify found no problem")
    print()
    print(f"  {'step':<26} {'seconds':>8} {'peak MiB':>9}")
    for name, seconds, peak in rows:
        print(f"  {name:<26} {seconds:>8.2f} {peak:>9.0f}")
    print(f"  {'total':<26} {sum(r[1] for r in rows):>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
