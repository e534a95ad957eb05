"""Quiet hours: the hours a customer may be sent outreach, in the customer's own local time.

Outreach (birthdays, broadcasts, winners; never answers) goes out only inside the allowed
hours, 8:00 to 20:00 local time by default: the strictest US rules (Florida's FTSA and
Oklahoma's OTSA; the federal TCPA allows 21:00). A program may narrow them, never widen them.
The window is half-open: 19:59:59 is allowed, 20:00:00 is not.

Local time comes from zoneinfo for the day in question, never from an offset computed once
(texting tools have cut DST days short by computing the offset at midnight, or used a winter
offset all summer). Every moment this module returns is an aware datetime in UTC.

Where a customer is: the audience's `timezone` when given, else the zones phonenumbers
implies for the number, else the program's default zone. A number can imply several zones
(an Australian or Russian mobile, a few North American area codes): then a moment is
allowed only when it is allowed in *every* one of them, the most restrictive reading (a
Russian mobile without a `timezone` gets a two-hour window). Zones 12 hours apart or more
may share no allowed moment at all (`next_allowed` says None), and never share a local date
inside the allowed hours (so no birthday): the caller skips and names the fix, a `timezone`
for that customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as phone_zones

from bot.errors import ConfigError

_EARLIEST = time(8, 0)
_LATEST = time(20, 0)
_UNKNOWN_ZONE = "Etc/Unknown"  # what phonenumbers says for a number it cannot place


def parse_zone(name: str) -> ZoneInfo:
    """The IANA zone called `name` ("America/Chicago"). ValueError names it when there is none."""
    cleaned = name.strip()
    try:
        if cleaned and cleaned != _UNKNOWN_ZONE:
            return ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass  # OSError: a folder of the database ("America"), not a zone
    raise ValueError(f"unknown time zone {cleaned!r}: use an IANA name such as America/Chicago")


@dataclass(frozen=True)
class LocalZones:
    """The zone, or the zones, a customer may be in, and where that came from."""

    zones: tuple[ZoneInfo, ...]
    source: Literal["declared", "number", "default"]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(zone.key for zone in self.zones)

    def dates_at(self, moment: datetime) -> frozenset[date]:
        """The local date at `moment` in each zone: one date, or two near midnight somewhere."""
        return frozenset(moment.astimezone(zone).date() for zone in self.zones)


def zones_for(e164: str, declared: str | None = None, *, default: str) -> LocalZones:
    """Where the customer with number `e164` is: `declared` (validated: ValueError when unknown),
    else the zones the number implies, else the program's `default` zone."""
    if declared:
        return LocalZones((parse_zone(declared),), "declared")
    try:
        implied = phone_zones.time_zones_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        implied = ()
    zones = tuple(_known(name) for name in implied)
    if zones and all(zones):
        return LocalZones(zones, "number")
    return LocalZones((parse_zone(default),), "default")


def _known(name: str) -> ZoneInfo | None:
    try:
        return parse_zone(name)
    except ValueError:
        return None


@dataclass(frozen=True)
class AllowedHours:
    """The local hours outreach may go out, `start` included, `end` excluded."""

    start: time = _EARLIEST
    end: time = _LATEST

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ConfigError("quiet_hours: local times without a zone, e.g. 09:00-18:00")
        if self.start < _EARLIEST or self.end > _LATEST:
            raise ConfigError(f"quiet_hours: {self} is wider than {_EARLIEST:%H:%M}-{_LATEST:%H:%M}, "
                              f"the widest allowed (a program may only narrow it)")
        if self.start >= self.end:
            raise ConfigError(f"quiet_hours: {self} ends before it starts")

    @classmethod
    def parse(cls, text: str) -> AllowedHours:
        """`"09:00-18:00"`, the form of `[program] quiet_hours`. ConfigError when unusable."""
        parts = text.replace("–", "-").split("-")
        try:
            start, end = (time.fromisoformat(part.strip().zfill(5)) for part in parts)
        except ValueError:
            raise ConfigError(f"quiet_hours: {text!r} is not two local times, e.g. 09:00-18:00") from None
        return cls(start, end)

    def __contains__(self, local: time) -> bool:
        return self.start <= local < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def local_moment(day: date, at: time, zones: LocalZones) -> datetime:
    """The moment it is `at` on `day` in every zone for the first time (the latest of the zones).

    On a spring-forward day a local time that does not exist (02:30 in New York on
    2026-03-08) moves forward by the gap (03:30 EDT); on a fall-back day a local time that
    happens twice (01:30 on 2026-11-01) is its first occurrence. Both follow PEP 495's fold=0.
    """
    return max(datetime.combine(day, at, tzinfo=zone).astimezone(UTC) for zone in zones.zones)


def is_allowed(moment: datetime, zones: LocalZones, hours: AllowedHours) -> bool:
    """Whether outreach may go out at `moment` (aware) in every zone the customer may be in."""
    return all(_local(moment, zone).time() in hours for zone in zones.zones)


def next_allowed(moment: datetime, zones: LocalZones, hours: AllowedHours) -> datetime | None:
    """The first allowed moment from `moment` on (itself when allowed), or None when no moment
    in the next two days is allowed in every zone.

    A text held at night goes out at the start of the morning's window; whether that is still
    the right day is the caller's question (`LocalZones.dates_at`; for birthdays,
    `birthdays.birthday_send_moment` answers it)."""
    if is_allowed(moment, zones, hours):
        return moment.astimezone(UTC)
    # The allowed moments are the intersection of each zone's daily windows, so the first
    # one after `moment` is the start of some zone's window: try them in order.
    starts = sorted(
        local_moment(_local(moment, zone).date() + timedelta(days=offset), hours.start, LocalZones((zone,), "declared"))
        for zone in zones.zones for offset in range(-1, 3)
    )
    return next((start for start in starts if start > moment and is_allowed(start, zones, hours)), None)


def local_dates_anywhere(moment: datetime) -> tuple[date, ...]:
    """Every date it is somewhere on Earth at `moment` (UTC-12 to UTC+14), oldest first: the
    days a planner looks at to find every customer whose local date may be their birthday."""
    utc = _local(moment, UTC)
    return tuple(sorted({(utc - timedelta(hours=12)).date(), utc.date(), (utc + timedelta(hours=14)).date()}))


def _local(moment: datetime, zone: ZoneInfo | timezone) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("an aware moment is needed (a naive datetime has no place in time)")
    return moment.astimezone(zone)
