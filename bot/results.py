"""The marketer's results: per campaign and per poster, scans -> texts -> codes, over time.

Recording. Scans are counted by the scan's own script (`Store.count_scan`).
Every handled text is counted once, by the conversation (`Conversation._log`
hands its reply to `Funnel.add_text`), into the UTC hour's bucket under
(campaign, poster, outcome): no phone number, no hash of one. A redelivered
MessageSid (`replayed`, `in_flight`) is not a new text and is not counted.

Neither the text's latency nor Redis pays a round trip per count: each process
adds its counts up in memory and one background thread writes them with one
pipelined round trip every second (`FUNNEL_FLUSH_S`); gunicorn's `worker_exit` and
`bot simulate` write what is left. A process killed outright loses at most that
last second of counts; a failed write is logged and its counts kept for the
next one. The results page writes its own
process's counts before reading, so what a marketer just did shows at once
(other workers' within a second). It never fails a text.

Competitions' entries are counted apart, by the script that records each entry
(`Store.enter`), per UTC hour, channel and poster: `entry_rows` reads them for the
page's "Competition entries" table.

Reading. `funnel` sums the hourly buckets of a `Period` into one `Row` per
campaign (all its posters) and per (campaign, poster), with a series per
chart step; `to_csv` writes the same numbers (`results_charts.Chart` draws a
row's series). The texts the bot sent and their receipts are the page's outbound
section, `results_outbound`, built on the same `Funnel`, `Period` and `Row`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .campaigns import CampaignBook
from .errors import StoreUnavailable
from .scans import NO_POSTER
from .store import FUNNEL_RETENTION_DAYS, Store, funnel_field, funnel_hour

log = logging.getLogger(__name__)

#: Outcomes that are a redelivery of a text already counted.
NOT_A_NEW_TEXT = frozenset({"replayed", "in_flight"})
#: Outcomes counted as errors: Talon.One failed, or the store was unavailable.
ERRORS = frozenset({"upstream_error", "busy"})

#: The funnel's columns, in order (page, CSV and charts).
COLUMNS = ("scans", "unique_scans", "texts", "issued", "repeats", "limited", "errors", "pending", "other")
#: The columns drawn in the charts, with their colours.
CHARTED = {"scans": "#1f77b4", "texts": "#ff7f0e", "issued": "#2ca02c", "repeats": "#9467bd",
           "limited": "#8c564b", "errors": "#d62728"}


def columns_of(events: Mapping[str, int]) -> dict[str, int]:
    """One (campaign, poster)'s raw event counts -> the funnel's columns."""
    texts = sum(n for event, n in events.items() if event not in ("scan", "unique_scan"))
    named = {
        "issued": events.get("issued", 0),
        "repeats": events.get("repeat", 0),
        "limited": events.get("limited", 0),
        "errors": sum(events.get(event, 0) for event in ERRORS),
        "pending": events.get("pending", 0),
    }
    return {
        "scans": events.get("scan", 0),
        "unique_scans": events.get("unique_scan", 0),
        "texts": texts,
        **named,
        "other": texts - sum(named.values()),
    }


# -- recording

#: Counts kept for the next write when Redis is away, at most (fields), so memory stays bounded.
MAX_PENDING_FIELDS = 100_000
#: How often the background writer looks for funnels due a write.
_TICK_S = 0.25

_funnels: weakref.WeakSet[Funnel] = weakref.WeakSet()
#: Whether this process's background writer runs (a forked child starts its own: `_forget_flusher`).
_flusher_started = False
_flusher_lock = threading.Lock()


def flush_all() -> None:
    """Write every funnel's counts in this process now (a worker's exit, the CLI's end)."""
    for funnel in list(_funnels):
        funnel.flush()


def _flush_all_forever() -> None:
    pause = threading.Event()
    while not pause.wait(_TICK_S):
        now = time.monotonic()
        for funnel in list(_funnels):
            if funnel.flush_s and now - funnel.flushed_at >= funnel.flush_s:
                funnel.flush()


def _ensure_flusher() -> None:
    """One background writer per process (a gunicorn worker forks without its parent's threads)."""
    global _flusher_started
    if _flusher_started:  # every text asks: no lock once it runs
        return
    with _flusher_lock:
        if _flusher_started:
            return
        _flusher_started = True
    threading.Thread(target=_flush_all_forever, name="funnel-flush", daemon=True).start()


def _forget_flusher() -> None:
    global _flusher_started
    _flusher_started = False


os.register_at_fork(after_in_child=_forget_flusher)


