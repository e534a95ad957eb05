"""`make bench` (`python -m bench`): the bot against a minimal baseline, loopback only, bounded.

Both run at once under the Procfile's own gunicorn command (bound to
127.0.0.1), against one real redis-server this script starts on a free port,
with the Talon.One stand-in of the tests (tests/support/talon_stub.py)
answering after 50 ms. wrk is the load generator: every request is signed
beforehand with twilio's RequestValidator (tests/support/webhooks.py's `twilio_form`
and `sign`), bench/requests.lua sends each one once, and stops after a fixed
count or duration, whichever comes first. Each path runs three rounds, bot and
baseline alternating; a run where one gunicorn worker accepted (nearly) all of
wrk's connections is run again (see `balanced`). Besides req/s and latency,
the CPU time of each app's gunicorn processes per request is reported: it
moves much less than req/s when other work shares the machine.

Paths measured (each request a new MessageSid and a new sender, so the rate
limit never interferes; the bot's /metrics confirms each path's outcome):

- cached code: a repeat texter, seeded with what the bot's first issuance
  stores (`Store.finish` with the code and the consent record);
- unknown word: the fallback text;
- first code: nothing cached, so the bot asks the stand-in (50 ms). The bot's
  own overhead is the total (wrk's p50) minus the upstream time (the p50 of
  the `upstream_ms` the bot logged for those texts); the total minus the
  stand-in's 50 ms is shown beside it, and the baseline's, which makes the
  same call, as the machine's floor;
- GET /q/<slug>: a QR scan (a phone's User-Agent; crawlers are not counted);
- poster rendering per format, in this process.

The baseline (bench/baseline.py) does the same two Redis round trips and
returns TwiML; on its first-code path it also makes one httpx call to the
same stand-in; its scan page is one INCR and static HTML. The repeat texter's
paths also run against two more floors served by the same baseline app, in the
same alternation: one round trip (signature + one script that claims, checks
opt-out and limit, reads the code, builds and stores the reply) and bare Flask
returning fixed TwiML.

Last, the accept spread: bare Flask under the Procfile's gunicorn command
without and with `--reuse-port` (gunicorn >= 23 then opens one SO_REUSEPORT
socket per worker and the kernel spreads connections across them), short runs
of 16 keep-alive connections each, and the busiest worker's share of them.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from bench.redis_cost import seed_repeat_texter
from bot.campaign_file import load_campaigns
from bot.config import EXAMPLE_CAMPAIGNS_FILE
from bot.phone import hash_sender
from bot.store import Store
from tests.support.gunicorn import ROOT, Gunicorn, procfile_web_args
from tests.support.redis_server import RedisServer
from tests.support.talon_stub import TalonStub
from tests.support.webhooks import ACCOUNT_SID, sign, twilio_form

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
PUBLIC_BASE_URL = "https://bench.example.com"
UPSTREAM_LATENCY_S = 0.050
BOT_SECRET = "bench-secret"
LUA = Path(__file__).with_name("requests.lua")

#: (connections, seconds, max requests) per run: the bounds of the whole benchmark. wrk runs for
#: the whole duration even when the count stops it early, so req/s = requests / duration is only
#: exact when the count is not reached: the counts are set above what this bot can do, and a run
#: that reaches its count is marked in the table.
LOAD = (16, 4, 20_000)
FIRST_CODE_LOAD = (16, 4, 2_000)
SERVICE = (1, 3, 8_000)
FIRST_CODE_SERVICE = (1, 6, 300)
WARMUP = (8, 1, 1_000)
ROUNDS = 3
#: A run where one worker did more than this share of the work is run again, up to BALANCE_TRIES runs.
MAX_BUSIEST_SHARE = 0.75
BALANCE_TRIES = 4

#: The floors of bench/baseline.py, by name: the URL path each answers on.
FLOORS = {"base": "/sms", "one_trip": "/sms/one-trip", "bare": "/sms/bare"}
#: Accept spread: runs per setting, and each run's load (bare Flask answers in well under a second).
SPREAD_RUNS = 8
SPREAD_LOAD = (16, 1, 20_000)

_senders = (f"+1202{n:07d}" for n in itertools.count(2_000_000))


@dataclass
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    errors: int
    capped: bool = False
    outcomes: dict[str, float] = field(default_factory=dict)
    #: p50 of the upstream time the bot timed itself (its log line's upstream_ms), first-code runs only.
    upstream_p50_ms: float | None = None
    #: CPU time (user + system) of the app's gunicorn processes per request, in µs.
    cpu_us: float = 0.0
    #: The busiest worker's share of the workers' CPU time, and the runs it took to get both working.
    busiest_share: float = 1.0
    tries: int = 1

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def texts(body: str, count: int, path: str = "/sms") -> list[tuple[str, str, str, str]]:
    """`count` signed webhooks, each from a new sender with a new MessageSid."""
    lines = []
    for _ in range(count):
        form = twilio_form(body, sender=next(_senders))
        lines.append(("POST", path, sign(form, url=PUBLIC_BASE_URL + path, token=AUTH_TOKEN), urlencode(form)))
    return lines


def scans(count: int) -> list[tuple[str, str, str, str]]:
    """`count` QR scans of the example campaign's landing page, each from its own phone (X-Forwarded-For,
    with TRUSTED_PROXY_HOPS=1): one client would meet the per-client scan limit (scans.SCAN_LIMIT)."""
    return [("GET", "/q/spring", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", "") for i in range(count)]


def sender_of(line: tuple[str, str, str, str]) -> str:
    return re.search(r"(?:^|&)From=([^&]*)", line[3]).group(1).replace("%2B", "+")


def wrk(url: str, lines: list, load: tuple[int, float, int], workdir: Path) -> Result:
    connections, seconds, count = load  # wrk takes whole seconds
    path = workdir / f"requests-{uuid.uuid4().hex[:8]}.tsv"
    path.write_text("".join("\t".join(line) + "\n" for line in lines))
    assert len(lines) >= count + connections, "one spare request per connection, so none is sent twice"
    run = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), url,
         "--", str(path), str(count)],
        capture_output=True, text=True, timeout=seconds + 60,
    )
    path.unlink()
    if run.returncode != 0 or "WRK_RESULT " not in run.stdout:
        raise SystemExit(f"bench: wrk failed ({run.returncode}): {run.stderr.strip() or run.stdout.strip()}")
    data = json.loads(run.stdout.split("WRK_RESULT ", 1)[1].splitlines()[0])
    return Result(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
        errors=sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")),
        capped=data["requests"] >= count,
    )


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    samples = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics", timeout=10).text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def settled_scrape(
    url: str, deadline_s: float = 15.0, counters: tuple[str, ...] = ("kcb_texts_total", "kcb_scans_total"),
) -> dict[tuple[str, frozenset], float]:
    """/metrics once the requests wrk left in flight are all handled: two scrapes 0.2 s apart agree on `counters`."""
    def handled(samples: dict) -> float:
        return sum(v for k, v in samples.items() if k[0] in counters)

    deadline = time.monotonic() + deadline_s
    samples = scrape(url)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        again = scrape(url)
        if handled(again) == handled(samples):
            return again
        samples = again
    raise SystemExit("bench: the bot kept handling texts after wrk stopped")


def outcome_deltas(before: dict, after: dict) -> dict[str, float]:
    deltas: dict[str, float] = {}
    for key, value in after.items():
        if key[0] == "kcb_texts_total":
            change = value - before.get(key, 0.0)
            if change:
                outcome = dict(key[1])["outcome"]
                deltas[outcome] = deltas.get(outcome, 0.0) + change
    return deltas


def scan_deltas(before: dict, after: dict) -> dict[str, float]:
    change = sum(v - before.get(k, 0.0) for k, v in after.items() if k[0] == "kcb_scans_total")
    return {"scans": change} if change else {}


def upstream_p50_ms(server: Gunicorn, lines: list) -> float | None:
    """p50 of upstream_ms in the bot's own log lines (stderr) for the texts of `lines`."""
    hashes = {hash_sender(BOT_SECRET, sender_of(line)) for line in lines}
    times = sorted(
        entry["upstream_ms"]
        for entry in map(json.loads, (row for row in server.stderr().splitlines() if row.startswith("{")))
        if entry.get("event") == "text" and entry.get("sender_hash") in hashes and "upstream_ms" in entry
    )
    return statistics.median(times) if times else None


