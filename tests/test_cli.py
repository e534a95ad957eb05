"""`bot simulate` runs a text through the same conversation the webhook uses."""

from __future__ import annotations

import subprocess
import sys

from tests.support.bot_process import clean_environ
from tests.support.campaign_files import first_reply
from tests.support.webhooks import DEPLOYMENT


def bot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = clean_environ()
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], env={**clean, **(env or {})}, capture_output=True, text=True,
        timeout=60,
    )


def test_simulate_on_the_embedded_defaults_prints_a_code():
    first = bot("simulate", "--from", "+15551234567", "SAVE")
    again = bot("simulate", "--from", "+15551234567", "save!")
    other = bot("simulate", "--from", "+15557654321", "SAVE")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Your Acme code: DEMO-")
    # The sandbox keeps create-or-retrieve across processes; another number gets another code.
    assert again.stdout == first.stdout
    assert other.stdout != first.stdout


def test_simulate_unknown_word_prints_the_fallback():
    result = bot("simulate", "--from", "+15551234567", "pizza")
    # The first message to a number carries the opt-in confirmation (issue 11); simulate keeps no state.
    assert result.stdout.strip() == ("Sorry, we don't know that word. Text HELP for help.\n"
                                     "Acme Rewards: Reply STOP to opt out, HELP for help.")


def test_simulate_uses_talon_one_and_redis_when_configured(talon, redis_url, campaigns_file):
    env = {
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": "cli-test",
        "TALON_API_KEY": "cli-key",
        "TALON_DEPLOYMENT": DEPLOYMENT,
        "TALON_BASE_URL": talon.url,
        "TWILIO_AUTH_TOKEN": "t",
        "BOT_SECRET": "s",
        "CAMPAIGNS_FILE": str(campaigns_file),
    }
    result = bot("simulate", "--from", "+15551230000", "SAVE", env=env)
    assert result.stdout.strip() == first_reply("Your Acme code: T1-00001. Show it at the till."), result.stderr
    [call] = talon.calls("/customer_engagement/coupon")
    assert call.param("identifier") == "+15551230000"
    assert call.headers["authorization"] == "ApiKey-v1 cli-key"


def test_simulate_reports_bad_configuration_in_one_line():
    result = bot("simulate", "--from", "+15551234567", "SAVE", env={"REDIS_URL": "nope://x"})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("bot: REDIS_URL: expected a redis:// or rediss:// or unix:// URL")
