"""Birthdays: a month and a day, read from what a customer texts, and when each year they fall.

Only the month and day are kept, even when a year is given: nothing needs the year.
A date that could be read two ways is asked again, never guessed (DESIGN.md, "Contract:
reaching out"). The numeric rule, for `a/b` (also `a-b`, `a.b`, with an optional year after):

- `b > 12`: month/day, as US customers write it (`07/14`, `7/14`);
- `a > 12`: day/month (`14/07`, `14.07.`);
- both 12 or less and different (`03/04`): ambiguous, asked again naming a written form;
  `05/05` is May 5 either way.

A year first (`1990-07-14`, `1990/7/14`) is always year-month-day. Months in words
(`July 14`, `14 July`, `jul 14`, `14th of July`, `July 14, 1990`) are never ambiguous.
29 February is a birthday like any other; in other years it falls on 28 February.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal

from bot.quiet_hours import AllowedHours, LocalZones, local_moment, next_allowed

# English month names, fixed (calendar.month_name follows the machine's locale).
_MONTH_NAMES = ("", "January", "February", "March", "April", "May", "June", "July", "August",
                "September", "October", "November", "December")
_MONTH = r"(?P<month>[a-z]+)\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s*(?P<year>\d{4}))?"

_YEAR_FIRST = re.compile(r"(?P<year>\d{4})[-/.](?P<month>\d{1,2})[-/.](?P<day>\d{1,2})")
_NUMERIC = re.compile(r"(?P<a>\d{1,2})(?P<sep>[-/.])(?P<b>\d{1,2})(?:(?P=sep)(?P<year>\d{2}|\d{4})?)?")
_MONTH_FIRST = re.compile(rf"{_MONTH}\s*{_DAY}{_YEAR}")
_DAY_FIRST = re.compile(rf"{_DAY}\s*(?:of\s+)?{_MONTH}{_YEAR}")


def _days_in(month: int) -> int:
    return 29 if month == 2 else calendar.monthrange(2001, month)[1]


@dataclass(frozen=True, order=True)
class MonthDay:
    """A day of the year, 29 February included. Its text form, `MM-DD`, is the stored one."""

    month: int
    day: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"no month {self.month}")
        if not 1 <= self.day <= _days_in(self.month):
            raise ValueError(f"{_MONTH_NAMES[self.month]} has no day {self.day}")

    @classmethod
    def parse_iso(cls, text: str) -> MonthDay:
        """`MM-DD` or `YYYY-MM-DD` (the audience file's and the store's form). ValueError otherwise.

        With a year, the date must have existed: `1990-02-29` did not."""
        match = re.fullmatch(r"(?:(\d{4})-)?(\d{2})-(\d{2})", text.strip())
        if match is None:
            raise ValueError(f"{text.strip()!r} is not MM-DD or YYYY-MM-DD")
        year, month, day = match.groups()
        birthday = cls(int(month), int(day))
        if year is not None:
            _check_year(int(year), birthday)
        return birthday

    def __str__(self) -> str:
        return f"{self.month:02d}-{self.day:02d}"


LEAP_DAY = MonthDay(2, 29)


@dataclass(frozen=True)
class AskAgain:
    """A text that is not one birthday: why, and the readings when there are two."""

    reason: Literal["ambiguous", "impossible", "unreadable"]
    readings: tuple[MonthDay, ...] = ()

    @property
    def prompt(self) -> str:
        """A default English reply; a program text can replace it, with `readings` in words."""
        if self.reason == "ambiguous":
            first, second = (in_words(reading) for reading in self.readings)
            return f"Is that {first} or {second}? Please write the month in words, e.g. July 14."
        if self.reason == "impossible":
            return "That date does not exist. Please send your birthday as month and day, e.g. July 14."
        return "Please send your birthday as month and day, e.g. July 14 or 07/14."


def parse_birthday(text: str) -> MonthDay | AskAgain:
    """Read a birthday from a customer's text (the words after the keyword)."""
    cleaned = " ".join(text.lower().split()).rstrip(".!")
    if match := _YEAR_FIRST.fullmatch(cleaned):
        return _checked(int(match["month"]), int(match["day"]), match["year"])
    if match := _NUMERIC.fullmatch(cleaned):
        return _numeric(int(match["a"]), int(match["b"]), match["year"])
    for pattern in (_MONTH_FIRST, _DAY_FIRST):
        if (match := pattern.fullmatch(cleaned)) and (month := _month_named(match["month"])):
            return _checked(month, int(match["day"]), match["year"])
    return AskAgain("unreadable")


