"""Audience files: every bad line named with its place, good lines read lazily in bounded memory."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.audience_file import AudienceMember, AudienceReader, BadLine, write_audience
from bot.birthdays import MonthDay

NOW = datetime(2026, 7, 14, 12, tzinfo=UTC)
HEADER = "phone,birthday,consent_at,consent_source,timezone"
GOOD = "+12125550100,07-14,2024-05-01T12:00:00Z,store signup,America/New_York"


def read(text: str | bytes, countries: frozenset[str] | None = None) -> list[AudienceMember | BadLine]:
    data = text.encode() if isinstance(text, str) else text
    return list(AudienceReader(io.BytesIO(data), name="list.csv", region="US", now=NOW, countries=countries))


def problems(text: str, **options) -> list[str]:
    return [str(problem) for item in read(text, **options) if isinstance(item, BadLine) for problem in item.problems]


def test_a_good_file_reads_into_members():
    assert read(f"{HEADER}\n{GOOD}\n+1 (312) 555-0100,,2024-05-01T07:00:00-05:00,keyword BDAY,\n") == [
        AudienceMember("+12125550100", datetime(2024, 5, 1, 12, tzinfo=UTC), "store signup", MonthDay(7, 14),
                       "America/New_York"),
        AudienceMember("+13125550100", datetime(2024, 5, 1, 12, tzinfo=UTC), "keyword BDAY"),
    ]


def test_a_bom_crlf_blank_lines_any_column_order_and_case():
    text = "\ufeffConsent_At,PHONE,Consent Source\r\n\r\n2024-05-01T12:00:00Z,+12125550100,till\r\n,,\r\n"
    assert read(text) == [AudienceMember("+12125550100", datetime(2024, 5, 1, 12, tzinfo=UTC), "till")]


def test_a_number_without_plus_is_read_in_the_programs_region_and_normalised():
    [member] = read(f"{HEADER}\n(212) 555-0100,,2024-05-01T12:00:00Z,till,\n")
    assert member.phone == "+12125550100"


def test_other_columns_are_ignored_and_listed():
    reader = AudienceReader(io.BytesIO(f"{HEADER},email,Birth Date\n{GOOD},a@example.com,x\n".encode()),
                            name="list.csv", region="US", now=NOW)
    assert reader.ignored_columns == ("email", "Birth Date")
    assert [type(item) for item in reader] == [AudienceMember]


@pytest.mark.parametrize("header,problem", [
    ("phone,birthday,consent_source", "list.csv:1: missing column consent_at"),
    ("birthday,timezone", "list.csv:1: missing columns phone, consent_at, consent_source"),
    ("phone;consent_at;consent_source", "list.csv:1: missing columns phone, consent_at, consent_source "
                                        "(is the file separated by ';'? use ',')"),
    ("phone,consent_at,consent_source,Phone", "list.csv:1: phone: the column is named twice"),
    ("", "list.csv:1: no header row: the first line names the columns, e.g. "
         "phone,birthday,consent_at,consent_source,timezone"),
])
def test_a_missing_or_bad_header_is_a_problem_at_line_1_and_nothing_else_is_read(header, problem):
    items = read(f"{header}\n{GOOD}\n")
    assert [item.line for item in items] == [1]
    assert problems(f"{header}\n{GOOD}\n") == [problem]


def test_an_empty_file_has_no_header():
    assert problems("") == ["list.csv:1: no header row: the first line names the columns, e.g. "
                            "phone,birthday,consent_at,consent_source,timezone"]


@pytest.mark.parametrize("phone,problem", [
    ("hello", "'hello' is not a phone number"),
    ("+15551234567", "'+15551234567' is not a valid number"),
    ("+18005550100", "'+18005550100' is a toll-free number, not a mobile"),
    ("+19005550100", "'+19005550100' is a premium-rate number, not a mobile"),
    ("+442079460000", "'+442079460000' is a fixed line, not a mobile"),
    ("+445612345678", "'+445612345678' is a VoIP number, not a mobile"),
    ("+447012345678", "'+447012345678' is a personal (forwarding) number, not a mobile"),
    ("+881612345678", "'+881612345678' is a satellite or non-geographic number, not a mobile"),
])
def test_only_mobiles_are_kept(phone, problem):
    assert problems(f"{HEADER}\n{phone},,2024-05-01T12:00:00Z,till,\n") == [f"list.csv:2: phone: {problem}"]


def test_numbers_of_other_countries_are_refused_when_the_program_names_its_countries():
    text = f"{HEADER}\n+18765550100,,2024-05-01T12:00:00Z,till,\n+14165550100,,2024-05-01T12:00:00Z,till,\n"
    assert problems(text, countries=frozenset({"US", "CA"})) == [
        "list.csv:2: phone: '+18765550100' is a number of JM; the program texts CA, US"]
    assert problems(text) == []


def test_every_problem_of_a_line_is_reported_with_its_column():
    text = (f"{HEADER}\n{GOOD}\n"
            "+12125550101,02-30,2024-05-01 12:00,,Mars/Olympus\n"
            "+12125550102,1990-02-29,2030-01-01T00:00:00Z," + "x" * 201 + ",\n"
            "+12125550103,7/14,yesterday,till\tdesk,\n"
            ",,2024-05-01T12:00:00Z,till,\n")
    assert problems(text) == [
        "list.csv:3: birthday: February has no day 30 (MM-DD or YYYY-MM-DD, e.g. 07-14)",
        "list.csv:3: consent_at: '2024-05-01 12:00' has no offset: add Z or one, e.g. 2024-05-01T12:00:00-05:00",
        "list.csv:3: consent_source: missing",
        "list.csv:3: timezone: unknown time zone 'Mars/Olympus': use an IANA name such as America/Chicago",
        "list.csv:4: birthday: 1990 had no February 29 (MM-DD or YYYY-MM-DD, e.g. 07-14)",
        "list.csv:4: consent_at: '2030-01-01T00:00:00Z' is in the future",
        "list.csv:4: consent_source: 201 characters, at most 200",
        "list.csv:5: birthday: '7/14' is not MM-DD or YYYY-MM-DD (MM-DD or YYYY-MM-DD, e.g. 07-14)",
        "list.csv:5: consent_at: 'yesterday' is not an ISO 8601 time, e.g. 2024-05-01T12:00:00Z",
        "list.csv:5: consent_source: a control character or line break: one line of text, please",
        "list.csv:6: phone: missing",
    ]


def test_good_and_bad_lines_come_in_file_order_so_skip_bad_can_import_as_it_goes():
    items = read(f"{HEADER}\nbad,,2024-05-01T12:00:00Z,till,\n{GOOD}\n")
    assert [type(item) for item in items] == [BadLine, AudienceMember]
    assert items[0].line == 2


def test_a_line_with_more_fields_than_the_header_is_a_problem_fewer_leave_columns_empty():
    text = f"{HEADER}\n{GOOD},extra\n+12125550100,,2024-05-01T12:00:00Z,till\n"
    items = read(text)
    assert [str(p) for p in items[0].problems] == ["list.csv:2: 6 fields, the header has 5: a stray comma or quote?"]
    assert items[1] == AudienceMember("+12125550100", datetime(2024, 5, 1, 12, tzinfo=UTC), "till")


def test_a_quoted_line_break_keeps_the_line_numbers_an_editor_shows():
    text = f'{HEADER}\n+12125550100,,2024-05-01T12:00:00Z,"two\nlines",\nbad,,2024-05-01T12:00:00Z,till,\n'
    assert problems(text) == [
        "list.csv:2: consent_source: a control character or line break: one line of text, please",
        "list.csv:4: phone: 'bad' is not a phone number",
    ]


def test_a_file_that_is_not_utf8_stops_with_one_problem_at_its_line():
    text = f"{HEADER}\n{GOOD}\n".encode() + "+12125550101,,2024-05-01T12:00:00Z,café,\n".encode("cp1252")
    items = read(text + f"{GOOD}\n".encode())
    assert [type(item) for item in items] == [AudienceMember, BadLine]
    assert items[1].line == 3
    assert [str(p) for p in items[1].problems] == [
        "list.csv:3: not UTF-8 text, stopped here: save the file as CSV UTF-8"
    ]


def test_unreadable_csv_stops_with_one_problem():
    items = read(f'{HEADER}\n{GOOD}\n"unterminated,{"x" * 200_000}\n{GOOD}\n')
    assert isinstance(items[-1], BadLine) and len(items) == 2
    assert str(items[-1].problems[0]).startswith("list.csv:3: unreadable CSV, stopped here: field larger")


def test_the_same_phone_twice_reads_both_lines_so_the_later_one_wins_in_the_store():
    later = GOOD.replace("store signup", "till")
    assert [item.consent_source for item in read(f"{HEADER}\n{GOOD}\n{later}\n")] == ["store signup", "till"]


def test_export_writes_the_import_columns_and_reads_back_the_same():
    members = [
        AudienceMember("+12125550100", datetime(2024, 5, 1, 7, tzinfo=UTC), "store, front desk",
                       MonthDay(2, 29), "America/Chicago"),
        AudienceMember("+13125550100", datetime(2024, 5, 1, 12, 30, tzinfo=UTC), 'keyword "BDAY"'),
    ]
    out = io.StringIO(newline="")
    assert write_audience(iter(members), out) == 2
    assert out.getvalue().splitlines()[:2] == [
        HEADER, '+12125550100,02-29,2024-05-01T07:00:00Z,"store, front desk",America/Chicago']
    assert read(out.getvalue()) == members


def generated(lines: int) -> Iterator[bytes]:
    yield f"{HEADER},email\r\n".encode()
    for n in range(lines):
        zone = "America/Chicago" if n % 2 else ""
        yield (f"+1312{2_000_000 + n:07d},{1 + n % 12:02d}-{1 + n % 28:02d},2024-05-01T12:00:00Z,"
               f"signup form,{zone},someone@example.com\r\n").encode()


def peak_while_reading(lines: int) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = sum(isinstance(item, AudienceMember)
                    for item in AudienceReader(generated(lines), name="big.csv", region="US", now=NOW))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_large_file_is_read_in_bounded_memory():
    # Ten times the lines, the same peak (a few tens of kB once phonenumbers' metadata is
    # loaded): the reader holds one line at a time, so a 1,000,000-line file fits too.
    peak_while_reading(100)
    small_count, small_peak = peak_while_reading(2_000)
    count, peak = peak_while_reading(20_000)
    assert (small_count, count) == (2_000, 20_000)
    assert peak < 1024 * 1024
    assert peak < small_peak + 64 * 1024
