"""Configuration from the environment: good values load, bad ones stop start-up with one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import EXAMPLE_CAMPAIGNS_FILE, Settings
from bot.errors import ConfigError
from tests.support.bot_process import clean_environ

ROOT = Path(__file__).resolve().parent.parent

FULL = {
    "REDIS_URL": "redis://127.0.0.1:6399/0",
    "TALON_API_KEY": "k",
    "TALON_DEPLOYMENT": "acme.europe-west1.talon.one",
    "TWILIO_AUTH_TOKEN": "t",
    "BOT_SECRET": "s",
}


def test_defaults_are_the_all_embedded_demo():
    settings = Settings.from_env({})
    assert settings.campaigns_file == EXAMPLE_CAMPAIGNS_FILE
    assert settings.embedded_store and settings.sandbox_issuer and settings.demo_mode
    assert settings.talon_base_url == "https://integration.talon.one"
    assert settings.twilio_api_url == "https://api.twilio.com"


def test_every_contract_variable_is_read(tmp_path):
    campaigns = tmp_path / "c.toml"
    campaigns.write_text("")
    settings = Settings.from_env({
        **FULL,
        "TALON_API_KEY": "talon-secret-key",
        "TWILIO_AUTH_TOKEN": "twilio-secret-token",
        "BOT_SECRET": "bot-secret-value",
        "CAMPAIGNS_FILE": str(campaigns),
        "REDIS_CLUSTER": "true",
        "TALON_BASE_URL": "http://127.0.0.1:9/",
        "TALON_PLATFORM_NAME": "Acme SMS",
        "TALON_DRY_RUN": "true",
        "TWILIO_ACCOUNT_SID": "AC123",
        "TWILIO_API_URL": "http://127.0.0.1:10",
        "PUBLIC_BASE_URL": "https://bot.example.com/",
    })
    assert settings.campaigns_file == campaigns
    assert settings.redis_cluster is True
    assert settings.talon_base_url == "http://127.0.0.1:9"
    assert settings.talon_platform_name == "Acme SMS"
    assert settings.talon_dry_run is True
    assert settings.twilio_account_sid == "AC123"
    assert settings.twilio_api_url == "http://127.0.0.1:10"
    assert settings.public_base_url == "https://bot.example.com"
    for secret in ("talon-secret-key", "twilio-secret-token", "bot-secret-value"):
        assert secret not in repr(settings)


@pytest.mark.parametrize(
    "env,variable",
    [
        ({"CAMPAIGNS_FILE": "/nonexistent.toml"}, "CAMPAIGNS_FILE"),
        ({"REDIS_URL": "http://localhost"}, "REDIS_URL"),
        ({"REDIS_CLUSTER": "true"}, "REDIS_CLUSTER"),
        ({**FULL, "REDIS_CLUSTER": "maybe"}, "REDIS_CLUSTER"),
        ({"TALON_API_KEY": "k", "TWILIO_AUTH_TOKEN": "t", "BOT_SECRET": "s"}, "TALON_DEPLOYMENT"),
        ({**FULL, "TALON_DEPLOYMENT": "https://acme.talon.one/"}, "TALON_DEPLOYMENT"),
        ({**FULL, "TALON_BASE_URL": "integration.talon.one"}, "TALON_BASE_URL"),
        ({**FULL, "TALON_DRY_RUN": "sometimes"}, "TALON_DRY_RUN"),
        ({**FULL, "TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN"),
        ({"REDIS_URL": "redis://localhost"}, "TWILIO_AUTH_TOKEN"),
        ({**FULL, "TWILIO_ACCOUNT_SID": "XX1"}, "TWILIO_ACCOUNT_SID"),
        ({**FULL, "PUBLIC_BASE_URL": "bot.example.com"}, "PUBLIC_BASE_URL"),
        ({**FULL, "BOT_SECRET": ""}, "BOT_SECRET"),
        ({**FULL, "TALON_READ_TIMEOUT": "fast"}, "TALON_READ_TIMEOUT"),
    ],
)
def test_bad_configuration_names_the_variable(env, variable):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert message.startswith(f"{variable}:")
    assert "\n" not in message


def _start_wsgi(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = clean_environ()
    return subprocess.run(
        [sys.executable, "-c", "import wsgi"], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True,
        timeout=60,
    )


def test_start_up_stops_with_one_line_on_a_bad_variable():
    result = _start_wsgi({"REDIS_URL": "redis://127.0.0.1:1"})
    assert result.returncode == 3  # gunicorn's WORKER_BOOT_ERROR: its master stops, never reboots the worker
    assert result.stderr.strip().splitlines() == [
        "bot: configuration error: TWILIO_AUTH_TOKEN: required when REDIS_URL or TALON_API_KEY is set "
        "(only the all-embedded demo may skip webhook signatures)"
    ]


def test_start_up_stops_with_one_line_on_a_broken_campaign_file(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text(EXAMPLE_CAMPAIGNS_FILE.read_text().replace('slug = "club"', 'slug = "Club Points"'))
    result = _start_wsgi({"CAMPAIGNS_FILE": str(bad)})
    assert result.returncode == 3
    [line] = [err for err in result.stderr.splitlines() if err.startswith("bot:")]
    assert f"{bad}:" in line and "(Club Points).slug: expected a URL-safe slug" in line
