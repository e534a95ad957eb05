"""Birthdays: reading what a customer texts, and the day (and moment) each year it falls."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from bot.birthdays import (
    LEAP_DAY,
    AskAgain,
    MonthDay,
    birthday_send_moment,
    birthdays_on,
    date_in,
    in_words,
    is_due,
    occurs_on,
    parse_birthday,
    send_time_for,
)
from bot.quiet_hours import AllowedHours, LocalZones, parse_zone

JULY_14 = MonthDay(7, 14)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def zones(*names: str) -> LocalZones:
    return LocalZones(tuple(parse_zone(name) for name in names), "declared")


@pytest.mark.parametrize("text", [
    "07/14", "7/14", "14 July", "July 14", "jul 14", "JUL. 14", "14/07", "1990-07-14", "1990/7/14", "07-14",
    "14.07.", "14.07.1990", "7/14/90", "07/14/1990", "July 14, 1990", "14 July 1990", "14th of July", "july 14th!",
    "  July   14 ", "Jul14", "14jul", "１４/０７",
])
def test_every_written_form_of_july_14(text):
    assert parse_birthday(text) == JULY_14


def test_month_names_and_their_starts():
    assert parse_birthday("sept 3") == MonthDay(9, 3)
    assert parse_birthday("Sep 3") == MonthDay(9, 3)
    assert parse_birthday("3 december") == MonthDay(12, 3)
    assert parse_birthday("janu 2") == MonthDay(1, 2)
    assert parse_birthday("ma 3") == AskAgain("unreadable")  # two letters: March or May


@pytest.mark.parametrize("text,first,second", [("03/04", (3, 4), (4, 3)), ("3.4.", (3, 4), (4, 3)),
                                                ("12-01", (12, 1), (1, 12)), ("1/2/1990", (1, 2), (2, 1))])
def test_two_numbers_both_twelve_or_less_are_asked_again_never_guessed(text, first, second):
    result = parse_birthday(text)
    assert result == AskAgain("ambiguous", (MonthDay(*first), MonthDay(*second)))
    assert "e.g. July 14" in result.prompt
    assert in_words(MonthDay(*first)) in result.prompt and in_words(MonthDay(*second)) in result.prompt


def test_the_same_number_twice_reads_one_way():
    assert parse_birthday("05/05") == MonthDay(5, 5)


def test_a_year_first_is_always_year_month_day():
    assert parse_birthday("1990-03-04") == MonthDay(3, 4)


@pytest.mark.parametrize("text", ["02/30", "13/13", "04/31", "31/04", "00/10", "10/00", "February 30", "31 june",
                                  "1990-02-29", "29.02.2023", "1990-13-01"])
def test_impossible_dates_are_asked_again(text):
    result = parse_birthday(text)
    assert result == AskAgain("impossible")
    assert "does not exist" in result.prompt


@pytest.mark.parametrize("text", ["", "hello", "0714", "14", "July", "tomorrow", "07/14/19900", "1/2/3/4", "Jul 145"])
def test_unreadable_texts_are_asked_again(text):
    result = parse_birthday(text)
    assert result == AskAgain("unreadable")
    assert "July 14" in result.prompt


@pytest.mark.parametrize("text", ["Feb 29", "29.02.", "02/29", "2000-02-29", "29 February 1996"])
def test_29_february_is_a_birthday(text):
    assert parse_birthday(text) == LEAP_DAY


def test_in_words():
    assert in_words(JULY_14) == "July 14"
    assert in_words(MonthDay(1, 2)) == "January 2"
    assert in_words(LEAP_DAY) == "February 29"


def test_month_day_refuses_what_no_year_has_and_keeps_leap_day():
    with pytest.raises(ValueError, match="April has no day 31"):
        MonthDay(4, 31)
    with pytest.raises(ValueError, match="no month 13"):
        MonthDay(13, 1)
    assert str(LEAP_DAY) == "02-29"


@pytest.mark.parametrize("text,expected", [("07-14", JULY_14), ("1990-07-14", JULY_14), ("02-29", LEAP_DAY),
                                           ("2000-02-29", LEAP_DAY), (" 12-31 ", MonthDay(12, 31))])
def test_parse_iso_reads_the_stored_form(text, expected):
    assert MonthDay.parse_iso(text) == expected


@pytest.mark.parametrize("text", ["7-14", "07/14", "14-07", "1990-02-29", "July 14", "", "1990-07-14T00:00"])
def test_parse_iso_refuses_anything_else(text):
    with pytest.raises(ValueError):
        MonthDay.parse_iso(text)


def test_29_february_falls_on_28_february_in_other_years():
    assert date_in(LEAP_DAY, 2028) == date(2028, 2, 29)
    assert date_in(LEAP_DAY, 2027) == date(2027, 2, 28)
    assert date_in(LEAP_DAY, 2100) == date(2100, 2, 28)  # a century: not leap
    assert occurs_on(LEAP_DAY, date(2027, 2, 28))
    assert not occurs_on(LEAP_DAY, date(2027, 3, 1))
    assert not occurs_on(LEAP_DAY, date(2028, 2, 28))
    assert occurs_on(LEAP_DAY, date(2028, 2, 29))
    assert occurs_on(MonthDay(2, 28), date(2028, 2, 28))


def test_birthdays_on_a_day_is_what_an_index_by_month_and_day_looks_up():
    assert birthdays_on(date(2027, 2, 28)) == (MonthDay(2, 28), LEAP_DAY)
    assert birthdays_on(date(2028, 2, 28)) == (MonthDay(2, 28),)
    assert birthdays_on(date(2028, 2, 29)) == (LEAP_DAY,)
    assert birthdays_on(date(2027, 3, 1)) == (MonthDay(3, 1),)


NEW_YORK = zones("America/New_York")
BERLIN = zones("Europe/Berlin")
HOURS = AllowedHours()


def test_send_time_on_a_spring_forward_day_in_two_zones():
    # 10:00 local on the day the clocks go forward: EDT (UTC-4) in New York, CEST (UTC+2) in Berlin.
    assert send_time_for(MonthDay(3, 8), time(10), NEW_YORK, 2026) == utc(2026, 3, 8, 14)
    assert send_time_for(MonthDay(3, 7), time(10), NEW_YORK, 2026) == utc(2026, 3, 7, 15)
    assert send_time_for(MonthDay(3, 29), time(10), BERLIN, 2026) == utc(2026, 3, 29, 8)
    assert send_time_for(MonthDay(3, 28), time(10), BERLIN, 2026) == utc(2026, 3, 28, 9)


def test_29_february_send_time_in_a_leap_and_a_non_leap_year():
    assert send_time_for(LEAP_DAY, time(10), NEW_YORK, 2028) == utc(2028, 2, 29, 15)
    assert send_time_for(LEAP_DAY, time(10), NEW_YORK, 2027) == utc(2027, 2, 28, 15)


def moment(now: datetime, birthday: MonthDay = JULY_14, year: int = 2026, where: LocalZones = NEW_YORK,
           send_at: time = time(10), hours: AllowedHours = HOURS) -> datetime | None:
    return birthday_send_moment(birthday, year, send_at=send_at, zones=where, hours=hours, now=now)


def test_planned_ahead_the_send_moment_is_send_at_local_time():
    assert moment(utc(2026, 7, 13, 12)) == utc(2026, 7, 14, 14)  # 10:00 EDT


def test_a_missed_send_is_caught_up_inside_that_days_allowed_hours():
    assert moment(utc(2026, 7, 14, 20, 30)) == utc(2026, 7, 14, 20, 30)  # 16:30 EDT: at once
    assert moment(utc(2026, 7, 14, 23, 59)) == utc(2026, 7, 14, 23, 59)  # 19:59 EDT: still the day


def test_a_missed_send_is_never_sent_once_the_days_hours_are_over():
    assert moment(utc(2026, 7, 15, 0, 0)) is None  # 20:00 EDT: hours over
    assert moment(utc(2026, 7, 15, 12, 0)) is None  # 08:00 EDT the next day: the wrong day


def test_a_send_at_outside_the_allowed_hours_moves_into_them_on_the_same_day():
    narrow = AllowedHours(time(11), time(17))
    assert moment(utc(2026, 7, 13), hours=narrow) == utc(2026, 7, 14, 15)  # 11:00 EDT


def test_night_in_the_customers_zone_holds_the_text_until_the_morning():
    # A worker back at 03:00 Berlin time on the birthday: held until 08:00, then sent.
    assert moment(utc(2026, 7, 14, 1), where=BERLIN, send_at=time(7, 30)) == utc(2026, 7, 14, 6)


def test_29_february_is_caught_up_on_28_february_only_in_a_non_leap_year():
    assert moment(utc(2027, 2, 28, 22), birthday=LEAP_DAY, year=2027) == utc(2027, 2, 28, 22)  # 17:00 EST
    assert moment(utc(2028, 2, 28, 22), birthday=LEAP_DAY, year=2028) == utc(2028, 2, 29, 15)  # tomorrow 10:00


def test_a_number_in_two_zones_waits_for_send_at_in_the_later_one_and_both_days_agree():
    both = zones("America/New_York", "America/Chicago")
    assert moment(utc(2026, 7, 13), where=both) == utc(2026, 7, 14, 15)  # 10:00 Chicago, 11:00 New York


def test_zones_a_day_apart_never_share_a_birthday():
    apart = zones("Pacific/Guam", "Pacific/Pago_Pago")  # UTC+10 and UTC-11
    assert moment(utc(2026, 7, 13), where=apart) is None


def test_the_year_of_the_occasion_is_kept():
    # The 2025 birthday is over in 2026: nothing to catch up.
    assert moment(utc(2026, 7, 14, 15), year=2025) is None


def test_is_due_is_the_send_engines_recheck():
    due = dict(send_at=time(10), zones=NEW_YORK, hours=HOURS)
    assert not is_due(JULY_14, 2026, now=utc(2026, 7, 14, 13, 59), **due)
    assert is_due(JULY_14, 2026, now=utc(2026, 7, 14, 14), **due)
    assert is_due(JULY_14, 2026, now=utc(2026, 7, 14, 23, 59), **due)
    assert not is_due(JULY_14, 2026, now=utc(2026, 7, 15, 0), **due)
