"""`bot doctor` against the real parts: redis-servers with and without persistence, and the
Talon.One and Twilio stand-ins accepting and refusing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.doctor import Verdict, diagnose
from tests.support.cli import run_bot as bot
from tests.support.redis_server import RedisServer, free_port
from tests.support.talon_stub import TalonStub, error_body
from tests.support.twilio_stub import TwilioStub
from tests.support.webhooks import ACCOUNT_SID, AUTH_TOKEN, DEPLOYMENT, PUBLIC_BASE_URL, SHOP_NUMBER

PERSISTENT = ("--appendonly", "yes")


@pytest.fixture
def redis_server(request) -> RedisServer:
    """A redis-server of this test's own, started with the arguments `redis_args` gives (default: persistent)."""
    server = RedisServer(*getattr(request, "param", PERSISTENT)).start()
    yield server
    server.cleanup()


def redis_args(*args: str):
    """Run the test on a redis-server started with these arguments."""
    return pytest.mark.parametrize("redis_server", [args], indirect=True, ids=[" ".join(args) or "default"])


@pytest.fixture
def deployment(redis_server: RedisServer, talon: TalonStub, twilio: TwilioStub, campaigns_file: Path) -> dict[str, str]:
    """A real deployment's environment, every part answering and configured as it should be."""
    twilio.add_account(ACCOUNT_SID, AUTH_TOKEN)
    twilio.add_number(ACCOUNT_SID, SHOP_NUMBER, sms_url=PUBLIC_BASE_URL + "/sms")
    return {
        "CAMPAIGNS_FILE": str(campaigns_file),
        "REDIS_URL": redis_server.url,
        "TALON_API_KEY": "doctor-key",
        "TALON_DEPLOYMENT": DEPLOYMENT,
        "TALON_BASE_URL": talon.url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_API_URL": twilio.url,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "BOT_SECRET": "doctor-secret",
    }


def verdicts(env: dict[str, str]) -> dict[str, Verdict]:
    return {v.check: v for v in diagnose(env)}


def test_a_deployment_configured_as_it_should_be_is_ok_everywhere(deployment, talon):
    found = verdicts(deployment)
    assert list(found) == [
        "configuration", "campaign file", "redis", "redis persistence", "redis eviction", "talon.one", "twilio",
        f"webhook {SHOP_NUMBER}",
    ]
    assert {v.level for v in found.values()} == {"ok"}, [str(v) for v in found.values()]
    assert found["redis persistence"].detail.endswith("appendonly yes (appendfsync everysec)")
    assert found[f"webhook {SHOP_NUMBER}"].detail == f"posts to {PUBLIC_BASE_URL}/sms"
    [call] = talon.calls()
    assert call.headers["x-dry-run"] == "true"
    assert call.headers["authorization"] == "ApiKey-v1 doctor-key"
    assert call.param("campaignId") == "345"


def test_the_command_prints_one_line_per_verdict_and_exits_0(deployment):
    result = bot("doctor", env=deployment)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "ok    configuration: the environment parses"
    assert lines[-1] == "8 ok, 0 warn, 0 FAIL"
    assert AUTH_TOKEN not in result.stdout and "doctor-key" not in result.stdout


@redis_args("--save", "", "--appendonly", "no")
def test_a_redis_without_persistence_fails_and_the_command_exits_1(deployment):
    assert verdicts(deployment)["redis persistence"].level == "FAIL"
    assert "not persistent (appendonly no, no save points): a restart loses every opt-out" in str(
        verdicts(deployment)["redis persistence"]
    )
    result = bot("doctor", env=deployment)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "7 ok, 0 warn, 1 FAIL"


@redis_args("--save", "60 1", "--appendonly", "no")
def test_rdb_snapshots_alone_are_a_warning(deployment):
    verdict = verdicts(deployment)["redis persistence"]
    assert verdict.level == "warn"
    assert "RDB snapshots only (save '60 1')" in verdict.detail


@pytest.mark.parametrize(
    "policy, level",
    [("allkeys-lru", "FAIL"), ("volatile-ttl", "warn"), ("volatile-lru", "warn"), ("noeviction", "ok")],
)
def test_the_eviction_policy(redis_server, deployment, policy, level):
    import redis

    redis.Redis.from_url(redis_server.url).config_set("maxmemory-policy", policy)
    verdict = verdicts(deployment)["redis eviction"]
    assert (verdict.level, policy in verdict.detail) == (level, True)


@redis_args("--appendonly", "yes", "--rename-command", "CONFIG", "")
def test_a_redis_that_refuses_config_is_a_warning_not_a_crash(deployment):
    found = verdicts(deployment)
    assert found["redis"].level == "ok"
    assert found["redis persistence"].level == "warn"
    assert found["redis persistence"].detail.startswith("cannot tell: Redis refuses CONFIG GET")
    assert "redis eviction" not in found


def test_a_redis_that_does_not_answer_fails(deployment, redis_server):
    redis_server.stop()
    found = verdicts(deployment)
    assert found["redis"].level == "FAIL"
    assert found["redis"].detail == f"{redis_server.url} does not answer"
    assert "redis persistence" not in found


def test_the_redis_password_is_never_printed(deployment, redis_server):
    deployment["REDIS_URL"] = f"redis://:hunter2-secret@127.0.0.1:{redis_server.port}/0"
    lines = [str(v) for v in diagnose(deployment)]
    assert f"ok    redis: redis://127.0.0.1:{redis_server.port}/0 answers" in lines
    assert not any("hunter2" in line for line in lines)