class Funnel:
    """Counts handled texts into the funnel's hourly buckets (see the module docstring)."""

    #: What is counted, for the log lines.
    what = "results funnel"

    def __init__(self, store: Store, *, flush_s: float = 1.0):
        self.store = store
        #: Seconds between background writes; 0 writes only on `flush()`.
        self.flush_s = flush_s
        self.flushed_at = time.monotonic()
        self._pending: Counter = Counter()
        self._lock = threading.Lock()
        #: (hours since the epoch, that hour's bucket): `funnel_hour` once an hour, not once a text.
        self._hour: tuple[int, dt.datetime | None] = (-1, None)
        _funnels.add(self)

    def add_text(self, at: dt.datetime, campaign: str | None, poster: str | None, outcome: str) -> None:
        """Count one handled text; never raises (the reply matters more than its count)."""
        if outcome in NOT_A_NEW_TEXT:
            return
        try:
            name = funnel_field(campaign or "", poster or NO_POSTER, outcome)
        except ValueError as exc:
            log.error("results funnel: text not counted: %s", exc)
            return
        self._add(at, name)

    def waiting(self) -> int:
        """Texts counted in this process and not written yet."""
        with self._lock:
            return sum(self._pending.values())

    def flush(self) -> None:
        """Write the counts added up so far, in one pipelined round trip. Never raises."""
        with self._lock:
            counts, self._pending = self._pending, Counter()
            self.flushed_at = time.monotonic()
        if not counts:
            return
        try:
            self._write(dict(counts))
            return
        except StoreUnavailable as exc:
            log.error("%s: %d count(s) not stored yet: %s", self.what, sum(counts.values()), exc)
        except Exception:
            log.exception("%s: %d count(s) not stored yet", self.what, sum(counts.values()))
        with self._lock:  # keep them for the next write, within bounds
            if len(self._pending) + len(counts) <= MAX_PENDING_FIELDS:
                self._pending.update(counts)
            else:
                log.error("%s: %d count(s) dropped: too many waiting", self.what, sum(counts.values()))

    def _write(self, counts: dict[tuple[dt.datetime, str], int]) -> None:
        self.store.count_funnel(counts)

    def _add(self, at: dt.datetime, name: str) -> None:
        """Count `name` in the bucket of the hour `at` falls in."""
        hours = int(at.timestamp()) // 3600
        cached = self._hour
        if cached[0] != hours:  # a tuple swapped in whole: threads never see half of one
            cached = self._hour = (hours, funnel_hour(at))
        with self._lock:
            self._pending[(cached[1], name)] += 1
        _ensure_flusher()


# -- reading


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC, drawn in steps of `step`."""

    start: dt.datetime
    end: dt.datetime
    step: dt.timedelta
    name: str
    label: str

    @property
    def points(self) -> list[dt.datetime]:
        points, at = [], self.start
        while at < self.end:
            points.append(at)
            at += self.step
        return points

    @property
    def hours(self) -> list[dt.datetime]:
        hours, at = [], self.start
        while at < self.end:
            hours.append(at)
            at += dt.timedelta(hours=1)
        return hours


HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
#: name -> (label, step, number of steps)
PRESETS = {
    "24h": ("last 24 hours", HOUR, 24),
    "7d": ("last 7 days", 6 * HOUR, 28),
    "30d": ("last 30 days", DAY, 30),
    "90d": ("last 90 days", DAY, 90),
}
DEFAULT_PERIOD = "7d"


class PeriodError(ValueError):
    pass


def period_from(args: Mapping[str, str], now: dt.datetime) -> Period:
    """The period asked for: `period` = a preset name, or `from`/`to` = UTC dates (both inclusive)."""
    now = now.astimezone(dt.UTC)
    if args.get("from") or args.get("to"):
        try:
            first = dt.date.fromisoformat(args.get("from") or "")
            last = dt.date.fromisoformat(args.get("to") or "")
        except ValueError:
            raise PeriodError("from/to: give both dates as YYYY-MM-DD") from None
        if last < first:
            raise PeriodError(f"from/to: {last} is before {first}")
        start = dt.datetime.combine(first, dt.time(), dt.UTC)
        end = dt.datetime.combine(last, dt.time(), dt.UTC) + DAY
        oldest = funnel_hour(now) - dt.timedelta(days=FUNNEL_RETENTION_DAYS)
        if start < oldest.replace(hour=0):
            raise PeriodError(f"from: results are kept {FUNNEL_RETENTION_DAYS} days; the oldest day is {oldest.date()}")
        if start > now:
            raise PeriodError(f"from: {first} is in the future")
        if end - start > dt.timedelta(days=FUNNEL_RETENTION_DAYS + 1):
            raise PeriodError(f"from/to: at most {FUNNEL_RETENTION_DAYS} days at once")
        step = HOUR if end - start <= 2 * DAY else DAY
        return Period(start, end, step, "custom", f"{first} to {last} (UTC)")
    name = args.get("period") or DEFAULT_PERIOD
    if name not in PRESETS:
        raise PeriodError(f"period: one of {', '.join(PRESETS)}, got {name!r}")
    label, step, steps = PRESETS[name]
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    end = epoch + ((now - epoch) // step + 1) * step
    return Period(end - steps * step, end, step, name, label)


@dataclass
class Row:
    """One campaign (poster None: all its texts and scans) or one of its posters, over a period."""

    campaign: str
    poster: str | None
    totals: dict[str, int]
    series: dict[str, list[int]]
    declared: bool = True

    @property
    def level(self) -> str:
        return "campaign" if self.poster is None else "poster"

    @property
    def id(self) -> str:
        return f"{self.campaign or '-'}.{self.poster}" if self.poster is not None else (self.campaign or "-")


@dataclass
class EntryRow:
    """A competition's entries by one channel and poster: in the period (per step), and in all."""

    campaign: str
    channel: str
    poster: str
    total: int
    series: list[int]
    all_time: int