def peak_rss_mib(server: Gunicorn) -> list[float]:
    """VmHWM (peak resident set) of each live worker."""
    peaks = []
    for pid in server.worker_pids():
        status = Path(f"/proc/{pid}/status").read_text()
        peaks.append(int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024)
    return peaks


def bot_env(redis_url: str, talon: TalonStub, workdir: Path, prefix: str) -> dict[str, str]:
    # The shipped example campaigns, without the Talon.One call budget (500/min): the stand-in is
    # not Talon.One, and over budget first texters would be queued instead of measured.
    campaigns = workdir / "campaigns.toml"
    example = EXAMPLE_CAMPAIGNS_FILE.read_text()
    assert example.count("[program]\n") == 1
    campaigns.write_text(example.replace("[program]\n", "[program]\nupstream_limit = false\n"))
    return {
        "PATH": os.environ["PATH"],
        "CAMPAIGNS_FILE": str(campaigns),
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": prefix,
        "TALON_API_KEY": "bench-cep-key",
        "TALON_DEPLOYMENT": "bench.europe-west1.talon.one",
        "TALON_BASE_URL": talon.url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "BOT_SECRET": BOT_SECRET,
        "TRUSTED_PROXY_HOPS": "1",  # the scans' X-Forwarded-For (see `scans`)
    }