def in_words(birthday: MonthDay) -> str:
    """"July 14": how the bot confirms a birthday, in a form nobody reads two ways."""
    return f"{_MONTH_NAMES[birthday.month]} {birthday.day}"


def date_in(birthday: MonthDay, year: int) -> date:
    """The day the birthday falls on in `year`: 29 February is 28 February in other years."""
    if birthday == LEAP_DAY and not calendar.isleap(year):
        return date(year, 2, 28)
    return date(year, birthday.month, birthday.day)


def occurs_on(birthday: MonthDay, day: date) -> bool:
    """Whether `day` (a local date) is this birthday."""
    return date_in(birthday, day.year) == day


def birthdays_on(day: date) -> tuple[MonthDay, ...]:
    """Every birthday that falls on `day`: what a store indexed by `MM-DD` looks up to plan a day.

    28 February of a non-leap year is also 29 February's day."""
    here = MonthDay(day.month, day.day)
    if here == MonthDay(2, 28) and not calendar.isleap(day.year):
        return (here, LEAP_DAY)
    return (here,)


def send_time_for(birthday: MonthDay, send_at: time, zones: LocalZones, year: int) -> datetime:
    """`send_at` on that year's birthday, local time, as an aware UTC moment (see `local_moment`)."""
    return local_moment(date_in(birthday, year), send_at, zones)


def birthday_send_moment(birthday: MonthDay, year: int, *, send_at: time, zones: LocalZones,
                         hours: AllowedHours, now: datetime) -> datetime | None:
    """When that year's birthday text should go out, seen from `now`; None when it cannot any more.

    The planned moment is `send_at` local time on the birthday, moved into the allowed hours
    when it is outside them. A plan that `now` has passed (the worker was down) is caught up
    at once, or at the next allowed moment, but only while it is still the birthday in every
    zone the customer may be in: never a birthday text on the wrong day. None means skip
    this year (the day is over, or no moment of it is allowed in every zone).
    """
    moment = next_allowed(max(send_time_for(birthday, send_at, zones, year), now), zones, hours)
    if moment is None or not all(occurs_on(birthday, day) and day.year == year for day in zones.dates_at(moment)):
        return None
    return moment


def is_due(birthday: MonthDay, year: int, *, send_at: time, zones: LocalZones, hours: AllowedHours,
           now: datetime) -> bool:
    """Whether that year's birthday text should be sent at `now` (the send engine's re-check)."""
    return birthday_send_moment(birthday, year, send_at=send_at, zones=zones, hours=hours, now=now) == now


def _check_year(year: int, birthday: MonthDay) -> None:
    if birthday == LEAP_DAY and not calendar.isleap(year):
        raise ValueError(f"{year} had no February 29")


def _month_named(word: str) -> int | None:
    """January from "january", "jan" or "janu": any start of a month's name, three letters or more."""
    if len(word) >= 3:
        for number, name in enumerate(_MONTH_NAMES[1:], start=1):
            if name.lower().startswith(word):
                return number
    return None


def _checked(month: int, day: int, year: str | None) -> MonthDay | AskAgain:
    try:
        birthday = MonthDay(month, day)
        if year is not None and len(year) == 4:
            _check_year(int(year), birthday)
    except ValueError:
        return AskAgain("impossible")
    return birthday


def _numeric(a: int, b: int, year: str | None) -> MonthDay | AskAgain:
    if 1 <= a <= 12 and 1 <= b <= 12 and a != b:
        return AskAgain("ambiguous", (MonthDay(a, b), MonthDay(b, a)))
    if a > 12:
        return _checked(b, a, year)
    return _checked(a, b, year)

