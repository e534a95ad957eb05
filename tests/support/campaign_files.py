"""The test campaign files (the contract's example, and one with posters) and how tests load them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.campaign_file import load_campaigns
from bot.errors import CampaignFileError

CAMPAIGNS = """
[program]
name = "Acme Rewards"
numbers = ["+15005550006"]
help = "Acme Rewards: text SAVE for a coupon. Up to 2 msgs/mo. Msg&data rates may apply. Reply STOP to cancel."
fallback = "Sorry, we don't know that word. Text HELP for help."
terms_url = "https://example.com/sms-terms"

[[campaigns]]
slug = "spring"
keywords = ["SAVE", "SPRING"]
kind = "coupon"
application_id = 12
campaign_id = 345
external_campaign_id = "sms-spring"
reply = "Your Acme code: {{ code }}. Show it at the till."

[[campaigns]]
slug = "club"
keywords = ["POINTS"]
kind = "loyalty"
application_id = 12
loyalty_program_id = 7
external_campaign_id = "sms-points"
reply = "You have {{ balance }} points."

[[campaigns]]
slug = "friends"
keywords = ["REFER"]
kind = "referral"
application_id = 12
campaign_id = 347
external_campaign_id = "sms-refer"
reply = "Share your code {{ code }} with a friend."
"""

#: The opt-in confirmation the bot appends to the first message it sends a number (the default
#: `[program] opt_in_notice`, rendered for CAMPAIGNS' program).
NOTICE = "Acme Rewards: Reply STOP to opt out, HELP for help."


def first_reply(text: str) -> str:
    """`text` as the first message the bot sends a number: with the opt-in confirmation appended."""
    return f"{text}\n{NOTICE}"


WITH_POSTERS = CAMPAIGNS.replace(
    'terms_url = "https://example.com/sms-terms"\n',
    'terms_url = "https://example.com/sms-terms"\nfrequency = "Up to 2 msgs/mo"\n',
) + """
[[posters]]
slug = "spring-main-street"
campaign = "spring"
ref = "P7"
headline = "Main Street: 10% off"

[[posters]]
slug = "spring-harbour"
campaign = "spring"
ref = "H2"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "campaigns.toml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(CampaignFileError) as caught:
        load_campaigns(write(tmp_path, text))
    return [str(p) for p in caught.value.problems]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[occurrence - 1]


#: A kind = "birthday" campaign (BDAY), and the test file with it and `send_rate = 100` (tests never wait
#: for the send rate).
BIRTHDAY_CAMPAIGN = """
[[campaigns]]
slug = "bday"
keywords = ["BDAY"]
kind = "birthday"
application_id = 12
campaign_id = 350
external_campaign_id = "sms-bday"
reply = "Happy birthday from Acme! Your gift: {{ code }}"
"""
WITH_BIRTHDAYS = CAMPAIGNS.replace(
    'terms_url = "https://example.com/sms-terms"\n',
    'terms_url = "https://example.com/sms-terms"\nsend_rate = 100\n',
) + BIRTHDAY_CAMPAIGN
