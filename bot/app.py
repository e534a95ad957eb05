"""The application factory and the services it wires together."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from .campaign_file import load_campaigns
from .campaigns import CampaignBook
from .config import Settings
from .conversation import Conversation, Issuer, Timing
from .delivery import LateDelivery, WorkerPolicy, start_in_thread
from .errors import ConfigError
from .outbound import SmsSender
from .results import Funnel
from .logs import configure_logging
from .sandbox import SandboxIssuer
from .limits import BreakerPolicy
from .store import Store, connect
from .talon import TalonClient
from .upstream import UpstreamGuard

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a request (or the late-delivery worker) needs, built once per process from `Settings`."""

    settings: Settings
    book: CampaignBook
    store: Store
    issuer: Issuer
    guard: UpstreamGuard
    sms: SmsSender | None
    conversation: Conversation

    @classmethod
    def build(cls, settings: Settings, *, store: Store | None = None, issuer: Issuer | None = None) -> "Services":
        settings.check()
        book = load_campaigns(settings.campaigns_file)
        for warning in book.warnings:
            log.warning("campaign file: %s", warning)
        if store is None:
            store = connect(settings.redis_url, cluster=settings.redis_cluster, prefix=settings.redis_key_prefix)
        if issuer is None:
            issuer = make_issuer(settings)
        guard = UpstreamGuard(
            store,
            breaker=BreakerPolicy(failures=settings.breaker_failures, cooldown_s=settings.breaker_cooldown_s),
            read_timeout=settings.talon_read_timeout,
        )
        sms = None
        if settings.can_send_sms:
            sms = SmsSender(
                settings.twilio_account_sid, settings.twilio_auth_token,
                api_url=settings.twilio_api_url, timeout=settings.twilio_timeout_s,
            )
        else:
            log.warning("TWILIO_ACCOUNT_SID is unset: codes that miss the webhook deadline cannot be texted later.")
        conversation = Conversation(
            book, store, issuer, secret=settings.bot_secret, timing=Timing(budget_s=settings.webhook_budget_s),
            guard=guard, late_delivery=sms is not None, funnel=Funnel(store, flush_s=settings.funnel_flush_s),
        )
        if settings.demo_mode and not settings.twilio_auth_token:
            log.warning("TWILIO_AUTH_TOKEN is unset: webhook signatures are NOT verified (all-embedded demo only).")
        return cls(settings, book, store, issuer, guard, sms, conversation)

    def late_delivery(self) -> LateDelivery:
        if self.sms is None:
            raise ConfigError("TWILIO_ACCOUNT_SID: the late-delivery worker needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        policy = WorkerPolicy(lease_s=self.settings.job_lease_s)
        return LateDelivery(self.book, self.store, self.issuer, self.guard, self.sms, policy)


def make_issuer(settings: Settings) -> Issuer:
    if settings.talon_api_key is None:
        return SandboxIssuer()
    return TalonClient(
        api_key=settings.talon_api_key,
        deployment=settings.talon_deployment or "",
        base_url=settings.talon_base_url,
        platform_name=settings.talon_platform_name,
        dry_run=settings.talon_dry_run,
        connect_timeout=settings.talon_connect_timeout,
        read_timeout=settings.talon_read_timeout,
    )


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> Flask:
    """Build the Flask app. With no arguments, configuration comes from the environment."""
    configure_logging()
    if services is None:
        services = Services.build(settings or Settings.from_env())
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # Twilio's form is a few KB; refuse floods early.
    app.extensions["bot"] = services
    if services.settings.embedded_store and services.sms is not None:
        # The embedded store lives in this process only, so its worker must too.
        start_in_thread(services.late_delivery())

    from . import health, landing, marketer, sms

    app.register_blueprint(sms.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(landing.bp)
    app.register_blueprint(marketer.bp)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        page = render_template("error.html", code=exc.code, title=exc.name, message=exc.description)
        return page, exc.code

    return app


def services_of(app: Flask) -> Services:
    return app.extensions["bot"]
