from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import Settings, create_app
from bot.services import Services, services_of
from tests.support.campaign_files import CAMPAIGNS
from tests.support.redis_server import RedisCluster, RedisServer
from tests.support.talon_stub import TalonStub
from tests.support.twilio_stub import TwilioStub
from tests.support.webhooks import ACCOUNT_SID, AUTH_TOKEN, DEPLOYMENT, PUBLIC_BASE_URL, sign, twilio_form


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
def settings(redis_url: str, talon: TalonStub, twilio: TwilioStub, campaigns_file: Path, tmp_path: Path) -> Settings:
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
        journal_dir=tmp_path / "journal",
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


@pytest.fixture
def text(client) -> Callable:
    """Post a signed inbound SMS; returns the Flask response."""

    def post(body: str, *, sender: str = "+15551234567", sid: str | None = None, **extra: str):
        form = twilio_form(body, sender=sender, sid=sid, **extra)
        return client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})

    return post


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    from tests.support.browser import launch

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()