@dataclass
class Path_:
    name: str
    body: str
    load: tuple[int, int, int]
    expected: str  # the bot's outcome for every text of this path
    cached: bool = False
    upstream: bool = False
    scan: bool = False  # GET /q/spring instead of a text
    floors: tuple[str, ...] = ("base",)


ALL_FLOORS = tuple(FLOORS)


PATHS = [
    Path_("cached", "SAVE", LOAD, "repeat", cached=True, floors=ALL_FLOORS),
    Path_("unknown", "PIZZA", LOAD, "unknown"),
    Path_("first", "SAVE", FIRST_CODE_LOAD, "issued", upstream=True),
    Path_("scan", "", LOAD, "scans", scan=True),
    Path_("cached_1", "SAVE", SERVICE, "repeat", cached=True, floors=ALL_FLOORS),
    Path_("unknown_1", "PIZZA", SERVICE, "unknown"),
    Path_("first_1", "SAVE", FIRST_CODE_SERVICE, "issued", upstream=True),
]


def cpu_seconds(server: Gunicorn) -> dict[int, float]:
    """User + system CPU time so far of the gunicorn master and of each worker, by pid."""
    times = {}
    for pid in [server.process.pid, *server.worker_pids()]:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        times[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return times


def timed_wrk(server: Gunicorn, lines: list, load: tuple[int, int, int], workdir: Path) -> Result:
    """wrk against `server`, with the server's CPU time per request (less sensitive than req/s to
    whatever else the machine runs at the time) and the busiest worker's share of it."""
    before = cpu_seconds(server)

    def spent() -> dict[int, float]:
        return {pid: t - before.get(pid, 0.0) for pid, t in cpu_seconds(server).items()}

    result = wrk(server.url, lines, load, workdir)
    deadline = time.monotonic() + 10
    last = spent()
    while time.monotonic() < deadline:  # until requests wrk left in flight are done: CPU time stops growing
        time.sleep(0.2)
        now = spent()
        if sum(now.values()) - sum(last.values()) < 0.005:
            break
        last = now
    result.cpu_us = sum(last.values()) / max(result.requests, 1) * 1e6
    workers = [t for pid, t in last.items() if pid != server.process.pid]
    result.busiest_share = max(workers) / sum(workers) if sum(workers) else 1.0
    return result


def balanced(run, load: tuple[int, int, int]) -> Result:
    """`run()` again (up to BALANCE_TRIES times) while one worker did nearly all the work.

    wrk opens its connections at once and keeps them; gunicorn's workers race to accept them,
    and one worker often wins all of them, leaving the other idle: the run then measures one
    worker, at about half the throughput. Bot and baseline are compared on runs where both
    workers served. With one connection, one worker serves by design.
    """
    result = run()
    tries = 1
    while load[0] > 1 and result.busiest_share > MAX_BUSIEST_SHARE and tries < BALANCE_TRIES:
        result = run()
        tries += 1
    result.tries = tries
    return result


def median_round(results: list[Result]) -> Result:
    return sorted(results, key=lambda r: r.rps)[len(results) // 2]


def measure(redis_url: str, talon: TalonStub, workdir: Path):
    """Both apps up at once; each path runs ROUNDS times, bot and baseline alternating, so that
    load from elsewhere on the machine falls on both alike. Reported: each app's median round,
    and the median of the per-round ratios."""
    prefix = "bench" + uuid.uuid4().hex[:8]
    redis_client = redis.Redis.from_url(redis_url)
    store = Store(redis_client, prefix=prefix)

    def bot_lines(path: Path_) -> list:
        if path.scan:
            return scans(path.load[2] + path.load[0])
        lines = texts(path.body, path.load[2] + path.load[0])
        if path.cached:
            # A repeat texter: what the bot stored when it issued the first code (the code, the
            # consent log's opt-in source, the opt-in confirmation sent, the reply cached with the
            # code), written by the same Store.finish call.
            book = load_campaigns(workdir / "campaigns.toml")
            for line in lines:
                seed_repeat_texter(store, sender_of(line), book)
        return lines

    def baseline_args(port: int) -> list[str]:
        return [("bench.baseline:app" if a == "wsgi:app" else a) for a in procfile_web_args(port)]

    env = bot_env(redis_url, talon, workdir, prefix)
    bot = Gunicorn.on_free_port(procfile_web_args, env=env).start()
    # The bot's environment: gunicorn.conf.py's master checks the bot's settings whatever the app.
    base = Gunicorn.on_free_port(baseline_args, env=env).start()
    talon.latency = UPSTREAM_LATENCY_S
    bot_results: dict[str, Result] = {}
    #: By floor, then path: each floor's median round, and the median per-round ratios bot/floor.
    base_results: dict[str, dict[str, Result]] = {floor: {} for floor in FLOORS}
    ratios: dict[str, dict[str, float]] = {floor: {} for floor in FLOORS}
    cpu_ratios: dict[str, dict[str, float]] = {floor: {} for floor in FLOORS}
    #: The median per-round difference of p50s, bot minus floor, in ms (the first code's overhead).
    p50_gaps: dict[str, dict[str, float]] = {floor: {} for floor in FLOORS}
    retried: dict[str, int] = {}
    lopsided = 0
    try:
        wrk(bot.url, bot_lines(PATHS[0]), WARMUP, workdir)
        wrk(base.url, texts("SAVE", WARMUP[2] + WARMUP[0]), WARMUP, workdir)
        for path in PATHS:
            bot_rounds: list[Result] = []

            def run_bot(path: Path_ = path) -> Result:
                lines = bot_lines(path)
                before = settled_scrape(bot.url)
                result = timed_wrk(bot, lines, path.load, workdir)
                after = settled_scrape(bot.url)
                result.outcomes = scan_deltas(before, after) if path.scan else outcome_deltas(before, after)
                if path.upstream:
                    result.upstream_p50_ms = upstream_p50_ms(bot, lines)
                unexpected = {k: v for k, v in result.outcomes.items() if k != path.expected}
                if unexpected or result.errors:
                    raise SystemExit(
                        f"bench: bot {path.name}: expected only {path.expected!r}, got {result.outcomes},"
                        f" {result.errors} errors"
                    )
                return result

            def run_base(path: Path_ = path, floor: str = "base") -> Result:
                if path.scan:
                    lines = scans(path.load[2] + path.load[0])
                else:
                    url_path = "/sms?upstream=1" if path.upstream else FLOORS[floor]
                    lines = texts(path.body, path.load[2] + path.load[0], url_path)
                if floor == "one_trip":  # the repeat texter's cached code, where that floor reads it
                    redis_client.mset({f"base:{{{sender_of(line)}}}:code": "T1-CACHED" for line in lines})
                result = timed_wrk(base, lines, path.load, workdir)
                if result.errors:
                    raise SystemExit(f"bench: floor {floor} {path.name}: {result.errors} errors")
                return result

            floor_rounds: dict[str, list[Result]] = {floor: [] for floor in path.floors}
            for _ in range(ROUNDS):
                bot_rounds.append(balanced(run_bot, path.load))
                for floor in path.floors:
                    floor_rounds[floor].append(balanced(lambda f=floor: run_base(floor=f), path.load))
            retried[path.name] = sum(r.tries - 1 for r in bot_rounds + sum(floor_rounds.values(), []))
            bot_results[path.name] = median_round(bot_rounds)
            bot_results[path.name].outcomes = {
                k: sum(r.outcomes.get(k, 0) for r in bot_rounds) for k in bot_rounds[0].outcomes
            }
            for floor, rounds in floor_rounds.items():
                base_results[floor][path.name] = median_round(rounds)
                ratios[floor][path.name] = statistics.median(
                    b.rps / a.rps for b, a in zip(bot_rounds, rounds, strict=True)
                )
                cpu_ratios[floor][path.name] = statistics.median(
                    a.cpu_us / b.cpu_us for b, a in zip(bot_rounds, rounds, strict=True)
                )
                p50_gaps[floor][path.name] = statistics.median(
                    b.p50_ms - a.p50_ms for b, a in zip(bot_rounds, rounds, strict=True)
                )
            if path.load[0] > 1:
                reported = (bot_results[path.name], *(base_results[f][path.name] for f in path.floors))
                lopsided += sum(r.busiest_share > MAX_BUSIEST_SHARE for r in reported)
        memory = (peak_rss_mib(bot), peak_rss_mib(base))
    finally:
        bot.stop()
        base.stop()
    return bot_results, base_results, ratios, cpu_ratios, p50_gaps, memory, (retried, lopsided)


def poster_times(repeats: int = 3) -> dict[str, tuple[float, float]]:
    """Seconds to make the example campaign's A4 poster, per format: (first call, median of the rest)."""
    from bot.campaign_file import load_campaigns
    from bot.posters import PosterOptions, layout, poster_content, render

    book = load_campaigns(EXAMPLE_CAMPAIGNS_FILE)
    options = PosterOptions()
    times = {}
    for fmt in ("pdf", "svg", "png"):
        runs = []
        for _ in range(repeats + 1):
            started = time.perf_counter()
            content = poster_content(book, "spring", options, public_base_url=PUBLIC_BASE_URL)
            if not render(layout(content, options), fmt):
                raise SystemExit(f"bench: empty {fmt} poster")
            runs.append(time.perf_counter() - started)
        times[fmt] = (runs[0], statistics.median(runs[1:]))
    return times


def version(command: list[str]) -> str:
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except OSError:
        return "?"
    return (run.stdout + run.stderr).strip().splitlines()[0]


FLOOR_LABELS = {"one_trip": "one-round-trip floor", "bare": "bare Flask, fixed TwiML"}


def table(bot: dict[str, Result], floors: dict[str, dict[str, Result]], ratios: dict[str, dict[str, float]],
          cpu_ratios: dict[str, dict[str, float]], p50_gaps: dict[str, dict[str, float]],
          bot_mem: list[float], base_mem: list[float],
          posters: dict[str, tuple[float, float]]) -> str:
    base = floors["base"]

    def row(label: str, conns, path: str, floor: str = "base", note: str = "", show_bot: bool = True) -> str:
        def cells(r: Result | None) -> str:
            if r is None:
                return f"{'':>9} {'':7} {'':7}"
            rps = f"{'≥' if r.capped else ''}{r.rps:.0f}"
            return f"{rps:>9} {r.p50_ms:7.2f} {r.p99_ms:7.2f}"

        b, a = bot[path], floors[floor][path]
        ratio = f"{ratios[floor][path]:7.2f}x"
        bot_cpu = f"{b.cpu_us:5.0f}" if show_bot else f"{'':5}"
        cpu = f"{bot_cpu} {a.cpu_us:5.0f} {cpu_ratios[floor][path]:5.2f}x"
        left = cells(b if show_bot else None)
        return f"{label:<31} {conns!s:>5} | {left} | {cells(a)} | {ratio} | {cpu} {note}".rstrip()

    def floor_rows(path: str, conns) -> list[str]:
        return [row(f"  vs {FLOOR_LABELS[f]}", conns, path, f, show_bot=False) for f in FLOOR_LABELS]

    first, first_1 = bot["first"], bot["first_1"]
    delay_ms = UPSTREAM_LATENCY_S * 1000

    def overhead(r: Result) -> float:
        """The bot's own time: total minus the upstream time it measured (else the stand-in's delay)."""
        return r.p50_ms - (r.upstream_p50_ms if r.upstream_p50_ms is not None else delay_ms)

    def overhead_note(r: Result) -> str:
        upstream = f"{r.upstream_p50_ms:.2f}" if r.upstream_p50_ms is not None else "?"
        return (f"overhead p50 {overhead(r):.2f} ms"
                f" (upstream p50 {upstream} ms; total − 50 ms: {r.p50_ms - delay_ms:.2f})")

    lines = [
        f"{'':<31} {'':>5} | {'bot':^25} | {'floor (baseline unless named)':^25} | req/s    |"
        " CPU µs/req: bot floor",
        f"{'path':<31} {'conns':>5} | {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7}"
        f" | {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} |"
        f" bot/floor| {'':11}floor/bot",
        "-" * 127,
        row("cached code (repeat texter)", LOAD[0], "cached"),
        *floor_rows("cached", LOAD[0]),
        row("unknown word", LOAD[0], "unknown"),
        row("first code (stand-in 50 ms)", FIRST_CODE_LOAD[0], "first", note=overhead_note(first)),
        row("GET /q/<slug> (scan)", LOAD[0], "scan", note="baseline: one INCR + static page"),
        "service time, one connection:",
        row("  cached code", SERVICE[0], "cached_1"),
        *floor_rows("cached_1", SERVICE[0]),
        row("  unknown word", SERVICE[0], "unknown_1"),
        row("  first code (stand-in 50 ms)", FIRST_CODE_SERVICE[0], "first_1", note=overhead_note(first_1)),
        f"{'':>41}baseline's first code, total − 50 ms: {base['first_1'].p50_ms - delay_ms:.2f} ms p50"
        f" (the same machine's floor for a 50 ms call)",
    ]
    every = [*bot.values(), *(r for results in floors.values() for r in results.values())]
    if any(r.capped for r in every):
        lines.append("≥: the run reached its request count before its duration: req/s is a lower bound")
    lines += [
        "poster rendering, A4, example campaign (first call / median of 3 more): "
        + ", ".join(
            f"{fmt.upper()} {first * 1000:.0f} / {median * 1000:.0f} ms" for fmt, (first, median) in posters.items()
        ),
        f"peak RSS per worker (VmHWM): bot {', '.join(f'{m:.1f}' for m in bot_mem)} MiB;"
        f" baseline {', '.join(f'{m:.1f}' for m in base_mem)} MiB",
        "outcomes seen by the bot's /metrics: "
        + "; ".join(f"{name} {', '.join(f'{k} {v:.0f}' for k, v in r.outcomes.items())}" for name, r in bot.items()),
        "CPU µs/req: user + system time of the app's gunicorn processes per request; floor/bot is the throughput"
        " ratio the CPU cost alone predicts (steadier than req/s when other work shares the machine)",
    ]

    def target(name: str, floor: str, goal: float) -> str:
        rps, cpu = ratios[floor]["cached"], cpu_ratios[floor]["cached"]
        return (f"target cached vs {name} >= {goal}x: {rps:.2f}x req/s, {cpu:.2f}x by CPU per request:"
                f" {'met' if min(rps, cpu) >= goal else 'NOT met'}")

    lines += [
        target("the two-round-trip baseline", "base", 1.0),
        target("the one-round-trip floor", "one_trip", 0.85),
        f"cached vs bare Flask: {ratios['bare']['cached']:.2f}x req/s, {cpu_ratios['bare']['cached']:.2f}x by CPU",
        f"target first-code overhead beyond the baseline making the same call <= 1 ms p50 (one connection,"
        f" median of the rounds' p50 differences): {p50_gaps['base']['first_1']:.2f} ms"
        f" {'met' if p50_gaps['base']['first_1'] <= 1 else 'NOT met'}"
        f" (the bot's total minus its own upstream time: {overhead(first_1):.2f} ms)",
        f"target PDF poster < 1 s: {posters['pdf'][0]:.2f} s first call"
        f" {'met' if posters['pdf'][0] < 1 else 'NOT met'}",
    ]
    return "\n".join(lines)


def accept_spread(redis_url: str, talon: TalonStub, workdir: Path) -> dict[str, list[float]]:
    """The busiest worker's share of each short run, bare Flask under the Procfile's gunicorn command
    with only gunicorn's defaults (`-c` an empty file): without and with `--reuse-port`."""
    empty = workdir / "gunicorn_empty.conf.py"
    empty.write_text("")

    def args(port: int, reuse_port: bool) -> list[str]:
        command = [("bench.baseline:app" if a == "wsgi:app" else a) for a in procfile_web_args(port)]
        return [*command, "-c", str(empty), *(["--reuse-port"] if reuse_port else [])]

    env = {"PATH": os.environ["PATH"], "REDIS_URL": redis_url, "TALON_BASE_URL": talon.url}
    shares: dict[str, list[float]] = {}
    for name, reuse_port in (("one shared socket", False), ("--reuse-port", True)):
        server = Gunicorn.on_free_port(lambda port, r=reuse_port: args(port, r), env=env).start()
        try:
            shares[name] = []
            for _ in range(SPREAD_RUNS):
                lines = texts("SAVE", SPREAD_LOAD[2] + SPREAD_LOAD[0], FLOORS["bare"])
                shares[name].append(timed_wrk(server, lines, SPREAD_LOAD, workdir).busiest_share)
        finally:
            server.stop()
    return shares


def main() -> int:
    if shutil.which("wrk") is None:
        print("bench: wrk is missing: `make bench` installs Debian's wrk (apt-get install wrk)", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="kcb-bench-"))
    started = time.monotonic()
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    redis_server = RedisServer().start()
    talon = TalonStub().start()
    try:
        measured = measure(redis_server.url, talon, workdir)
        bot, base, ratios, cpu_ratios, p50_gaps, (bot_mem, base_mem), (retried, lopsided) = measured
        posters = poster_times()
        spread = accept_spread(redis_server.url, talon, workdir)
    finally:
        talon.close()
        redis_server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    print()
    print(f"keyword coupon bot benchmark: {os.cpu_count()} cores (shared with wrk, redis and the stand-in),"
          " loopback only")
    print(f"  {version(['wrk', '-v'])} -t1; {version(['redis-server', '--version'])}; Python {sys.version.split()[0]}")
    print(f"  both apps under the Procfile's {web}")
    print(f"  each path {ROUNDS} rounds, bot and baseline alternating: each app's median round,"
          " the median per-round ratio")
    print(f"  bounds per round: {LOAD[2]} requests or {LOAD[1]} s; whole benchmark {time.monotonic() - started:.0f} s;"
          f" load average before: {load_before}")
    print()
    print(table(bot, base, ratios, cpu_ratios, p50_gaps, bot_mem, base_mem, posters))
    print(f"runs repeated because one gunicorn worker had accepted (nearly) every connection: {sum(retried.values())}"
          f" ({', '.join(f'{k} {v}' for k, v in retried.items() if v) or 'none'});"
          f" reported runs still lopsided: {lopsided}")
    print(f"accept spread, bare Flask, {SPREAD_RUNS} runs of {SPREAD_LOAD[0]} connections for {SPREAD_LOAD[1]} s:"
          f" the busiest of the workers' share of the CPU time")
    for name, shares in spread.items():
        lopsided_runs = sum(share > MAX_BUSIEST_SHARE for share in shares)
        print(f"  {name:<18} median {statistics.median(shares):.2f}, worst {max(shares):.2f};"
              f" runs with one worker over {MAX_BUSIEST_SHARE:.0%}: {lopsided_runs}/{len(shares)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
