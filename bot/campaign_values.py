"""The values a campaign file's fields hold: each parser reports through `bad(message)` and
returns None (or nothing) for a value it refused, so the loader can go on and report the rest."""

from __future__ import annotations

import datetime as dt
from typing import Any

import phonenumbers

from .campaigns import SHORT_CODE_RE
from .errors import ConfigError
from .limits import RateLimit
from .quiet_hours import AllowedHours, parse_zone, zones_for
from .replies import ReplyTemplate, TemplateError


def parse_limit(raw: Any, bad, *, may_disable: bool = True) -> RateLimit | None:
    """`{ rate = 20, per_seconds = 3600, burst = 5 }`, or (in [program]) `false` for no limit."""
    if raw is False and may_disable:
        return None
    shape = "expected false or a table { rate = N, per_seconds = S, burst = B }"
    if not isinstance(raw, dict):
        bad(shape)
        return None
    unknown = set(raw) - {"rate", "per_seconds", "burst"}
    if unknown:
        bad(f"unknown field(s) {sorted(unknown)}: {shape}")
        return None
    rate, per_seconds, burst = raw.get("rate"), raw.get("per_seconds"), raw.get("burst", 1)
    for name, value in (("rate", rate), ("burst", burst)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            bad(f"{name} must be a whole number of at least 1, got {value!r}")
            return None
    if not isinstance(per_seconds, (int, float)) or isinstance(per_seconds, bool) or per_seconds <= 0:
        bad(f"per_seconds must be a positive number, got {per_seconds!r}")
        return None
    return RateLimit(rate=rate, per_seconds=float(per_seconds), burst=burst)


def parse_numbers(raw: Any, bad, *, required: bool) -> tuple[str, ...]:
    """Numbers in E.164, or US/CA short codes (5 or 6 digits, `SHORT_CODE_RE`); each listed once.

    Other countries' short codes (3 to 8 digits) are not accepted: a bare 7-digit "5551234" is far
    more often a local number missing its country and area code than a short code.
    """
    if raw is None and not required:
        return ()
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
        bad("expected a non-empty list of numbers in E.164 (+15005550006) or short codes")
        return ()
    numbers: list[str] = []
    for position, number in enumerate(raw, 1):
        if SHORT_CODE_RE.match(number):
            normal = number
        else:
            try:
                parsed = phonenumbers.parse(number, None)
            except phonenumbers.NumberParseException:
                parsed = None
            if parsed is None or not number.startswith("+") or not phonenumbers.is_possible_number(parsed):
                bad(
                    f"{number!r} is neither an E.164 number nor a short code (a US/CA short code has 5 or 6 "
                    "digits; write any other number in E.164: + and the country code, e.g. +15005550006)"
                )
                continue
            normal = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        if normal in numbers:
            first = numbers.index(normal) + 1
            bad(f"{number!r} (number {position} of the list) is the same number as number {first}: list it once")
            continue
        numbers.append(normal)
    return tuple(numbers)


def parse_countries(raw: Any, bad) -> tuple[str, ...]:
    """`["US", "CA"]`: regions phonenumbers knows (ISO 3166 alpha-2), in capitals."""
    if not isinstance(raw, list) or not raw or not all(isinstance(c, str) for c in raw):
        bad('expected a non-empty list of country codes such as ["US", "CA"]')
        return ()
    unknown = [c for c in raw if c not in phonenumbers.SUPPORTED_REGIONS]
    if unknown:
        bad(f"unknown country code(s) {unknown}: expected ISO 3166 codes in capitals such as \"US\"")
        return ()
    return tuple(dict.fromkeys(raw))


def parse_template(source: Any, context: dict[str, Any], bad) -> ReplyTemplate | None:
    if not isinstance(source, str) or not source.strip():
        bad("expected a non-empty reply text")
        return None
    try:
        template = ReplyTemplate(source)
        template.render(**context)
    except TemplateError as exc:
        bad(f"template does not render: {exc}")
        return None
    return template


def parse_datetime(raw: Any, bad) -> dt.datetime | None:
    if raw is None:
        return None
    value = raw
    if isinstance(raw, str):
        try:
            value = dt.datetime.fromisoformat(raw)
        except ValueError:
            bad(f"not a date-time: {raw!r} (write 2026-03-01T00:00:00Z)")
            return None
    if not isinstance(value, dt.datetime):
        bad(f"expected a date-time with a time zone, got {raw!r}")
        return None
    if value.tzinfo is None:
        bad(f"{value.isoformat()} has no time zone: add Z or an offset such as +01:00")
        return None
    return value


def parse_allowed_hours(raw: Any, bad) -> AllowedHours | None:
    """`["09:00", "19:00"]` (or "09:00-19:00"): the local hours outreach may go out, inside 08:00-20:00."""
    if isinstance(raw, list) and len(raw) == 2 and all(isinstance(t, str) for t in raw):
        raw = "-".join(raw)
    if not isinstance(raw, str):
        bad('expected two local times, e.g. ["09:00", "19:00"]')
        return None
    try:
        return AllowedHours.parse(raw)
    except ConfigError as exc:
        bad(str(exc).removeprefix("quiet_hours: "))
        return None


def parse_local_time(raw: Any, bad) -> dt.time | None:
    """`"10:00"`: a local time of day."""
    try:
        if isinstance(raw, str):
            return dt.time.fromisoformat(raw.strip().zfill(5))
    except ValueError:
        pass
    bad(f'expected a local time such as "10:00", got {raw!r}')
    return None


def parse_zone_name(raw: Any, bad) -> str | None:
    try:
        if isinstance(raw, str):
            return parse_zone(raw).key
    except ValueError as exc:
        bad(str(exc))
        return None
    bad('expected an IANA time zone such as "America/New_York"')
    return None


def default_zone(numbers: tuple[str, ...]) -> str:
    """The zone of a program without `timezone`: its first number's, when that names one zone, else UTC."""
    for number in numbers:
        if number.startswith("+"):
            zones = zones_for(number, default="UTC")
            if zones.source == "number" and len(zones.zones) == 1:
                return zones.names[0]
    return "UTC"