@dataclass
class Results:
    period: Period
    rows: list[Row] = field(default_factory=list)
    entries: list[EntryRow] = field(default_factory=list)


def entry_rows(store: Store, book: CampaignBook, period: Period) -> list[EntryRow]:
    """Each competition's entries by channel and poster, over `period` (steps) and all time."""
    rows = []
    points = period.points
    for campaign in book.campaigns:
        if campaign.kind != "competition":
            continue
        cells: dict[tuple[str, str], tuple[list[int], list[int]]] = {}
        for (hour, channel, poster), n in store.entry_counts(campaign.slug).items():
            series, all_time = cells.setdefault((channel, poster), ([0] * len(points), [0]))
            all_time[0] += n
            if period.start <= hour < period.end:
                series[(hour - period.start) // period.step] += n
        for (channel, poster), (series, all_time) in sorted(cells.items()):
            rows.append(EntryRow(campaign.slug, channel, poster, sum(series), series, all_time[0]))
    return rows


def funnel(store: Store, book: CampaignBook, period: Period) -> Results:
    """Sum the period's hourly buckets into campaign rows, each followed by its poster rows."""
    points = period.points
    cells = cells_of(store.funnel_counts(period.hours), period)

    posters_of: dict[str, list[str]] = {c.slug: [] for c in book.campaigns}
    for poster in book.posters:
        posters_of.setdefault(poster.campaign, []).append(poster.slug)
    for campaign, poster in sorted(cells):
        found = posters_of.setdefault(campaign, [])
        if poster not in found:
            found.append(poster)

    results = Results(period)
    declared = {c.slug for c in book.campaigns}
    for campaign, posters in posters_of.items():
        if campaign not in declared and not any((campaign, p) in cells for p in posters):
            continue
        poster_rows = [row_of(campaign, p, cells.get((campaign, p)), len(points)) for p in posters]
        total = [
            sum((row_cells[i] for row_cells in (cells.get((campaign, p)) for p in posters) if row_cells), Counter())
            for i in range(len(points))
        ]
        results.rows.append(row_of(campaign, None, total, len(points), declared=campaign in declared or not campaign))
        if campaign:  # texts that matched no campaign have no posters to show
            results.rows.extend(poster_rows)
    results.entries = entry_rows(store, book, period)
    return results


def row_of(campaign: str, poster: str | None, cells: list[Counter] | None, n: int, declared: bool = True,
         *, columns: Callable[[Mapping[str, int]], dict[str, int]] = columns_of) -> Row:
    cells = cells or [Counter() for _ in range(n)]
    per_point = [columns(c) for c in cells]
    totals = columns(sum(cells, Counter()))
    series = {column: [p[column] for p in per_point] for column in totals}
    return Row(campaign, poster, totals, series, declared)


def cells_of(
    raw: dict[dt.datetime, dict[tuple[str, str, str], int]], period: Period,
) -> dict[tuple[str, str], list[Counter]]:
    """(campaign, poster or occasion) -> chart step -> event -> count."""
    cells: dict[tuple[str, str], list[Counter]] = {}
    for hour, counts in raw.items():
        index = (hour - period.start) // period.step
        for (campaign, sub, event), n in counts.items():
            cells.setdefault((campaign, sub), [Counter() for _ in period.points])[index][event] += n
    return cells


def to_csv(results: Results, *, by_step: bool = False) -> str:
    """The funnel as CSV: one line per campaign and poster row; `by_step`: one per row and chart step."""
    return rows_csv(results.rows, results.period, COLUMNS, "poster", by_step=by_step)


def rows_csv(rows: list[Row], period: Period, columns: tuple[str, ...], sub: str, *, by_step: bool = False) -> str:
    """`rows` as CSV under `columns`, the second level (a row with a poster) named `sub`; `by_step`: one
    line per row and chart step (start, end in UTC)."""

    def level(row: Row) -> str:
        return "campaign" if row.poster is None else sub

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    head = ["level", "campaign", sub, *columns]
    if by_step:
        writer.writerow(["start", "end", *head])
        for row in rows:
            for i, start in enumerate(period.points):
                values = [row.series[column][i] for column in columns]
                writer.writerow([_iso(start), _iso(start + period.step), level(row), row.campaign,
                                 row.poster or "", *values])
    else:
        writer.writerow(head)
        for row in rows:
            writer.writerow([level(row), row.campaign, row.poster or "", *(row.totals[c] for c in columns)])
    return out.getvalue()


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")
