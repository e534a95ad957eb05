from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from bot import Settings, create_app
from bot.services import Services, services_of
from tests.support.redis_server import RedisCluster, RedisServer
from tests.support.talon_stub import TalonStub
from tests.support.twilio_stub import TwilioStub

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
SHOP_NUMBER = "+15005550006"
PUBLIC_BASE_URL = "https://bot.example.com"
DEPLOYMENT = "acme.europe-west1.talon.one"

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


@pytest.fixture(scope="session")
def redis_url() -> str:
    """REDIS_URL when given, else a redis-server of our own on a free port (fails loudly if missing)."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer().start()
    yield server.url
    server.cleanup()


@pytest.fixture(scope="session")
def redis_cluster_url() -> str:
    """A real 3-master Redis Cluster on loopback, shared by the whole session."""
    cluster = RedisCluster().start()
    yield cluster.url
    cluster.cleanup()


@pytest.fixture(scope="session")
def talon_server() -> TalonStub:
    stub = TalonStub().start()
    yield stub
    stub.close()


@pytest.fixture
def talon(talon_server: TalonStub) -> TalonStub:
    talon_server.reset()
    yield talon_server
    talon_server.release.set()


@pytest.fixture(scope="session")
def twilio_server() -> TwilioStub:
    stub = TwilioStub(auth_token=AUTH_TOKEN).start()
    yield stub
    stub.close()


@pytest.fixture
def twilio(twilio_server: TwilioStub) -> TwilioStub:
    """The stand-in for Twilio's REST API (outbound SMS), emptied for each test."""
    twilio_server.reset()
    yield twilio_server
    twilio_server.release.set()


@pytest.fixture
def campaigns_text() -> str:
    """The campaign file's text; a test module overrides this fixture to serve another."""
    return CAMPAIGNS


@pytest.fixture
def campaigns_file(tmp_path: Path, campaigns_text: str) -> Path:
    path = tmp_path / "campaigns.toml"
    path.write_text(campaigns_text)
    return path


@pytest.fixture
def settings(redis_url: str, talon: TalonStub, twilio: TwilioStub, campaigns_file: Path) -> Settings:
    return Settings(
        campaigns_file=campaigns_file,
        redis_url=redis_url,
        # A prefix per test keeps tests apart on one shared Redis.
        redis_key_prefix="t" + uuid.uuid4().hex[:12],
        talon_api_key="test-cep-key",
        talon_deployment=DEPLOYMENT,
        talon_base_url=talon.url,
        talon_platform_name="kcb-tests",
        talon_connect_timeout=1.0,
        talon_read_timeout=2.0,
        twilio_auth_token=AUTH_TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_api_url=twilio.url,
        twilio_timeout_s=2.0,
        # Short enough to keep failing-upstream tests quick, long enough for retries.
        webhook_budget_s=2.0,
        breaker_cooldown_s=1.0,
        public_base_url=PUBLIC_BASE_URL,
        bot_secret="test-secret",
    )


@pytest.fixture
def app(settings: Settings):
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    services_of(app).issuer.close()


@pytest.fixture
def services(app) -> Services:
    """The app's wired services (store, conversation, issuer, ...)."""
    return services_of(app)


@pytest.fixture
def client(app):
    return app.test_client()


_sids = itertools.count(1)


def new_sid() -> str:
    return f"SM{uuid.uuid4().hex}"


def twilio_form(body: str, *, sender: str = "+15551234567", sid: str | None = None, **extra: str) -> dict[str, str]:
    """The form Twilio posts for an inbound SMS (with the fields real payloads carry)."""
    sid = sid or new_sid()
    return {
        "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "",
        "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "",
        "Body": body, "FromCountry": "US", "To": SHOP_NUMBER, "ToZip": "", "NumSegments": "1",
        "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": sender, "ApiVersion": "2010-04-01",
        **extra,
    }


def sign(form: dict[str, str], url: str = PUBLIC_BASE_URL + "/sms", token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


@pytest.fixture
def text(client) -> Callable:
    """Post a signed inbound SMS; returns the Flask response."""

    def post(body: str, *, sender: str = "+15551234567", sid: str | None = None, **extra: str):
        form = twilio_form(body, sender=sender, sid=sid, **extra)
        return client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})

    return post
