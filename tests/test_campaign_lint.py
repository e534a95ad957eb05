"""Keyword lint (collisions, compliance words, one-edit neighbours, per-number scoping) and the segment budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot import create_app
from bot.campaign_file import load_campaigns
from bot.errors import CampaignFileError
from bot.keywords import one_edit_apart
from tests.support.campaign_files import CAMPAIGNS, first_reply, problems, write
from tests.support.twiml import reply
from tests.support.webhooks import sign, twilio_form

SECOND_NUMBER = "+15005550007"



def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    "a,b,expected",
    [
        ("spring", "sprint", True), ("spring", "sprng", True), ("spring", "springs", True),
        ("spring", "srping", True), ("spring", "spirng", True), ("points", "pionts", True),
        ("spring", "spring", False), ("spring", "sprnig", True), ("spring", "psirng", False),
        ("spring", "string", True),
        ("spring", "strong", False), ("save", "saves", True), ("ab", "ba", True), ("abc", "cab", False),
        ("", "a", True), ("refer", "referral", False),
    ],
)
def test_one_edit_apart(a, b, expected):
    assert one_edit_apart(a, b) is expected
    assert one_edit_apart(b, a) is expected


# -- refusals, each naming both campaigns


@pytest.mark.parametrize(
    "keywords,keyword,other",
    [
        ('["REFER", "SPRINT"]', "SPRINT", "SPRING"),  # substitution
        ('["REFER", "Sprig"]', "Sprig", "SPRING"),  # deletion
        ('["REFER", "POINTSS"]', "POINTSS", "POINTS"),  # insertion
        ('["REFER", "PIONTS"]', "PIONTS", "POINTS"),  # neighbours swapped
        ('["SAVES"]', "SAVES", "SAVE"),  # over 4 letters, one edit from a 4-letter keyword
    ],
)
def test_a_keyword_one_edit_from_another_campaigns_is_refused(tmp_path, keywords, keyword, other):
    text = CAMPAIGNS.replace('keywords = ["REFER"]', f"keywords = {keywords}")
    [problem] = problems(tmp_path, text)
    owner = "club" if other == "POINTS" else "spring"
    assert problem == (
        f"{tmp_path / 'campaigns.toml'}:{line_of(text, keywords)}: [[campaigns]] #3 (friends).keywords: "
        f"keyword {keyword!r} is one edit from {other!r} of campaign {owner!r}: a typo of one would reach the other"
    )


def test_short_keywords_one_edit_apart_are_allowed(tmp_path):
    # Four letters or fewer: too many short words are one edit apart to refuse them.
    book = load_campaigns(write(tmp_path, CAMPAIGNS.replace('keywords = ["REFER"]', 'keywords = ["SAFE", "REFER"]')))
    assert book.match("safe", "+15005550006").target.slug == "friends"


def test_neighbours_within_one_campaign_are_allowed(tmp_path):
    book = load_campaigns(write(tmp_path, CAMPAIGNS.replace('["SAVE", "SPRING"]', '["SAVE", "SPRING", "SPRINGS"]')))
    assert book.match("springs").target.slug == "spring"


def test_collision_after_normalisation_is_refused_naming_both(tmp_path):
    text = CAMPAIGNS.replace('keywords = ["REFER"]', 'keywords = ["Po-ints!"]')
    [problem] = problems(tmp_path, text)
    assert "[[campaigns]] #3 (friends).keywords: keyword 'Po-ints!' is already used by campaign 'club'" in problem


@pytest.mark.parametrize("word", ["STOP", "stop", "Unsubscribe", "END", "yes", "Unstop", "info", "H.E.L.P"])
def test_compliance_words_are_refused_as_keywords(tmp_path, word):
    text = CAMPAIGNS.replace('keywords = ["REFER"]', f'keywords = ["REFER", "{word}"]')
    [problem] = problems(tmp_path, text)
    assert f"(friends).keywords: {word!r} is a compliance word" in problem


# -- per-number scoping

SCOPED = CAMPAIGNS.replace('numbers = ["+15005550006"]', f'numbers = ["+15005550006", "{SECOND_NUMBER}"]').replace(
    'slug = "friends"\nkeywords = ["REFER"]',
    'slug = "friends"\nkeywords = ["REFER", "DEAL"]\nnumbers = ["+15005550006"]',
) + f"""
[[campaigns]]
slug = "downtown"
keywords = ["DEAL", "SPRINT"]
numbers = ["{SECOND_NUMBER}"]
application_id = 12
campaign_id = 400
external_campaign_id = "sms-downtown"
reply = "Downtown code: {{{{ code }}}}."
"""


def test_one_word_can_live_on_two_numbers(tmp_path):
    # DEAL lives on both numbers, a different campaign on each.
    text = SCOPED.replace('keywords = ["DEAL", "SPRINT"]', 'keywords = ["DEAL"]')
    book = load_campaigns(write(tmp_path, text))
    assert book.match("deal", "+15005550006").target.slug == "friends"
    assert book.match("deal", SECOND_NUMBER).target.slug == "downtown"
    assert book.match("save", SECOND_NUMBER).target.slug == "spring"  # program-wide campaigns serve both
    assert book.match("refer", SECOND_NUMBER) is None


def test_scoped_neighbours_on_the_same_number_are_refused_naming_the_number(tmp_path):
    [problem] = problems(tmp_path, SCOPED)
    assert problem.endswith(
        f"[[campaigns]] #4 (downtown).keywords: keyword 'SPRINT' is one edit from 'SPRING' of campaign 'spring' "
        f"on {SECOND_NUMBER}: a typo of one would reach the other"
    )


def test_scoped_collision_is_refused_naming_the_number(tmp_path):
    text = SCOPED.replace('keywords = ["DEAL", "SPRINT"]', 'keywords = ["DEAL", "SAVE"]')
    [problem] = problems(tmp_path, text)
    assert "(downtown).keywords: keyword 'SAVE' is already used by campaign 'spring' on +15005550007" in problem


def test_scoped_number_must_be_a_program_number(tmp_path):
    text = SCOPED.replace(f'numbers = ["{SECOND_NUMBER}"]\napplication_id',
                          'numbers = ["+15005550009"]\napplication_id')
    text = text.replace('"DEAL", "SPRINT"', '"DEAL"')
    [problem] = problems(tmp_path, text)
    assert "(downtown).numbers: +15005550009 is not one of [program].numbers" in problem


def test_the_webhook_serves_each_number_its_own_campaign(settings, talon, tmp_path):
    path = write(tmp_path, SCOPED.replace('keywords = ["DEAL", "SPRINT"]', 'keywords = ["DEAL"]'))
    client = create_app(settings.__class__(**{**settings.__dict__, "campaigns_file": path})).test_client()

    def text(body: str, to: str) -> str | None:
        form = twilio_form(body, To=to)
        return reply(client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)}))

    assert text("DEAL", SECOND_NUMBER) == first_reply("Downtown code: T1-00001.")
    assert text("DEAL", "+15005550006") == "Share your code REF0002 with a friend."
    assert [c.param("campaignId") for c in talon.calls()] == ["400", "347"]


# -- the segment budget: warnings, not refusals


def run_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "check", str(path)], capture_output=True, text=True, timeout=60
    )


LONG_REPLY = "Your Acme code: {{ code }}. " + "Show it at the till, any day of the week. " * 4
EMOJI_REPLY = "🎉 Your Acme code: {{ code }}. Show it at the till before the end of the month, any branch."


def test_bot_check_warns_about_replies_over_the_segment_budget(tmp_path):
    text = CAMPAIGNS.replace("Your Acme code: {{ code }}. Show it at the till.", LONG_REPLY).replace(
        "Share your code {{ code }} with a friend.", EMOJI_REPLY
    ).replace("[program]", "[program]\nmax_segments = 1", 1)
    path = write(tmp_path, text)
    result = run_check(path)
    assert result.returncode == 0, result.stderr
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 2
    assert warnings[0].startswith(
        f"warning: {path}:{line_of(text, 'any day of the week')}: [[campaigns]] #1 (spring).reply: "
    )
    assert "reply needs 2 segment(s), GSM-7, 196 septets with sample values, over the budget of 1" in warnings[0]
    assert warnings[1].startswith(f"warning: {path}:{line_of(text, '🎉')}: [[campaigns]] #3 (friends).reply: ")
    assert "2 segment(s), UCS-2" in warnings[1]
    assert "OK, 3 campaign(s), numbers +15005550006, 2 warning(s)" in result.stdout


def test_default_budget_is_two_segments(tmp_path):
    three = "Your Acme code: {{ code }}. " + "x" * 300
    two = "Your Acme code: {{ code }}. " + "x" * 200
    fits = CAMPAIGNS.replace("Your Acme code: {{ code }}. Show it at the till.", two)
    assert load_campaigns(write(tmp_path, fits)).warnings == ()
    book = load_campaigns(write(tmp_path, CAMPAIGNS.replace("Your Acme code: {{ code }}. Show it at the till.", three)))
    [warning] = book.warnings
    assert "(spring).reply" in str(warning) and "3 segment(s)" in str(warning)


def test_program_texts_and_window_replies_are_checked_too(tmp_path):
    text = CAMPAIGNS.replace(
        'help = "Acme', 'help = "Ж Acme'
    ).replace('kind = "loyalty"', 'kind = "loyalty"\nended_reply = "' + "ended " * 30 + '"').replace(
        "[program]", "[program]\nmax_segments = 1", 1
    )
    found = [str(w) for w in load_campaigns(write(tmp_path, text)).warnings]
    assert len(found) == 2
    assert "[program].help: reply needs 2 segment(s), UCS-2" in found[0]
    assert "[[campaigns]] #2 (club).ended_reply: reply needs 2 segment(s), GSM-7" in found[1]


def test_start_up_logs_the_warnings_and_serves(settings, talon, tmp_path, caplog):
    path = write(tmp_path, CAMPAIGNS.replace("Your Acme code: {{ code }}. Show it at the till.", LONG_REPLY * 2))
    create_app(settings.__class__(**{**settings.__dict__, "campaigns_file": path}))
    assert "campaign file: " in caplog.text and "(spring).reply: reply needs 3 segment(s)" in caplog.text


@pytest.mark.parametrize(
    "setting,message",
    [("max_segments = 0", "max_segments: expected a whole number of at least 1, got 0"),
     ('consent_retention_days = "5y"', "consent_retention_days: expected a whole number of at least 1, got '5y'"),
     ('opt_out_confirmation = "sometimes"',
      "opt_out_confirmation: expected one of auto, always, never, got 'sometimes'"),
     ('near_miss_reply = "Did you mean {{ kw }}?"', "near_miss_reply: template does not render: 'kw' is undefined")],
)
def test_bad_program_settings_are_refused(tmp_path, setting, message):
    [problem] = problems(tmp_path, CAMPAIGNS.replace("[program]", f"[program]\n{setting}", 1))
    assert f"[program].{message}" in problem


def test_start_up_refuses_a_file_with_one_edit_neighbours(settings, tmp_path):
    path = write(tmp_path, CAMPAIGNS.replace('keywords = ["REFER"]', 'keywords = ["SPRINT"]'))
    with pytest.raises(CampaignFileError) as caught:
        create_app(settings.__class__(**{**settings.__dict__, "campaigns_file": path}))
    assert "(friends).keywords: keyword 'SPRINT' is one edit from 'SPRING' of campaign 'spring'" in str(caught.value)
