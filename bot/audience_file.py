"""Audience files: the CSV a shop imports (`bot audience import`) and the bot exports, streamed.

A header row is required. Columns, in any order, names in any case:

    phone           required: E.164, or a number written the program's region's way; a mobile
    birthday        optional: MM-DD or YYYY-MM-DD (the year is checked, then dropped)
    consent_at      required: ISO 8601 with an offset or Z, not in the future
    consent_source  required: where the customer said yes, at most 200 characters
    timezone        optional: an IANA name such as America/Chicago

Rules kept, each reported as `FILE:LINE: column: problem` (LINE as an editor counts it):

- A UTF-8 byte-order mark and CRLF line ends are read as if absent; blank lines are skipped.
- Other columns (a shop's `email`, `first_name`) are ignored and listed in `ignored_columns`,
  so a misspelt optional column is seen, not silently lost. A missing required column, or a
  column named twice, is a problem at line 1 and nothing else is read.
- A line with more fields than the header is a problem (a stray comma or quote); fewer fields
  leave the last columns empty.
- Only a mobile is kept: phonenumbers' MOBILE, or FIXED_LINE_OR_MOBILE (what every US and
  Canadian number is). Fixed lines, toll-free, premium-rate, shared-cost, VoIP, personal,
  pager, UAN and voicemail numbers are refused, and so are non-geographic (satellite) ones.
- The same phone on several lines: the later line wins, as an import into the store
  (an upsert) does. Finding them would need memory that grows with the file.
- A file that is not UTF-8, or whose CSV cannot be read on, stops there with one problem.

The reader holds one line at a time, so a 1,000,000-line file takes no more memory than a
short one. It yields the good lines and the bad ones in order, lazily: a caller doing
all-or-nothing reads the file twice (check, then import), `--skip-bad` imports as it goes.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

import phonenumbers
from phonenumbers import PhoneNumberType

from bot.birthdays import MonthDay
from bot.errors import Problem
from bot.quiet_hours import parse_zone

COLUMNS = ("phone", "birthday", "consent_at", "consent_source", "timezone")
REQUIRED = ("phone", "consent_at", "consent_source")
MAX_SOURCE_LENGTH = 200

_TEXTABLE = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "a fixed line",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.VOIP: "a VoIP number",
    PhoneNumberType.PERSONAL_NUMBER: "a personal (forwarding) number",
    PhoneNumberType.PAGER: "a pager",
    PhoneNumberType.UAN: "a company's universal access number",
    PhoneNumberType.VOICEMAIL: "a voicemail access number",
}
_NON_GEOGRAPHIC = "001"  # phonenumbers' region for +800, +808, +870, +881, +882, +883, +888, +979


@dataclass(frozen=True)
class AudienceMember:
    """One customer of an audience, as imported, stored and exported."""

    phone: str
    #: Required by an import; a broadcast's audience file (`bot send --audience FILE`) needs only the phone.
    consent_at: datetime | None = None
    consent_source: str = ""
    birthday: MonthDay | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class BadLine:
    """A line that is not imported, with every problem found on it."""

    line: int
    problems: tuple[Problem, ...]


class AudienceReader:
    """Reads an audience CSV given as bytes (a file opened with "rb", or any iterable of lines).

    `name` is the file's name in problems; `region` reads numbers written without a `+`;
    `countries`, when given, refuses numbers of other countries; `now` (aware) is the
    moment no consent may be after; `required` the columns a line must fill (an import's by default).
    The header is read at once: `ignored_columns` lists
    the columns that are not the audience's. Iterating yields `AudienceMember` and `BadLine`
    in file order; `line` is the last line read (for a progress bar; so is the file's tell()).
    """

    def __init__(self, source: Iterable[bytes], *, name: str, region: str, now: datetime,
                 countries: frozenset[str] | None = None, required: tuple[str, ...] = REQUIRED):
        self.name = name
        self.required = required
        self.region = region
        self.now = now
        self.countries = countries
        self.line = 0
        self.ignored_columns: tuple[str, ...] = ()
        self._rows = csv.reader(self._decoded(source))
        self._positions: dict[str, int] = {}
        self._header_problem: Problem | None = None
        try:
            self._read_header()
        except _Unreadable as unreadable:
            self._header_problem = unreadable.problem

    def __iter__(self) -> Iterator[AudienceMember | BadLine]:
        if self._header_problem is not None:
            yield BadLine(1, (self._header_problem,))
            return
        while True:
            start = self.line + 1
            try:
                fields = next(self._rows, None)
            except _Unreadable as unreadable:
                yield BadLine(self.line, (unreadable.problem,))
                return
            except csv.Error as error:
                yield BadLine(start, (Problem(f"{self.name}:{start}", f"unreadable CSV, stopped here: {error}"),))
                return
            if fields is None:
                return
            if any(field.strip() for field in fields):
                yield self._member(start, fields)

    def _decoded(self, source: Iterable[bytes]) -> Iterator[str]:
        for raw in source:
            self.line += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _Unreadable(Problem(f"{self.name}:{self.line}",
                                          "not UTF-8 text, stopped here: save the file as CSV UTF-8")) from None
            yield text.removeprefix("\ufeff") if self.line == 1 else text

    def _read_header(self) -> None:
        try:
            header = next(self._rows, None)
        except csv.Error as error:
            raise _Unreadable(Problem(f"{self.name}:1", f"unreadable CSV header: {error}")) from None
        place = f"{self.name}:1"
        if not header or not any(name.strip() for name in header):
            raise _Unreadable(Problem(place, f"no header row: the first line names the columns, "
                                             f"e.g. {','.join(COLUMNS)}"))
        names = [name.strip().lower().replace(" ", "_").replace("-", "_") for name in header]
        for position, column in enumerate(names):
            if column in self._positions:
                raise _Unreadable(Problem(f"{place}: {column}", "the column is named twice"))
            self._positions[column] = position
        missing = [column for column in self.required if column not in self._positions]
        if missing:
            hint = " (is the file separated by ';'? use ',')" if len(header) == 1 and ";" in header[0] else ""
            raise _Unreadable(Problem(place, f"missing column{'s' if len(missing) > 1 else ''} "
                                             f"{', '.join(missing)}{hint}"))
        self.ignored_columns = tuple(header[p].strip() for c, p in self._positions.items() if c not in COLUMNS)
        self._width = len(header)

    def _member(self, line: int, fields: list[str]) -> AudienceMember | BadLine:
        if len(fields) > self._width:
            return BadLine(line, (Problem(f"{self.name}:{line}", f"{len(fields)} fields, the header has "
                                                                   f"{self._width}: a stray comma or quote?"),))
        values = {column: fields[position].strip() if position < len(fields) else ""
                  for column, position in self._positions.items() if column in COLUMNS}
        problems: list[Problem] = []
        read = {}
        for column, reader in _READERS.items():
            value = values.get(column, "")
            if not value:
                if column in self.required:
                    problems.append(Problem(f"{self.name}:{line}: {column}", "missing"))
                continue
            try:
                read[column] = reader(self, value)
            except ValueError as error:
                problems.append(Problem(f"{self.name}:{line}: {column}", str(error)))
        if problems:
            return BadLine(line, tuple(problems))
        return AudienceMember(**read)

    def _phone(self, value: str) -> str:
        # number_type is the costly call (pattern matching): it is made once, and says
        # UNKNOWN for an invalid number, so it doubles as is_valid_number.
        try:
            number = phonenumbers.parse(value, self.region)
        except phonenumbers.NumberParseException:
            raise ValueError(f"{value!r} is not a phone number") from None
        kind = phonenumbers.number_type(number)
        if kind == PhoneNumberType.UNKNOWN:
            raise ValueError(f"{value!r} is not a valid number")
        if phonenumbers.region_code_for_country_code(number.country_code) == _NON_GEOGRAPHIC:
            raise ValueError(f"{value!r} is a satellite or non-geographic number, not a mobile")
        if kind not in _TEXTABLE:
            raise ValueError(f"{value!r} is {_TYPE_NAMES.get(kind, 'not a mobile')}, not a mobile")
        if self.countries is not None:
            region = phonenumbers.region_code_for_number(number)
            if region not in self.countries:
                raise ValueError(f"{value!r} is a number of {region}; the program texts "
                                 f"{', '.join(sorted(self.countries))}")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def _birthday(self, value: str) -> MonthDay:
        try:
            return MonthDay.parse_iso(value)
        except ValueError as error:
            raise ValueError(f"{error} (MM-DD or YYYY-MM-DD, e.g. 07-14)") from None

    def _consent_at(self, value: str) -> datetime:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 time, e.g. 2024-05-01T12:00:00Z") from None
        if moment.tzinfo is None:
            raise ValueError(f"{value!r} has no offset: add Z or one, e.g. 2024-05-01T12:00:00-05:00")
        if moment > self.now:
            raise ValueError(f"{value!r} is in the future")
        return moment

    def _consent_source(self, value: str) -> str:
        if len(value) > MAX_SOURCE_LENGTH:
            raise ValueError(f"{len(value)} characters, at most {MAX_SOURCE_LENGTH}")
        if not value.isprintable():
            raise ValueError("a control character or line break: one line of text, please")
        return value

    def _timezone(self, value: str) -> str:
        return parse_zone(value).key


_READERS = {
    "phone": AudienceReader._phone,
    "birthday": AudienceReader._birthday,
    "consent_at": AudienceReader._consent_at,
    "consent_source": AudienceReader._consent_source,
    "timezone": AudienceReader._timezone,
}


class _Unreadable(Exception):
    """The file cannot be read on from here: the one problem that says why."""

    def __init__(self, problem: Problem):
        super().__init__(str(problem))
        self.problem = problem


def write_audience(members: Iterable[AudienceMember], out: TextIO) -> int:
    """Write `members` as an audience file (the import's columns) to `out`, opened with
    newline=""; the number written. Consent times are written in UTC, with Z."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for member in members:
        writer.writerow((
            member.phone,
            "" if member.birthday is None else str(member.birthday),
            member.consent_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            member.consent_source,
            member.timezone or "",
        ))
        count += 1
    return count
