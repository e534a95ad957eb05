"""The campaign file: every refusal names its place; `bot check` prints them all."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from bot.campaign_file import load_campaigns
from bot.errors import CampaignFileError
from tests.support.campaign_files import CAMPAIGNS, line_of, problems, write

EXAMPLE = Path(__file__).resolve().parent.parent / "campaigns.example.toml"


def test_the_shipped_example_is_valid():
    book = load_campaigns(EXAMPLE)
    assert [c.slug for c in book.campaigns] == ["spring", "club", "friends"]
    assert book.match("save", "+15005550006").target.slug == "spring"


def test_contract_fields_are_loaded(tmp_path):
    text = CAMPAIGNS.replace(
        'reply = "Your Acme code',
        'starts_at = 2026-03-01T00:00:00Z\nends_at = 2026-03-31T23:59:59Z\nreply = "Your Acme code',
        1,
    )
    book = load_campaigns(write(tmp_path, text))
    spring = book.by_slug("spring")
    assert spring.keywords == ("SAVE", "SPRING")
    assert (spring.application_id, spring.campaign_id, spring.external_campaign_id) == (12, 345, "sms-spring")
    assert spring.starts_at == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    assert book.by_slug("club").loyalty_program_id == 7
    assert book.program.numbers == ("+15005550006",)


def test_unknown_field_is_refused_with_its_line(tmp_path):
    text = CAMPAIGNS.replace('kind = "loyalty"', 'kind = "loyalty"\nkewords = ["X"]')
    [problem] = problems(tmp_path, text)
    line = line_of(text, "kewords")
    assert problem == f"{tmp_path / 'campaigns.toml'}:{line}: [[campaigns]] #2 (club).kewords: unknown field 'kewords'"


def test_unknown_program_field_is_refused(tmp_path):
    text = CAMPAIGNS.replace('terms_url =', 'colour = "red"\nterms_url =')
    [problem] = problems(tmp_path, text)
    assert f":{line_of(text, 'colour')}: [program].colour: unknown field 'colour'" in problem


@pytest.mark.parametrize("notice", [
    '""', '"   "', '"{{ program.name }}: Reply STOP to opt out."', '"{{ program.name }}: Text HELP for help."',
])
def test_an_opt_in_notice_without_stop_and_help_is_refused_with_its_place(tmp_path, notice):
    text = CAMPAIGNS.replace("terms_url =", f"opt_in_notice = {notice}\nterms_url =")
    [problem] = problems(tmp_path, text)
    assert f"campaigns.toml:{line_of(text, 'opt_in_notice')}: [program].opt_in_notice: " in problem
    assert 'must say "Reply STOP to opt out" and HELP' in problem


def test_an_opt_in_notice_of_its_own_wording_is_kept(tmp_path):
    notice = "Acme: msgs may be recurring. help=HELP, stop=STOP"
    text = CAMPAIGNS.replace("terms_url =", f'opt_in_notice = "{notice}"\nterms_url =')
    program = load_campaigns(write(tmp_path, text)).program
    assert program.with_opt_in_notice("Code X1") == f"Code X1\n{notice}"


def test_duplicate_keyword_is_refused_naming_both_campaigns(tmp_path):
    text = CAMPAIGNS.replace('keywords = ["REFER"]', 'keywords = ["REFER", "save!"]')
    [problem] = problems(tmp_path, text)
    assert "[[campaigns]] #3 (friends).keywords" in problem
    assert "keyword 'save!' is already used by campaign 'spring'" in problem
    assert f":{line_of(text, 'save!')}:" in problem


def test_keyword_colliding_after_unicode_normalisation_is_refused(tmp_path):
    text = CAMPAIGNS.replace('keywords = ["REFER"]', 'keywords = ["ＳＡＶＥ"]')
    assert "already used by campaign 'spring'" in problems(tmp_path, text)[0]


def test_duplicate_slug_is_refused(tmp_path):
    text = CAMPAIGNS.replace('slug = "friends"', 'slug = "spring"')
    [problem] = problems(tmp_path, text)
    assert "[[campaigns]] #3 (spring).slug: slug 'spring' is already used by [[campaigns]] #1" in problem


@pytest.mark.parametrize(
    "value,message",
    [
        ('"2026-13-01T00:00:00Z"', "not a date-time: '2026-13-01T00:00:00Z'"),
        ("2026-03-01T00:00:00", "has no time zone"),
        ("2026-03-01", "expected a date-time with a time zone"),
        ('"soon"', "not a date-time: 'soon'"),
    ],
)
def test_bad_dates_are_refused(tmp_path, value, message):
    text = CAMPAIGNS.replace('reply = "Your Acme code', f'starts_at = {value}\nreply = "Your Acme code', 1)
    [problem] = problems(tmp_path, text)
    assert f":{line_of(text, 'starts_at')}: [[campaigns]] #1 (spring).starts_at: " in problem
    assert message in problem


def test_window_ending_before_it_starts_is_refused(tmp_path):
    text = CAMPAIGNS.replace(
        'reply = "Your Acme code',
        'starts_at = 2026-04-01T00:00:00Z\nends_at = 2026-03-01T00:00:00+01:00\nreply = "Your Acme code', 1,
    )
    assert "ends_at: must be after starts_at" in problems(tmp_path, text)[0]


@pytest.mark.parametrize(
    "template,message",
    [
        ("Code {{ code ", "template does not render"),
        ("Code {{ cdoe }}", "'cdoe' is undefined"),
        ("Code {{ code | nosuchfilter }}", "No filter named 'nosuchfilter'"),
        ("", "expected a non-empty reply text"),
    ],
)
def test_templates_that_do_not_render_are_refused(tmp_path, template, message):
    text = CAMPAIGNS.replace("Your Acme code: {{ code }}. Show it at the till.", template)
    [problem] = problems(tmp_path, text)
    assert "[[campaigns]] #1 (spring).reply:" in problem
    assert message in problem


def test_every_problem_is_reported_at_once(tmp_path):
    text = (
        CAMPAIGNS.replace('campaign_id = 345', 'campaign_id = "345"')
        .replace('kind = "loyalty"', 'kind = "points"')
        .replace('keywords = ["REFER"]', 'keywords = ["STOP"]')
    )
    found = problems(tmp_path, text)
    assert len(found) == 3
    assert "campaign_id: expected a positive integer" in found[0]
    assert "kind: expected one of coupon, loyalty, referral" in found[1] and "got 'points'" in found[1]
    assert "'STOP' is a compliance word" in found[2]


@pytest.mark.parametrize("field", ["application_id", "campaign_id", "external_campaign_id"])
def test_coupon_campaign_needs_its_talon_one_ids(tmp_path, field):
    first_end = CAMPAIGNS.index('slug = "club"')
    head = "\n".join(line for line in CAMPAIGNS[:first_end].splitlines() if not line.startswith(f"{field} ="))
    [problem] = problems(tmp_path, head + "\n" + CAMPAIGNS[first_end:])
    assert f"[[campaigns]] #1 (spring).{field}: required for kind = 'coupon'" in problem


def test_bad_numbers_are_refused(tmp_path):
    text = CAMPAIGNS.replace('numbers = ["+15005550006"]', 'numbers = ["5005550006", "+1"]')
    found = problems(tmp_path, text)
    # 10 digits without + is neither a short code (5 or 6 digits) nor E.164.
    assert len(found) == 2
    assert "[program].numbers: '5005550006' is neither an E.164 number nor a short code" in found[0]
    assert "[program].numbers: '+1' is neither an E.164 number nor a short code" in found[1]



@pytest.mark.parametrize("short_code", ["12345", "123456"])
def test_a_us_short_code_has_five_or_six_digits(tmp_path, short_code):
    text = CAMPAIGNS.replace('numbers = ["+15005550006"]', f'numbers = ["+15005550006", "{short_code}"]')
    assert load_campaigns(write(tmp_path, text)).program.numbers == ("+15005550006", short_code)


@pytest.mark.parametrize("number", ["5551234", "1234", "12345678"])
def test_a_bare_number_of_another_length_is_not_taken_for_a_short_code(tmp_path, number):
    text = CAMPAIGNS.replace('numbers = ["+15005550006"]', f'numbers = ["+15005550006", "{number}"]')
    [problem] = problems(tmp_path, text)
    line = line_of(text, "numbers =")
    assert problem.startswith(f"{tmp_path / 'campaigns.toml'}:{line}: [program].numbers: '{number}' is neither")
    assert "a US/CA short code has 5 or 6 digits" in problem


def test_the_same_number_listed_twice_is_refused_in_program_and_campaign(tmp_path):
    text = CAMPAIGNS.replace(
        'numbers = ["+15005550006"]', 'numbers = ["+15005550006", "12345", "+1 500 555 0006"]'
    ).replace('reply = "You have', 'numbers = ["12345", "12345"]\nreply = "You have')
    found = problems(tmp_path, text)
    assert found == [
        f"{tmp_path / 'campaigns.toml'}:{line_of(text, 'numbers =')}: [program].numbers: '+1 500 555 0006' "
        "(number 3 of the list) is the same number as number 1: list it once",
        f"{tmp_path / 'campaigns.toml'}:{line_of(text, 'numbers =', 2)}: [[campaigns]] #2 (club).numbers: '12345' "
        "(number 2 of the list) is the same number as number 1: list it once",
    ]


def test_identifier_template_is_checked(tmp_path):
    ok = CAMPAIGNS.replace('external_campaign_id = "sms-spring"',
                           'external_campaign_id = "sms-spring"\nidentifier = "{campaign_id}:{phone}"')
    assert load_campaigns(write(tmp_path, ok)).by_slug("spring").identifier_for("+15551234567") == "345:+15551234567"
    bad = CAMPAIGNS.replace('external_campaign_id = "sms-spring"',
                            'external_campaign_id = "sms-spring"\nidentifier = "{campaign_id}"')
    assert "must contain {phone}" in problems(tmp_path, bad)[0]


def test_invalid_toml_is_refused_with_line_and_column(tmp_path):
    text = CAMPAIGNS.replace('slug = "club"', 'slug = "club')
    [problem] = problems(tmp_path, text)
    assert "not valid TOML" in problem
    line = line_of(text, 'slug = "club')
    assert f"line {line}" in problem


def test_missing_program_is_refused(tmp_path):
    text = CAMPAIGNS[CAMPAIGNS.index("[[campaigns]]"):]
    assert any("missing [program] table" in p for p in problems(tmp_path, text))


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(CampaignFileError) as caught:
        load_campaigns(tmp_path / "nope.toml")
    assert "cannot read" in str(caught.value)


# -- bot check


def run_bot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_bot_check_accepts_a_good_file(tmp_path):
    result = run_bot("check", str(write(tmp_path, CAMPAIGNS)))
    assert result.returncode == 0
    assert "OK, 3 campaign(s)" in result.stdout


def test_bot_check_prints_every_problem_and_fails(tmp_path):
    text = CAMPAIGNS.replace('kind = "loyalty"', 'kind = "loyalty"\nkewords = ["X"]').replace(
        "{{ code }}. Show", "{{ coode }}. Show"
    )
    result = run_bot("check", str(write(tmp_path, text)))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3
    assert "(spring).reply: template does not render: 'coode' is undefined" in lines[0]
    assert "(club).kewords: unknown field 'kewords'" in lines[1]
    assert lines[2].endswith("2 problem(s)")


def test_bot_check_names_each_bad_number_with_its_place(tmp_path):
    text = CAMPAIGNS.replace('numbers = ["+15005550006"]', 'numbers = ["+15005550006", "5551234", "+15005550006"]')
    path = write(tmp_path, text)
    result = run_bot("check", str(path))
    assert result.returncode == 1
    line = line_of(text, "numbers =")
    assert result.stderr.splitlines() == [
        f"{path}:{line}: [program].numbers: '5551234' is neither an E.164 number nor a short code (a US/CA short "
        "code has 5 or 6 digits; write any other number in E.164: + and the country code, e.g. +15005550006)",
        f"{path}:{line}: [program].numbers: '+15005550006' (number 3 of the list) is the same number as number 1: "
        "list it once",
        f"{path}: 2 problem(s)",
    ]
