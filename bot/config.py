"""Settings: every environment variable of the contract, read and checked once.

`Settings.from_env()` is the only place that reads the environment. Anything
wrong raises `ConfigError` with one line naming the variable, so start-up
stops with a message an operator can act on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError

#: The example campaign file shipped inside the package.
EXAMPLE_CAMPAIGNS_FILE = Path(__file__).parent / "data" / "campaigns.example.toml"

#: Any of these makes a real deployment, which must also set `REQUIRED_IN_PRODUCTION`.
PRODUCTION_VARIABLES = ("PUBLIC_BASE_URL", "TWILIO_ACCOUNT_SID", "BOT_SECRET", "MARKETER_PASSWORD", "TALON_API_KEY")
REQUIRED_IN_PRODUCTION = ("REDIS_URL", "TWILIO_AUTH_TOKEN", "BOT_SECRET")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _flag(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def _number(environ: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {raw!r}")
    return value


def _url(environ: Mapping[str, str], name: str, schemes: tuple[str, ...], default: str | None = None) -> str | None:
    raw = environ.get(name, "").strip() or default
    if raw is None:
        return None
    return _checked_url(name, raw, schemes)


def _checked_url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        raise ConfigError(f"{name}: the port of {raw!r} is not a number") from None
    if parts.scheme not in schemes or not (parts.netloc or (parts.scheme == "unix" and parts.path)):
        raise ConfigError(f"{name}: expected a {' or '.join(s + '://' for s in schemes)} URL, got {raw!r}")
    return raw.rstrip("/")


def redis_nodes(redis_url: str) -> list[str]:
    """The node URLs of REDIS_URL: one, or with REDIS_CLUSTER several, comma-separated (the cluster's seeds)."""
    return [part.strip() for part in redis_url.split(",") if part.strip()]


def _redis_url(environ: Mapping[str, str], cluster: bool) -> str | None:
    raw = environ.get("REDIS_URL", "").strip()
    if not raw:
        return None
    nodes = redis_nodes(raw)
    if len(nodes) > 1 and not cluster:
        raise ConfigError("REDIS_URL: several comma-separated nodes need REDIS_CLUSTER=true")
    for node in nodes:
        _checked_url("REDIS_URL", node, ("redis", "rediss", "unix"))
    return ",".join(node.rstrip("/") for node in nodes)


@dataclass(frozen=True)
class Settings:
    """The bot's configuration. Tests build one directly; production uses `from_env`."""

    campaigns_file: Path = EXAMPLE_CAMPAIGNS_FILE
    redis_url: str | None = None
    redis_cluster: bool = False
    #: Prefix of every key, so several bots can share one Redis.
    redis_key_prefix: str = "kcb"
    talon_api_key: str | None = field(default=None, repr=False)
    talon_deployment: str | None = None
    talon_base_url: str = "https://integration.talon.one"
    talon_platform_name: str = "keyword-coupon-bot"
    talon_dry_run: bool = False
    #: Connect and read timeouts of one Talon.One call, in seconds.
    talon_connect_timeout: float = 2.0
    talon_read_timeout: float = 5.0
    #: Deadline for answering a webhook; Twilio gives up at 15 s, connect time included.
    webhook_budget_s: float = 8.0
    #: Circuit breaker: open after this many failed Talon.One calls within a minute, for the cool-down.
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    #: Late-delivery jobs: how long a claimed job is hidden from other workers.
    job_lease_s: float = 60.0
    #: Threads of the send engine in each `bot worker` (the send rate is shared: more threads only hide latency).
    send_threads: int = 2
    #: How often each process writes the results page's counts to Redis (0: only when read).
    funnel_flush_s: float = 1.0
    #: How long each outbound text's last status (its delivery receipt) is kept, in days.
    receipt_retention_days: int = 30
    twilio_auth_token: str | None = field(default=None, repr=False)
    twilio_account_sid: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    twilio_timeout_s: float = 10.0
    #: A Messaging Service (MG…) that sends outreach from its pool of senders instead of a number.
    twilio_messaging_service_sid: str | None = None
    public_base_url: str | None = None
    bot_secret: str = field(default="", repr=False)
    #: Password of the marketer's poster page (/marketer); unset: the page is disabled.
    marketer_password: str | None = field(default=None, repr=False)
    #: Proxies in front of the bot that append to X-Forwarded-For (Heroku's router: 1); 0 trusts none.
    trusted_proxy_hops: int = 0
    #: This host's STOP journal (bot/journal.py): JOURNAL_DIR, else $XDG_STATE_HOME/keyword-coupon-bot/journal.
    journal_dir: Path = Path("var/journal")
    #: When set, GET /metrics needs `Authorization: Bearer <token>`.
    metrics_token: str | None = field(default=None, repr=False)

    @property
    def embedded_store(self) -> bool:
        return self.redis_url is None

    @property
    def sandbox_issuer(self) -> bool:
        return self.talon_api_key is None

    @property
    def production_variables(self) -> list[str]:
        """The variables set that make this a real deployment (see `PRODUCTION_VARIABLES`)."""
        values = (self.public_base_url, self.twilio_account_sid, self.bot_secret, self.marketer_password,
                  self.talon_api_key)
        return [name for name, value in zip(PRODUCTION_VARIABLES, values, strict=True) if value]

    @property
    def demo_mode(self) -> bool:
        """All-embedded and nothing of a real deployment set: the only mode without Redis, signatures or secret."""
        return self.embedded_store and self.sandbox_issuer and not self.production_variables

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        campaigns_file = Path(text("CAMPAIGNS_FILE") or EXAMPLE_CAMPAIGNS_FILE)
        if not campaigns_file.is_file():
            raise ConfigError(f"CAMPAIGNS_FILE: no such file {str(campaigns_file)!r}")

        redis_cluster = _flag(env, "REDIS_CLUSTER")
        redis_url = _redis_url(env, redis_cluster)
        if redis_cluster and redis_url is None:
            raise ConfigError("REDIS_CLUSTER: true needs REDIS_URL naming a node of the cluster")

        redis_key_prefix = text("REDIS_KEY_PREFIX") or cls.redis_key_prefix
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", redis_key_prefix):
            raise ConfigError(
                f"REDIS_KEY_PREFIX: expected 1-32 letters, digits, '_', '.' or '-', got {redis_key_prefix!r}"
            )

        talon_api_key = text("TALON_API_KEY")
        talon_deployment = text("TALON_DEPLOYMENT")
        if talon_deployment and ("/" in talon_deployment or ":" in talon_deployment):
            # Talon.One's spec types destination-hostname as a bare hostname.
            raise ConfigError(
                "TALON_DEPLOYMENT: expected a bare host such as mycompany.europe-west1.talon.one,"
                f" got {talon_deployment!r}"
            )
        if talon_api_key and not talon_deployment:
            raise ConfigError("TALON_DEPLOYMENT: required when TALON_API_KEY is set (sent as destination-hostname)")

        settings = cls(
            campaigns_file=campaigns_file,
            redis_url=redis_url,
            redis_cluster=redis_cluster,
            redis_key_prefix=redis_key_prefix,
            talon_api_key=talon_api_key,
            talon_deployment=talon_deployment,
            talon_base_url=_url(env, "TALON_BASE_URL", ("https", "http"), cls.talon_base_url),
            talon_platform_name=text("TALON_PLATFORM_NAME") or cls.talon_platform_name,
            talon_dry_run=_flag(env, "TALON_DRY_RUN"),
            talon_connect_timeout=_number(env, "TALON_CONNECT_TIMEOUT", cls.talon_connect_timeout, minimum=0.05),
            talon_read_timeout=_number(env, "TALON_READ_TIMEOUT", cls.talon_read_timeout, minimum=0.05),
            webhook_budget_s=_number(env, "WEBHOOK_BUDGET_S", cls.webhook_budget_s, minimum=0.5),
            breaker_failures=int(_number(env, "BREAKER_FAILURES", cls.breaker_failures, minimum=1)),
            breaker_cooldown_s=_number(env, "BREAKER_COOLDOWN_S", cls.breaker_cooldown_s, minimum=0.1),
            job_lease_s=_number(env, "JOB_LEASE_S", cls.job_lease_s, minimum=0.5),
            funnel_flush_s=_number(env, "FUNNEL_FLUSH_S", cls.funnel_flush_s, minimum=0),
            send_threads=int(_number(env, "SEND_THREADS", cls.send_threads, minimum=1)),
            receipt_retention_days=int(_number(env, "RECEIPT_RETENTION_DAYS", cls.receipt_retention_days, minimum=1)),
            twilio_timeout_s=_number(env, "TWILIO_TIMEOUT_S", cls.twilio_timeout_s, minimum=0.5),
            twilio_auth_token=text("TWILIO_AUTH_TOKEN"),
            twilio_account_sid=text("TWILIO_ACCOUNT_SID"),
            twilio_api_url=_url(env, "TWILIO_API_URL", ("https", "http"), cls.twilio_api_url),
            twilio_messaging_service_sid=text("TWILIO_MESSAGING_SERVICE_SID"),
            public_base_url=_url(env, "PUBLIC_BASE_URL", ("https", "http")),
            bot_secret=text("BOT_SECRET") or "",
            marketer_password=text("MARKETER_PASSWORD"),
            trusted_proxy_hops=int(_number(env, "TRUSTED_PROXY_HOPS", cls.trusted_proxy_hops, minimum=0)),
            journal_dir=Path(text("JOURNAL_DIR") or (Path(text("XDG_STATE_HOME")) / "keyword-coupon-bot" / "journal"
                                                     if text("XDG_STATE_HOME") else cls.journal_dir)),
            metrics_token=text("METRICS_TOKEN"),
        )
        settings.check()
        return settings

    @property
    def can_send_sms(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    def check_deployment(self) -> None:
        """A real deployment (any production variable set) has Redis, signatures and a secret, or does
        not start: checked by whatever serves or works the queue (`Services.build`, gunicorn's master),
        not by commands that only read the campaign file (`bot poster`, `bot check`)."""
        production = self.production_variables
        if production:
            required = (self.redis_url, self.twilio_auth_token, self.bot_secret)
            missing = [name for name, value in zip(REQUIRED_IN_PRODUCTION, required, strict=True) if not value]
            if missing:
                raise ConfigError(
                    f"{missing[0]}: required in a real deployment ({production[0]} is set); "
                    "only the all-embedded demo, with none of " + ", ".join(PRODUCTION_VARIABLES) + ", may skip it"
                )

    def check(self) -> None:
        """The rules between variables, for settings built in code as well as from the environment."""
        if self.webhook_budget_s >= 14:
            raise ConfigError(
                f"WEBHOOK_BUDGET_S: must stay well under Twilio's 15 s window, got {self.webhook_budget_s}"
            )
        if not self.twilio_auth_token and not (self.embedded_store and self.sandbox_issuer):
            raise ConfigError(
                "TWILIO_AUTH_TOKEN: required when REDIS_URL or TALON_API_KEY is set "
                "(only the all-embedded demo may skip webhook signatures)"
            )
        if self.twilio_account_sid and not self.twilio_account_sid.startswith("AC"):
            raise ConfigError(f"TWILIO_ACCOUNT_SID: expected an AC… account SID, got {self.twilio_account_sid!r}")
        service = self.twilio_messaging_service_sid
        if service and not service.startswith("MG"):
            raise ConfigError(f"TWILIO_MESSAGING_SERVICE_SID: expected an MG… Messaging Service SID, got {service!r}")
        if self.marketer_password is not None and len(self.marketer_password) < 12:
            raise ConfigError(
                "MARKETER_PASSWORD: too short, use at least 12 characters (or unset it to disable /marketer)"
            )
        if not self.bot_secret and not (self.embedded_store and self.sandbox_issuer):
            raise ConfigError(
                "BOT_SECRET: required when REDIS_URL or TALON_API_KEY is set (hashes phone numbers in logs)"
            )
