"""Loyalty, referral, campaign windows and near misses, through the signed webhook with a real Redis."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.support.campaign_files import CAMPAIGNS, first_reply
from tests.support.clock import Clock
from tests.support.talon_stub import error_body
from tests.support.twiml import reply

LOYALTY = "/customer_engagement/loyalty"
REFERRAL = "/customer_engagement/referral"
COUPON = "/customer_engagement/coupon"
FALLBACK = "Sorry, we don't know that word. Text HELP for help."
TOKYO = dt.timezone(dt.timedelta(hours=9))
NEW_YORK = dt.timezone(dt.timedelta(hours=-5))


@pytest.fixture
def clock(services) -> Clock:
    clock = Clock(dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.UTC))
    services.conversation.clock = clock
    return clock


# -- loyalty


TIERED = CAMPAIGNS.replace(
    'reply = "You have {{ balance }} points."',
    'reply = "You have {{ balance }} points{% if tier %} ({{ tier }}{% if points_to_next_tier %}, '
    '{{ points_to_next_tier }} to the next tier{% endif %}){% endif %}."',
)


@pytest.mark.parametrize("campaigns_text", [TIERED])
def test_loyalty_reply_gets_balance_and_tier_fields(text, talon):
    assert reply(text("points")) == first_reply("You have 120 points (silver, 80 to the next tier).")
    [call] = talon.calls(LOYALTY)
    assert call.query == {"profileIntegrationId": ["+15551234567"], "loyaltyProgramId": ["7"]}
    assert call.headers["authorization"] == "ApiKey-v1 test-cep-key"
    assert "x-dry-run" not in call.headers


@pytest.mark.parametrize("campaigns_text", [TIERED])
def test_loyalty_without_tiers_or_with_fractions(text, talon):
    ledger = {"currentBalance": 12.5, "pendingBalance": 0}
    talon.script((200, json.dumps({"id": 7, "ledger": ledger}).encode()))
    assert reply(text("POINTS")) == first_reply("You have 12.50 points.")


def test_loyalty_profile_is_the_senders_e164_number(text, talon):
    text("POINTS", sender="+447700900123")
    assert talon.calls(LOYALTY)[0].param("profileIntegrationId") == "+447700900123"


def test_loyalty_balance_is_read_fresh_each_time(text, talon):
    assert reply(text("POINTS")) == first_reply("You have 120 points.")
    assert reply(text("POINTS")) == "You have 120 points."
    assert len(talon.calls(LOYALTY)) == 2


@pytest.mark.parametrize("status", [404, 500])
def test_loyalty_failure_gets_a_polite_reply(text, talon, status):
    # Enough failures to outlast the retries inside the webhook's budget.
    talon.script(*[(status, error_body(status, "profile not found"))] * 50)
    assert "could not get your code" in reply(text("POINTS"))


# -- referral


def test_referral_request_has_exactly_its_parameters_and_is_cached(text, talon):
    assert reply(text("Refer")) == first_reply("Share your code REF0001 with a friend.")
    assert reply(text("REFER!")) == "Share your code REF0001 with a friend."
    [call] = talon.calls(REFERRAL)
    assert call.query == {"campaignId": ["347"], "advocateProfileIntegrationId": ["+15551234567"]}
    assert call.headers["destination-hostname"]
    assert talon.calls(COUPON) == []


def test_each_advocate_gets_their_own_referral_code(text, talon):
    assert "REF0001" in reply(text("REFER", sender="+15551234567"))
    assert "REF0002" in reply(text("REFER", sender="+15557654321"))
    assert [c.param("advocateProfileIntegrationId") for c in talon.calls(REFERRAL)] == ["+15551234567", "+15557654321"]


def test_referral_failure_is_not_cached(text, talon):
    talon.script((404, error_body(404, "Not Found")))  # a permanent failure is answered at once
    assert "could not get your code" in reply(text("REFER"))
    assert reply(text("REFER")) == "Share your code REF0001 with a friend."


# -- campaign windows, written in two time zones

WINDOWED = CAMPAIGNS.replace(
    'reply = "Your Acme code',
    "starts_at = 2026-03-01T00:00:00+09:00\n"  # midnight in Tokyo = 2026-02-28T15:00:00Z
    "ends_at = 2026-03-31T23:59:59-05:00\n"  # a second before midnight in New York = 2026-04-01T04:59:59Z
    'not_started_reply = "SAVE opens on {{ starts_at.strftime(\'%d %b\') }}. See you then!"\n'
    'ended_reply = "The {{ keyword }} offer is over, thanks for texting."\n'
    'reply = "Your Acme code',
    1,
)
OPENS = dt.datetime(2026, 2, 28, 15, 0, tzinfo=dt.UTC)
CLOSES = dt.datetime(2026, 4, 1, 4, 59, 59, tzinfo=dt.UTC)
TICK = dt.timedelta(microseconds=1)


@pytest.mark.parametrize("campaigns_text", [WINDOWED])
@pytest.mark.parametrize(
    "now,expected",
    [
        (OPENS - TICK, "SAVE opens on 01 Mar. See you then!"),
        ((OPENS - TICK).astimezone(TOKYO), "SAVE opens on 01 Mar. See you then!"),
        (OPENS, "Your Acme code: T1-00001. Show it at the till."),
        (OPENS.astimezone(NEW_YORK), "Your Acme code: T1-00001. Show it at the till."),
        (CLOSES, "Your Acme code: T1-00001. Show it at the till."),
        (CLOSES.astimezone(TOKYO), "Your Acme code: T1-00001. Show it at the till."),
        (CLOSES + TICK, "The SAVE offer is over, thanks for texting."),
        ((CLOSES + TICK).astimezone(NEW_YORK), "The SAVE offer is over, thanks for texting."),
    ],
)
def test_window_edges(text, talon, clock, now, expected):
    clock.now = now
    assert reply(text("SAVE")) == first_reply(expected)
    assert len(talon.calls(COUPON)) == (1 if expected.startswith("Your Acme code") else 0)


@pytest.mark.parametrize("campaigns_text", [WINDOWED])
def test_outside_the_window_even_a_repeat_texter_asks_nothing_upstream(text, talon, clock):
    clock.now = OPENS
    assert reply(text("SAVE")) == first_reply("Your Acme code: T1-00001. Show it at the till.")
    clock.now = CLOSES + dt.timedelta(days=1)
    assert reply(text("SAVE")) == "The SAVE offer is over, thanks for texting."
    assert len(talon.calls()) == 1


DEFAULT_WINDOW_REPLIES = CAMPAIGNS.replace(
    'reply = "Your Acme code',
    'starts_at = 2026-03-01T00:00:00Z\nends_at = 2026-03-31T23:59:59Z\nreply = "Your Acme code', 1,
)


@pytest.mark.parametrize("campaigns_text", [DEFAULT_WINDOW_REPLIES])
def test_default_window_replies_differ(text, talon, clock):
    clock.now = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    early = reply(text("SAVE"))
    clock.now = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    late = reply(text("SAVE"))
    assert early.startswith("Acme Rewards: this offer has not started yet.")
    assert late == "Acme Rewards: sorry, this offer has ended."
    assert talon.calls() == []


LOYALTY_WINDOWED = CAMPAIGNS.replace(
    'kind = "loyalty"',
    'kind = "loyalty"\nends_at = 2026-03-01T00:00:00+01:00\nended_reply = "Points by SMS have ended."',
)


@pytest.mark.parametrize("campaigns_text", [LOYALTY_WINDOWED])
def test_other_kinds_honour_their_window(text, talon, clock):
    clock.now = dt.datetime(2026, 2, 28, 23, 0, 1, tzinfo=dt.UTC)
    assert reply(text("POINTS")) == first_reply("Points by SMS have ended.")
    assert talon.calls() == []


# -- near misses


@pytest.mark.parametrize(
    "body,keyword",
    [("SPRNG", "SPRING"), ("sprinng", "SPRING"), ("SRPING", "SPRING"), ("Spryng!", "SPRING"),
     ("SPRNG P7", "SPRING"), ("POINTZ", "POINTS"), ("pionts", "POINTS"), ("REFR", "REFER")],
)
def test_a_typo_of_one_keyword_gets_did_you_mean(text, talon, body, keyword):
    assert reply(text(body)) == first_reply(f"Acme Rewards: did you mean {keyword}? Text {keyword} to get it.")
    assert talon.calls() == []


@pytest.mark.parametrize("body", ["SAV", "SAVEE", "SAFE", "SPRINGGG", "PIZZA", "PONTZ"])
def test_short_keywords_and_far_words_get_the_fallback(text, talon, body):
    # SAVE has 4 letters: too short to guess at. Two edits away is not a near miss.
    assert reply(text(body)) == first_reply(FALLBACK)
    assert talon.calls() == []


AMBIGUOUS = CAMPAIGNS.replace('keywords = ["REFER"]', 'keywords = ["REFER", "STRONG"]')


@pytest.mark.parametrize("campaigns_text", [AMBIGUOUS])
def test_a_typo_near_two_keywords_gets_the_fallback(text, talon):
    # STRING is one edit from SPRING and from STRONG: never guess between campaigns.
    assert reply(text("STRING")) == first_reply(FALLBACK)
    assert reply(text("STRONK")) == "Acme Rewards: did you mean STRONG? Text STRONG to get it."


CUSTOM_NEAR_MISS = CAMPAIGNS.replace("[program]", '[program]\nnear_miss_reply = "Did you mean {{ keyword }}?"', 1)


@pytest.mark.parametrize("campaigns_text", [CUSTOM_NEAR_MISS])
def test_near_miss_reply_is_configurable_and_never_issues(text, talon):
    assert reply(text("SPRNG")) == first_reply("Did you mean SPRING?")
    assert reply(text("SPRNG")) == "Did you mean SPRING?"
    assert talon.calls() == []


@pytest.mark.parametrize("campaigns_text", [WINDOWED])
def test_closed_campaigns_are_not_suggested(text, talon, clock):
    clock.now = CLOSES + TICK
    assert reply(text("SPRNG")) == first_reply(FALLBACK)
    clock.now = CLOSES
    assert reply(text("SPRNG")) == "Acme Rewards: did you mean SPRING? Text SPRING to get it."


def test_opted_out_numbers_get_no_suggestion(text, talon):
    text("STOP")
    assert reply(text("SPRNG")) is None