def test_a_refused_talon_one_key_fails(deployment, talon):
    talon.script((401, error_body(401, "Unauthorized")))
    verdict = verdicts(deployment)["talon.one"]
    assert verdict.level == "FAIL"
    assert verdict.detail.startswith(f"TALON_API_KEY refused for {DEPLOYMENT}: Talon.One 401: Unauthorized")


def test_a_campaign_talon_one_does_not_know_fails_with_its_slug(deployment, talon):
    talon.script((404, error_body(404, "Not Found")))
    verdict = verdicts(deployment)["talon.one"]
    assert verdict.level == "FAIL"
    assert verdict.detail.startswith("the key is accepted, but campaign 'spring' is refused: Talon.One 404")


def test_an_unreachable_talon_one_fails(deployment):
    deployment["TALON_BASE_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    verdict = verdicts(deployment)["talon.one"]
    assert verdict.level == "FAIL" and "gave no usable answer" in verdict.detail


def test_refused_twilio_credentials_fail(deployment):
    deployment["TWILIO_AUTH_TOKEN"] = "a-stale-token"
    found = verdicts(deployment)
    assert found["twilio"].level == "FAIL"
    assert found["twilio"].detail == (
        "credentials refused (TWILIO_ACCOUNT_SID or TWILIO_AUTH_TOKEN is wrong): "
        "Twilio 401/20003: Unable to fetch record: Authenticate"
    )
    assert f"webhook {SHOP_NUMBER}" not in found


def test_a_suspended_account_fails(deployment, twilio):
    twilio.add_account(ACCOUNT_SID, AUTH_TOKEN, status="suspended")
    assert str(verdicts(deployment)["twilio"]) == f"FAIL  twilio: account {ACCOUNT_SID} is suspended"


def test_a_number_posting_to_another_url_fails_and_names_both(deployment, twilio):
    twilio.numbers.clear()
    twilio.add_number(ACCOUNT_SID, SHOP_NUMBER, sms_url="https://old-host.example.com/sms")
    verdict = verdicts(deployment)[f"webhook {SHOP_NUMBER}"]
    assert verdict.level == "FAIL"
    assert verdict.detail.startswith(
        f"posts to https://old-host.example.com/sms, not PUBLIC_BASE_URL/sms = {PUBLIC_BASE_URL}/sms"
    )


def test_a_number_sending_get_fails(deployment, twilio):
    twilio.numbers.clear()
    twilio.add_number(ACCOUNT_SID, SHOP_NUMBER, sms_url=PUBLIC_BASE_URL + "/sms", sms_method="GET")
    assert verdicts(deployment)[f"webhook {SHOP_NUMBER}"].level == "FAIL"


def test_a_number_not_in_the_account_fails(deployment, twilio):
    twilio.numbers.clear()
    twilio.add_number("AC" + "9" * 32, SHOP_NUMBER, sms_url=PUBLIC_BASE_URL + "/sms")
    verdict = verdicts(deployment)[f"webhook {SHOP_NUMBER}"]
    assert verdict.level == "FAIL"
    assert verdict.detail == f"not a number of account {ACCOUNT_SID}: texts to it never reach this bot"


def test_a_number_answered_by_a_twiml_app_or_a_messaging_service_is_a_warning(deployment, twilio):
    twilio.numbers.clear()
    twilio.add_number(ACCOUNT_SID, SHOP_NUMBER, sms_url=None, sms_application_sid="AP" + "1" * 32)
    assert verdicts(deployment)[f"webhook {SHOP_NUMBER}"].level == "warn"
    twilio.numbers.clear()
    twilio.add_number(ACCOUNT_SID, SHOP_NUMBER, sms_url="")
    verdict = verdicts(deployment)[f"webhook {SHOP_NUMBER}"]
    assert verdict.level == "warn" and "Messaging Service" in verdict.detail


def test_without_public_base_url_the_webhook_cannot_be_compared(deployment):
    del deployment["PUBLIC_BASE_URL"]
    found = verdicts(deployment)
    assert found["public url"].level == "warn"
    assert found[f"webhook {SHOP_NUMBER}"].level == "warn"


def test_a_bad_setting_fails_first_and_alone(deployment):
    deployment["REDIS_URL"] = "nope://x"
    [verdict] = diagnose(deployment)
    assert verdict.level == "FAIL" and verdict.check == "configuration"
    assert verdict.detail.startswith("REDIS_URL: expected a redis://")


def test_a_broken_campaign_file_fails_and_skips_what_needs_it(deployment, campaigns_file):
    campaigns_file.write_text(campaigns_file.read_text().replace('kind = "loyalty"', 'kind = "loyal"'))
    found = verdicts(deployment)
    assert found["campaign file"].level == "FAIL"
    assert "(club).kind: expected one of coupon, loyalty, referral" in found["campaign file"].detail
    assert found["talon.one"].detail == "not checked: the campaign file is unusable"
    assert found["twilio webhook"].detail == "not checked: the campaign file is unusable"
    assert found["redis"].level == found["twilio"].level == "ok"


def test_the_embedded_demo_warns_but_passes():
    result = bot("doctor")
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "2 ok, 3 warn, 0 FAIL"
    assert "warn  redis: REDIS_URL is unset: the embedded store" in result.stdout
