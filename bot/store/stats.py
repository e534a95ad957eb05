"""The one count of scans and texts: the results funnel's hourly buckets.

A scan is counted by the scan's own script (`count_scan`), into the hour's
bucket, with whether the visitor is new that day. Handled texts are added up
in memory by `results.Funnel` and written with one pipelined `count_funnel`
a second (see results.py): they cost the text nothing on its way.

Readers: the results page reads hours (`funnel_counts`); `bot scans` and the
marketer page read `poster_stats`, the same buckets summed over the funnel's
retention. Nothing is counted twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from .connection import Connection, text

SEEN_TTL_MS = 48 * 3600 * 1000
#: The results funnel's hourly buckets are kept this long (from the hour's start).
FUNNEL_RETENTION_DAYS = 90
#: The `poster` label when a scan or text names no declared poster.
NO_POSTER = "none"
#: funnel event -> `poster_stats` column; every other event is a text's outcome.
_SCAN_COLUMNS = {"scan": "scans", "unique_scan": "unique"}


def funnel_hour(moment: dt.datetime) -> dt.datetime:
    """The start of the UTC hour `moment` falls in: the funnel's bucket."""
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def funnel_field(campaign: str, poster: str, event: str) -> str:
    """A funnel bucket's field; campaign and poster are slugs (or "" / labels) without '|'."""
    if "|" in campaign or "|" in poster:
        raise ValueError(f"'|' in funnel labels {campaign!r}, {poster!r}")
    return f"{campaign}|{poster}|{event}"


def _funnel_expiry(hour: dt.datetime) -> int:
    return int(hour.timestamp()) + FUNNEL_RETENTION_DAYS * 24 * 3600


def retained_hours(now: dt.datetime) -> list[dt.datetime]:
    """Every hour whose bucket may still be kept at `now`, newest first."""
    last = funnel_hour(now)
    return [last - dt.timedelta(hours=n) for n in range(FUNNEL_RETENTION_DAYS * 24 + 1)]


class Stats(Connection):
    def count_scan(self, campaign: str, poster: str, visitor: str, day: str, at: dt.datetime | None = None) -> bool:
        """Count one scan of a poster in the funnel's bucket of the hour `at` (default now);
        True when `visitor` (a salted hash) is new that day."""
        hour = funnel_hour(at or dt.datetime.now(dt.UTC))
        keys = [self.seen_key(day, campaign, poster), self.funnel_key(hour)]
        args = [visitor, SEEN_TTL_MS, funnel_field(campaign, poster, ""), _funnel_expiry(hour)]
        return bool(self._run("scan", keys, args))

    def unique_visitors(self, day: str, campaign: str, poster: str) -> int:
        """The day's distinct visitors of a poster, as its HyperLogLog estimates them."""
        return int(self._call("pfcount", self.seen_key(day, campaign, poster)))

    def count_funnel(self, counts: dict[tuple[dt.datetime, str], int]) -> None:
        """Add `counts` ({(hour, funnel_field(...)): n}) to the hourly buckets, in one pipelined round trip."""
        self._count_hourly(self.funnel_key, counts)

    def funnel_counts(self, hours: list[dt.datetime]) -> dict[dt.datetime, dict[tuple[str, str, str], int]]:
        """hour -> {(campaign, poster, event): count} for each hour asked (empty when none), one round trip."""
        return self._hourly_counts(self.funnel_key, hours)

    def count_outbound(self, counts: dict[tuple[dt.datetime, str], int]) -> None:
        """Add outbound counts ({(hour, funnel_field(campaign, occasion, event)): n}) to their hourly buckets."""
        self._count_hourly(self.outbound_counts_key, counts)

    def outbound_counts(self, hours: list[dt.datetime]) -> dict[dt.datetime, dict[tuple[str, str, str], int]]:
        """hour -> {(campaign, occasion, event): count}: texts sent and their receipts (see results.py)."""
        return self._hourly_counts(self.outbound_counts_key, hours)

    def _count_hourly(self, key_of: Callable[[dt.datetime], str], counts: dict[tuple[dt.datetime, str], int]) -> None:
        if not counts:
            return
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            for hour in sorted({hour for hour, _ in counts}):
                key = key_of(hour)
                for (at, name), n in counts.items():
                    if at == hour:
                        pipe.hincrby(key, name, n)
                pipe.expireat(key, _funnel_expiry(hour))
            pipe.execute()

    def _hourly_counts(
        self, key_of: Callable[[dt.datetime], str], hours: list[dt.datetime],
    ) -> dict[dt.datetime, dict[tuple[str, str, str], int]]:
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            for hour in hours:
                pipe.hgetall(key_of(hour))
            found = pipe.execute()
        result: dict[dt.datetime, dict[tuple[str, str, str], int]] = {}
        for hour, values in zip(hours, found, strict=True):
            counts = {}
            for name, count in (values or {}).items():
                campaign, poster, event = text(name).split("|", 2)
                counts[(campaign, poster, event)] = int(count)
            result[hour] = counts
        return result

    def poster_stats(self, now: dt.datetime | None = None) -> dict[tuple[str, str], dict[str, int]]:
        """(campaign, poster) -> {"scans", "unique", "texts"} over the funnel's retention, for `bot scans`.

        "texts" are the texts carrying a poster's reference (a declared poster or
        "unlisted"): a text under `NO_POSTER` named none and is not attributed.
        """
        rows: dict[tuple[str, str], dict[str, int]] = {}
        for counts in self.funnel_counts(retained_hours(now or dt.datetime.now(dt.UTC))).values():
            for (campaign, poster, event), n in counts.items():
                column = _SCAN_COLUMNS.get(event, "texts")
                if column == "texts" and poster == NO_POSTER:
                    continue
                row = rows.setdefault((campaign, poster), {"scans": 0, "unique": 0, "texts": 0})
                row[column] += n
        return rows
