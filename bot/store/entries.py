"""A competition's entries and its draw's state, under the competition's hash tag.

`enter` records an entry in one script that reads Redis's clock, so an entry racing
`ends_at` is decided once, whichever worker handles it. `commit_draw` freezes the entry
list and keeps the secret seed (refusing before the end, twice, or when the list moved);
`reveal_draw` and `redraw_draw` keep DRAW.json's text for the steps after it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from .connection import Connection, text

EntryStatus = Literal["entered", "repeat", "not_started", "ended"]
CommitStatus = Literal["ok", "early", "twice", "changed"]


@dataclass(frozen=True)
class EntryResult:
    status: EntryStatus
    #: The entry's number in the competition (from 1); 0 when closed.
    number: int
    #: Which of the person's entries it is (from 1); 0 when closed.
    nth: int


@dataclass(frozen=True)
class Entry:
    number: int
    e164: str
    nth: int
    channel: str
    poster: str
    at: dt.datetime


@dataclass(frozen=True)
class DrawState:
    commitment: str | None
    seed: str | None
    document: str | None


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


class Entries(Connection):
    def enter(self, slug: str, e164: str, *, channel: str, poster: str, starts_at: dt.datetime,
              ends_at: dt.datetime, most: int) -> EntryResult:
        """Record one entry of `e164` (at most `most` per person) if Redis's clock is inside the window."""
        if "|" in channel or "|" in poster:
            raise ValueError(f"'|' in entry labels {channel!r}, {poster!r}")
        entrants, entries, counts, draw, _ = self.competition_keys(slug)
        status, number, nth = self._run(
            "enter", [entrants, entries, counts, draw],
            [e164, channel, poster, _ms(starts_at), _ms(ends_at), most],
        )
        return EntryResult(text(status), int(number), int(nth))  # type: ignore[arg-type]

    def entries(self, slug: str) -> Iterator[Entry]:
        """Every entry of a competition, in no particular order (HSCAN: meant for the CLI, not requests)."""
        _, key, _, _, _ = self.competition_keys(slug)
        with self._unavailable():
            for number, value in self.client.hscan_iter(key, count=1000):
                e164, nth, channel, poster, at_ms = text(value).split("|")
                at = dt.datetime.fromtimestamp(int(at_ms) / 1000, dt.UTC)
                yield Entry(int(number), e164, int(nth), channel, poster, at)

    def entry_count(self, slug: str) -> int:
        _, key, _, _, _ = self.competition_keys(slug)
        return int(self._call("hlen", key))

    def entry_counts(self, slug: str) -> dict[tuple[dt.datetime, str, str], int]:
        """(UTC hour, channel, poster) -> entries, over the competition's whole life."""
        _, _, key, _, _ = self.competition_keys(slug)
        counts = {}
        for field, n in self._call("hgetall", key).items():
            hour, channel, poster = text(field).split("|", 2)
            counts[(dt.datetime.fromtimestamp(int(hour) * 3600, dt.UTC), channel, poster)] = int(n)
        return counts

    def commit_draw(self, slug: str, *, ends_at: dt.datetime, entry_count: int, commitment: str, seed: str,
                    frozen: bytes) -> CommitStatus:
        _, entries, _, draw, frozen_key = self.competition_keys(slug)
        status = self._run("commit_draw", [draw, frozen_key, entries],
                           [_ms(ends_at), entry_count, commitment, seed, frozen])
        return text(status)  # type: ignore[return-value]

    def draw_state(self, slug: str) -> DrawState:
        _, _, _, draw, _ = self.competition_keys(slug)
        values = self._call("hmget", draw, ["commitment", "seed", "document"])
        return DrawState(*(text(v) if v is not None else None for v in values))

    def frozen_entries(self, slug: str) -> list[str]:
        _, _, _, _, frozen = self.competition_keys(slug)
        value = self._call("get", frozen)
        return text(value).splitlines() if value is not None else []

    def reveal_draw(self, slug: str, document: str) -> bool:
        """Keep the revealed DRAW.json; False when the draw was already revealed."""
        _, _, _, draw, _ = self.competition_keys(slug)
        return bool(self._call("hsetnx", draw, "document", document))

    def redraw_draw(self, slug: str, document: str) -> None:
        """Keep DRAW.json with a replacement added (the caller checked it extends the kept one)."""
        _, _, _, draw, _ = self.competition_keys(slug)
        self._call("hset", draw, "document", document)
