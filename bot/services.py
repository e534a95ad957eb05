"""The services a request or the late-delivery worker needs, wired once per process from `Settings`.

Blueprints and the CLI reach them through `services_of` (the accessor Flask's
tutorial keeps beside its resource, as ``flaskr/db.py``'s ``get_db``), never
through the application factory, so nothing imports `bot.app` but its callers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app

from .campaign_file import load_campaigns
from .campaigns import CampaignBook
from .config import Settings
from .conversation import Conversation, Timing
from .delivery import LateDelivery, WorkerPolicy
from .errors import ConfigError
from .issuing import Issuer
from .journal import Journal
from .limits import BreakerPolicy
from .outbound import SmsSender
from .planner import BirthdayPlanner
from .results import Funnel
from .results_outbound import OutboundFunnel
from .sandbox import SandboxIssuer
from .sending import SendEngine, SendPolicy
from .store import Store, connect
from .talon import TalonClient
from .upstream import UpstreamGuard

log = logging.getLogger(__name__)

#: The key of `Flask.extensions` the services live under.
EXTENSION = "bot"


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
    journal: Journal | None = None

    @classmethod
    def build(cls, settings: Settings, *, store: Store | None = None, issuer: Issuer | None = None,
              keep_journal: bool = True) -> Services:
        settings.check()
        settings.check_deployment()
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
                store=store, public_base_url=settings.public_base_url,
                receipt_retention_days=settings.receipt_retention_days,
                counts=OutboundFunnel(store, flush_s=settings.funnel_flush_s),
            )
        else:
            log.warning("TWILIO_ACCOUNT_SID is unset: codes that miss the webhook deadline cannot be texted later.")
        # One folder per bot on a shared Redis: the journal replays into this prefix's keys only. The
        # embedded store forgets everything at exit, so a journal for it would outlive what it protects.
        journal = None
        if keep_journal and not settings.embedded_store:
            journal = Journal(settings.journal_dir / settings.redis_key_prefix)
        conversation = Conversation(
            book, store, issuer, secret=settings.bot_secret, timing=Timing(budget_s=settings.webhook_budget_s),
            guard=guard, late_delivery=sms is not None, funnel=Funnel(store, flush_s=settings.funnel_flush_s),
            journal=journal,
        )
        if settings.demo_mode and not settings.twilio_auth_token:
            log.warning("TWILIO_AUTH_TOKEN is unset: webhook signatures are NOT verified (all-embedded demo only).")
        return cls(settings, book, store, issuer, guard, sms, conversation, journal)

    def init_app(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self

    def late_delivery(self) -> LateDelivery:
        policy = WorkerPolicy(lease_s=self.settings.job_lease_s)
        sms = self._sms("the late-delivery worker")
        keeper = self.conversation.keeper
        return LateDelivery(self.book, self.store, self.issuer, self.guard, sms, policy,
                            before_work=keeper.keep if keeper else None)

    def send_engine(self, **options) -> SendEngine:
        """The send engine (sending.py); `options` (clock=, policy=, sleep=) for tests and benchmarks."""
        options.setdefault("policy", SendPolicy(lease_s=self.settings.job_lease_s,
                                                reconcile_after_s=self.settings.twilio_timeout_s + 3))
        return SendEngine(self.book, self.store, self.issuer, self.guard, self._sms("the send engine"),
                          messaging_service_sid=self.settings.twilio_messaging_service_sid, **options)

    def birthday_planner(self, engine: SendEngine, **options) -> BirthdayPlanner:
        return BirthdayPlanner(self.book, self.store, engine, clock=engine.clock, **options)

    def _sms(self, who: str) -> SmsSender:
        if self.sms is None:
            raise ConfigError(f"TWILIO_ACCOUNT_SID: {who} needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        return self.sms


def services_of(app: Flask | None = None) -> Services:
    """The services of `app`, or of the app handling the current request."""
    return (app or current_app).extensions[EXTENSION]


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
