"""Quiet hours: where a customer is, and when outreach may reach them there (DST days included)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot.errors import ConfigError
from bot.quiet_hours import (
    AllowedHours,
    LocalZones,
    is_allowed,
    local_dates_anywhere,
    local_moment,
    next_allowed,
    parse_zone,
    zones_for,
)

HOURS = AllowedHours()


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def zones(*names: str) -> LocalZones:
    return LocalZones(tuple(parse_zone(name) for name in names), "declared")


NEW_YORK = zones("America/New_York")
BERLIN = zones("Europe/Berlin")


def test_a_declared_zone_wins_over_the_number():
    found = zones_for("+12125550100", "America/Chicago", default="UTC")
    assert (found.names, found.source) == (("America/Chicago",), "declared")


@pytest.mark.parametrize("name", ["America/Chicag", "america/chicago", "EST-5", "America", "../etc/passwd", " ",
                                  "Etc/Unknown"])
def test_an_unknown_declared_zone_is_a_clear_error(name):
    with pytest.raises(ValueError, match="unknown time zone .*IANA name such as America/Chicago"):
        zones_for("+12125550100", name, default="UTC")


def test_the_number_implies_its_zone():
    assert zones_for("+12125550100", default="UTC").names == ("America/New_York",)
    assert zones_for("+14155550100", default="UTC").names == ("America/Los_Angeles",)
    assert zones_for("+4915123456789", default="UTC").names == ("Europe/Berlin",)
    assert zones_for("+12125550100", default="UTC").source == "number"


def test_a_number_in_several_zones_keeps_them_all():
    australia = zones_for("+61412345678", default="UTC")
    assert {"Australia/Perth", "Australia/Sydney"} <= set(australia.names)
    assert australia.source == "number"


def test_a_number_nobody_can_place_falls_back_to_the_programs_zone():
    for number in ("+881612345678", "+15551234567", "not a number"):
        found = zones_for(number, default="America/Denver")
        assert (found.names, found.source) == (("America/Denver",), "default")


def test_allowed_hours_default_to_8_to_20_and_may_only_narrow():
    assert str(AllowedHours()) == "08:00-20:00"
    assert str(AllowedHours.parse("9:30-18:00")) == "09:30-18:00"
    assert AllowedHours.parse("08:00–20:00") == AllowedHours()  # an en dash, as people type it
    for wider in ("07:59-20:00", "08:00-20:01", "08:00-21:00"):
        with pytest.raises(ConfigError, match="wider than 08:00-20:00"):
            AllowedHours.parse(wider)
    with pytest.raises(ConfigError, match="ends before it starts"):
        AllowedHours.parse("18:00-09:00")
    for unusable in ("9-18", "morning", "09:00", "09:00-12:00-15:00"):
        with pytest.raises(ConfigError, match="not two local times"):
            AllowedHours.parse(unusable)


def test_the_window_includes_its_start_and_excludes_its_end():
    assert time(8) in HOURS and time(19, 59, 59) in HOURS
    assert time(7, 59, 59) not in HOURS and time(20) not in HOURS


def test_a_spring_forward_day_keeps_the_whole_window_in_new_york():
    # 2026-03-08: 02:00 EST becomes 03:00 EDT. The window is 12:00-24:00 UTC that day (EDT),
    # not the 13:00-01:00 an offset computed at midnight (EST) would give.
    assert not is_allowed(utc(2026, 3, 8, 11, 59), NEW_YORK, HOURS)
    assert is_allowed(utc(2026, 3, 8, 12, 0), NEW_YORK, HOURS)
    assert is_allowed(utc(2026, 3, 8, 23, 59), NEW_YORK, HOURS)
    assert not is_allowed(utc(2026, 3, 9, 0, 0), NEW_YORK, HOURS)
    # The day before, still EST.
    assert not is_allowed(utc(2026, 3, 7, 12, 59), NEW_YORK, HOURS)
    assert is_allowed(utc(2026, 3, 7, 13, 0), NEW_YORK, HOURS)


def test_a_spring_forward_day_keeps_the_whole_window_in_berlin():
    # 2026-03-29: 02:00 CET becomes 03:00 CEST; the window is 06:00-18:00 UTC.
    assert not is_allowed(utc(2026, 3, 29, 5, 59), BERLIN, HOURS)
    assert is_allowed(utc(2026, 3, 29, 6, 0), BERLIN, HOURS)
    assert is_allowed(utc(2026, 3, 29, 17, 59), BERLIN, HOURS)
    assert not is_allowed(utc(2026, 3, 29, 18, 0), BERLIN, HOURS)


def test_a_fall_back_day_in_both_zones():
    # New York 2026-11-01 and Berlin 2026-10-25 go back to standard time in the night.
    assert not is_allowed(utc(2026, 11, 1, 12, 59), NEW_YORK, HOURS)
    assert is_allowed(utc(2026, 11, 1, 13, 0), NEW_YORK, HOURS)
    assert not is_allowed(utc(2026, 11, 2, 1, 0), NEW_YORK, HOURS)
    assert not is_allowed(utc(2026, 10, 25, 6, 59), BERLIN, HOURS)
    assert is_allowed(utc(2026, 10, 25, 7, 0), BERLIN, HOURS)
    assert not is_allowed(utc(2026, 10, 25, 19, 0), BERLIN, HOURS)


def test_a_local_time_that_does_not_exist_moves_forward():
    assert local_moment(date(2026, 3, 8), time(2, 30), NEW_YORK) == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    assert local_moment(date(2026, 3, 29), time(2, 30), BERLIN) == utc(2026, 3, 29, 1, 30)  # 03:30 CEST


def test_a_local_time_that_happens_twice_is_its_first_occurrence():
    assert local_moment(date(2026, 11, 1), time(1, 30), NEW_YORK) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert local_moment(date(2026, 10, 25), time(2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)  # 02:30 CEST


def test_local_moment_of_several_zones_is_the_latest():
    both = zones("America/New_York", "America/Los_Angeles")
    assert local_moment(date(2026, 7, 14), time(10), both) == utc(2026, 7, 14, 17)


def test_a_text_held_at_night_goes_out_at_the_start_of_the_morning():
    assert next_allowed(utc(2026, 7, 14, 3), NEW_YORK, HOURS) == utc(2026, 7, 14, 12)  # 23:00 -> 08:00 EDT
    assert next_allowed(utc(2026, 3, 8, 6), NEW_YORK, HOURS) == utc(2026, 3, 8, 12)  # the DST day: 08:00 EDT
    assert next_allowed(utc(2026, 3, 29, 0), BERLIN, HOURS) == utc(2026, 3, 29, 6)  # 08:00 CEST


def test_an_allowed_moment_is_its_own_next_allowed_moment_in_utc():
    here = datetime(2026, 7, 14, 9, 15, tzinfo=parse_zone("America/New_York"))
    assert next_allowed(here, NEW_YORK, HOURS) == utc(2026, 7, 14, 13, 15)
    assert next_allowed(here, NEW_YORK, HOURS).tzinfo is UTC


def test_after_the_window_the_next_allowed_moment_is_the_next_morning():
    assert next_allowed(utc(2026, 7, 15, 0), NEW_YORK, HOURS) == utc(2026, 7, 15, 12)  # 20:00 -> 08:00 EDT


def test_several_zones_allow_only_what_every_one_allows():
    coasts = zones("America/New_York", "America/Los_Angeles")
    assert not is_allowed(utc(2026, 7, 14, 12), coasts, HOURS)  # 08:00 New York, 05:00 Los Angeles
    assert next_allowed(utc(2026, 7, 14, 12), coasts, HOURS) == utc(2026, 7, 14, 15)  # 08:00 Los Angeles
    assert is_allowed(utc(2026, 7, 14, 23, 59), coasts, HOURS)  # 19:59 New York
    assert next_allowed(utc(2026, 7, 15, 0), coasts, HOURS) == utc(2026, 7, 15, 15)


def test_zones_that_never_share_an_allowed_moment():
    opposite = zones("UTC", "Pacific/Kiritimati")  # UTC+14: 8:00-20:00 there is 18:00-06:00 UTC
    assert next_allowed(utc(2026, 7, 14), opposite, HOURS) is not None
    half_a_day = zones("Etc/GMT", "Etc/GMT-12")
    assert next_allowed(utc(2026, 7, 14), half_a_day, HOURS) is None


def test_narrower_hours_are_kept():
    lunch = AllowedHours(time(12), time(13))
    assert next_allowed(utc(2026, 7, 14, 14), BERLIN, lunch) == utc(2026, 7, 15, 10)


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="aware"):
        is_allowed(datetime(2026, 7, 14, 12), NEW_YORK, HOURS)


def test_dates_at_a_moment_in_each_zone():
    both = zones("America/Los_Angeles", "Asia/Tokyo")
    assert both.dates_at(utc(2026, 7, 14, 2)) == {date(2026, 7, 13), date(2026, 7, 14)}
    assert NEW_YORK.dates_at(utc(2026, 7, 14, 3, 59)) == {date(2026, 7, 13)}


def test_local_dates_anywhere_covers_utc_minus_12_to_plus_14():
    assert local_dates_anywhere(utc(2026, 7, 14, 12)) == (date(2026, 7, 14), date(2026, 7, 15))
    assert local_dates_anywhere(utc(2026, 7, 14, 11)) == (date(2026, 7, 13), date(2026, 7, 14), date(2026, 7, 15))
    assert local_dates_anywhere(utc(2026, 7, 14, 9)) == (date(2026, 7, 13), date(2026, 7, 14))
    # Every zone's local date is one of them.
    moment = utc(2026, 7, 14, 11)
    for name in ("Etc/GMT+12", "Pacific/Kiritimati", "America/New_York", "Asia/Kolkata"):
        assert moment.astimezone(parse_zone(name)).date() in local_dates_anywhere(moment)
