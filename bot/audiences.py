"""`bot audience import | export | stats`: an audience CSV into the store and back, streamed.

Import is all-or-nothing: the file is read once to find every bad line (each printed as
`FILE:LINE: column: problem`), and only a clean file is read again and written, in
pipelined batches of `BATCH` records (`Store.save_audience`). `--skip-bad` writes the good
lines in the same single pass and reports the bad ones. Memory stays bounded whatever
the file's size: one line and one batch at a time. Imported consent counts as verified:
the shop vouches for it with its source and time. A progress bar is drawn on stderr
when it is a terminal.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

import phonenumbers

from .audience_file import AudienceMember, AudienceReader, BadLine, write_audience
from .birthdays import MonthDay
from .campaigns import Program
from .errors import Problem
from .store import AudienceRecord, Store

BATCH = 2000
EPOCH = dt.datetime.fromtimestamp(0, dt.UTC)


@dataclass
class ImportResult:
    imported: int = 0
    bad: list[Problem] = field(default_factory=list)
    bad_lines: int = 0
    ignored_columns: tuple[str, ...] = ()


def program_regions(program: Program) -> tuple[str, frozenset[str]]:
    """The region numbers without '+' are read in, and the countries the program texts."""
    regions = []
    for number in program.numbers:
        if number.startswith("+"):
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
            if region and region not in regions:
                regions.append(region)
    regions = regions or ["US"]
    return regions[0], frozenset(regions)


def record_of(member: AudienceMember) -> AudienceRecord:
    return AudienceRecord(
        member.phone,
        birthday=str(member.birthday) if member.birthday else "",
        timezone=member.timezone or "",
        consent_at=member.consent_at.astimezone(dt.UTC).isoformat(timespec="seconds"),
        consent_source=member.consent_source,
        verified=True,
    )


def member_of(record: AudienceRecord) -> AudienceMember:
    return AudienceMember(
        record.phone,
        consent_at=dt.datetime.fromisoformat(record.consent_at) if record.consent_at else EPOCH,
        consent_source=record.consent_source,
        birthday=MonthDay.parse_iso(record.birthday) if record.birthday else None,
        timezone=record.timezone or None,
    )


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    def __init__(self, source: BinaryIO, label: str, out: TextIO | None = None):
        self.source, self.label, self.out = source, label, out or sys.stderr
        self.enabled = self.out.isatty()
        try:
            self.size = os.fstat(source.fileno()).st_size or 1
        except (OSError, AttributeError, ValueError):
            self.size, self.enabled = 1, False

    def show(self, lines: int) -> None:
        if self.enabled:
            share = min(1.0, self.source.tell() / self.size)
            bar = "#" * int(share * 30)
            self.out.write(f"\r{self.label} [{bar:<30}] {share:4.0%} {lines:,} lines")
            self.out.flush()

    def done(self) -> None:
        if self.enabled:
            self.out.write("\n")


def import_audience(store: Store, path: str, program: Program, *, skip_bad: bool = False,
                    now: dt.datetime | None = None,
                    report: Callable[[Problem], None] = lambda p: print(p, file=sys.stderr)) -> ImportResult:
    """Import the audience file at `path` (see the module docstring)."""
    now = now or dt.datetime.now(dt.UTC)
    region, countries = program_regions(program)
    result = ImportResult()

    def members(label: str) -> Iterator[AudienceMember]:
        with open(path, "rb") as source:
            reader = AudienceReader(source, name=path, region=region, now=now, countries=countries)
            result.ignored_columns = reader.ignored_columns
            progress = Progress(source, label)
            for n, item in enumerate(reader, 1):
                if isinstance(item, BadLine):
                    result.bad_lines += 1
                    result.bad.extend(item.problems)
                    for problem in item.problems:
                        report(problem)
                else:
                    yield item
                if n % 5000 == 0:
                    progress.show(reader.line)
            progress.show(reader.line)
            progress.done()

    if not skip_bad:
        for _ in members("checking"):
            pass
        if result.bad_lines:
            return result
    batch: list[AudienceRecord] = []
    for member in members("importing"):
        batch.append(record_of(member))
        if len(batch) >= BATCH:
            result.imported += store.save_audience(batch)
            batch = []
    result.imported += store.save_audience(batch)
    return result


def export_audience(store: Store, out: TextIO) -> int:
    return write_audience((member_of(record) for record in store.every_audience()), out)


@dataclass
class AudienceStats:
    customers: int = 0
    with_birthday: int = 0
    verified: int = 0
    with_timezone: int = 0
    by_month: Counter = field(default_factory=Counter)


def audience_stats(store: Store) -> AudienceStats:
    stats = AudienceStats()
    for record in store.every_audience():
        stats.customers += 1
        stats.verified += record.verified and bool(record.consent_at)
        stats.with_timezone += bool(record.timezone)
        if record.birthday:
            stats.with_birthday += 1
            stats.by_month[int(record.birthday[:2])] += 1
    return stats
