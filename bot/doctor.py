"""`bot doctor`: a deployment's configuration checked end to end, one verdict a line.

Each check talks to the real part with the deployment's own settings and says
`ok`, `warn` or `FAIL` and why: the environment parses, the campaign file is
valid, Redis answers and keeps what it is told (persistence, no eviction of
opt-outs), Talon.One accepts the key (one call with ``X-DRY-RUN: true``), and
Twilio accepts the credentials and posts each of the program's numbers to
``PUBLIC_BASE_URL/sms``. Nothing is written anywhere: Redis gets PING and
CONFIG GET, Talon.One a dry run, Twilio GETs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from .campaign_file import load_campaigns
from .campaigns import SHORT_CODE_RE, CampaignBook
from .config import Settings
from .errors import (
    CampaignFileError,
    ConfigError,
    DeliveryError,
    StoreUnavailable,
    UpstreamError,
    UpstreamPermanent,
)

if TYPE_CHECKING:
    from .outbound import SmsSender

Level = Literal["ok", "warn", "FAIL"]

#: The sender of Talon.One's dry-run call: a fictional number (NANP 555-0100 to 0199), never a customer.
DRY_RUN_SENDER = "+12025550100"


@dataclass(frozen=True)
class Verdict:
    level: Level
    check: str
    detail: str

    def __str__(self) -> str:
        return f"{self.level:<5} {self.check}: {self.detail}"


def ok(check: str, detail: str) -> Verdict:
    return Verdict("ok", check, detail)


def warn(check: str, detail: str) -> Verdict:
    return Verdict("warn", check, detail)


def fail(check: str, detail: str) -> Verdict:
    return Verdict("FAIL", check, detail)


def diagnose(environ: Mapping[str, str] | None = None) -> Iterator[Verdict]:
    """Every check, in order; a check that needs what an earlier one refused says it was not run."""
    try:
        settings = Settings.from_env(environ)
    except ConfigError as exc:
        yield fail("configuration", str(exc))
        return
    yield ok("configuration", "the environment parses" + (" (the all-embedded demo)" if settings.demo_mode else ""))
    book = None
    try:
        book = load_campaigns(settings.campaigns_file)
    except CampaignFileError as exc:
        yield fail("campaign file", str(exc))
    else:
        yield (warn if book.warnings else ok)(
            "campaign file",
            f"{book.path}: {len(book.campaigns)} campaign(s), numbers {', '.join(book.program.numbers)}"
            + (f"; {len(book.warnings)} warning(s): run `bot check`" if book.warnings else ""),
        )
    yield from check_redis(settings)
    yield from check_talon(settings, book)
    yield from check_twilio(settings, book)


# -- Redis


def redacted(url: str) -> str:
    """A Redis URL without its user name and password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def check_redis(settings: Settings) -> Iterator[Verdict]:
    if settings.embedded_store:
        yield warn("redis", "REDIS_URL is unset: the embedded store, this process's only and lost on exit (the demo)")
        return
    from .store import connect, map_redis_errors

    where = redacted(settings.redis_url)
    try:
        with map_redis_errors(where):  # a cluster client looks for its nodes when it is made
            store = connect(settings.redis_url, cluster=settings.redis_cluster, prefix=settings.redis_key_prefix)
    except StoreUnavailable as exc:
        yield fail("redis", f"{where} does not answer: {exc}")
        return
    try:
        if not store.ping():
            yield fail("redis", f"{where} does not answer")
            return
        yield ok("redis", f"{where} answers")
        nodes = store.server_config("appendonly", "appendfsync", "save", "maxmemory-policy")
    except StoreUnavailable as exc:
        yield fail("redis", f"{where} stopped answering: {exc}")
        return
    finally:
        store.client.close()
    if nodes is None:
        yield warn(
            "redis persistence",
            "cannot tell: Redis refuses CONFIG GET (as managed services often do); make sure with your provider "
            "that appendonly is yes and maxmemory-policy is noeviction",
        )
        return
    for node, config in nodes.items():
        yield persistence_verdict(node or where, config)
        yield eviction_verdict(node or where, config)


def persistence_verdict(where: str, config: Mapping[str, str]) -> Verdict:
    appendonly, save = config.get("appendonly", "no"), config.get("save", "")
    if appendonly == "yes":
        return ok("redis persistence", f"{where}: appendonly yes (appendfsync {config.get('appendfsync', '?')})")
    if save.strip():
        return warn(
            "redis persistence",
            f"{where}: RDB snapshots only (save {save!r}): a crash loses the writes since the last one, "
            "opt-outs included; set appendonly yes",
        )
    return fail(
        "redis persistence",
        f"{where}: not persistent (appendonly no, no save points): a restart loses every opt-out; set appendonly yes",
    )


def eviction_verdict(where: str, config: Mapping[str, str]) -> Verdict:
    policy = config.get("maxmemory-policy", "noeviction")
    if policy == "noeviction":
        return ok("redis eviction", f"{where}: maxmemory-policy noeviction")
    if policy.startswith("allkeys-"):
        return fail(
            "redis eviction",
            f"{where}: maxmemory-policy {policy} may evict opt-outs (they never expire); set noeviction",
        )
    return warn(
        "redis eviction",
        f"{where}: maxmemory-policy {policy} evicts keys with an expiry when memory runs short (replay guards, "
        "cached codes, rate limits); noeviction keeps them",
    )


# -- Talon.One


def check_talon(settings: Settings, book: CampaignBook | None) -> Iterator[Verdict]:
    if settings.sandbox_issuer:
        yield warn("talon.one", "TALON_API_KEY is unset: codes come from the built-in sandbox issuer (the demo)")
        return
    campaign = next((c for c in book.campaigns if c.kind in ("coupon", "referral")), None) if book else None
    if campaign is None:
        why = "the campaign file is unusable" if book is None else "no coupon or referral campaign to ask for"
        yield warn("talon.one", f"not checked: {why}")
        return
    from .services import make_issuer

    issuer = make_issuer(dataclasses.replace(settings, talon_dry_run=True))
    try:
        if campaign.kind == "referral":
            issuer.referral(campaign_id=campaign.campaign_id, advocate=DRY_RUN_SENDER)
        else:
            issuer.coupon(
                application_id=campaign.application_id, campaign_id=campaign.campaign_id,
                external_campaign_id=campaign.external_campaign_id,
                identifier=campaign.identifier_for(DRY_RUN_SENDER),
            )
    except UpstreamPermanent as exc:
        if exc.status in (401, 403):
            yield fail("talon.one", f"TALON_API_KEY refused for {settings.talon_deployment}: {exc}")
        else:
            yield fail("talon.one", f"the key is accepted, but campaign {campaign.slug!r} is refused: {exc}")
        return
    except UpstreamError as exc:
        yield fail("talon.one", f"{settings.talon_base_url} gave no usable answer: {exc}")
        return
    finally:
        issuer.close()
    yield ok("talon.one", f"the key is accepted for {settings.talon_deployment} (a dry-run {campaign.kind} "
                          f"of campaign {campaign.slug!r})")


# -- Twilio


def check_twilio(settings: Settings, book: CampaignBook | None) -> Iterator[Verdict]:
    if not settings.twilio_auth_token:
        yield warn("twilio", "TWILIO_AUTH_TOKEN is unset: webhook signatures are not verified (the demo only)")
        return
    expected = f"{settings.public_base_url}/sms" if settings.public_base_url else None
    if expected is None:
        yield warn(
            "public url",
            "PUBLIC_BASE_URL is unset: signatures are checked against the URL this server sees, which behind a "
            "proxy or load balancer is not the one Twilio signed",
        )
    if not settings.twilio_account_sid:
        yield warn("twilio", "TWILIO_ACCOUNT_SID is unset: the credentials and the numbers' webhook are not checked")
        return
    from .outbound import SmsSender

    sid = settings.twilio_account_sid
    twilio = SmsSender(
        sid, settings.twilio_auth_token, api_url=settings.twilio_api_url, timeout=settings.twilio_timeout_s
    )
    try:
        status, name = twilio.account()
    except DeliveryError as exc:
        refused = (
            "credentials refused (TWILIO_ACCOUNT_SID or TWILIO_AUTH_TOKEN is wrong)" if exc.status == 401
            else "the account cannot be read"
        )
        yield fail("twilio", f"{refused}: {exc}")
        return
    if status != "active":
        yield fail("twilio", f"account {sid} is {status}")
        return
    yield ok("twilio", f"the credentials are accepted: account {sid} ({name}) is active")
    if book is None:
        yield warn("twilio webhook", "not checked: the campaign file is unusable")
        return
    for number in book.program.numbers:
        yield webhook_verdict(twilio, number, expected, sid)


def webhook_verdict(twilio: SmsSender, number: str, expected: str | None, account_sid: str) -> Verdict:
    """Whether Twilio posts `number`'s texts to `expected` (PUBLIC_BASE_URL/sms), where its API can tell."""
    check = f"webhook {number}"
    wanted = expected or "PUBLIC_BASE_URL/sms"
    if SHORT_CODE_RE.match(number):
        return warn(check, f"a short code: check in the Console that its SMS URL is {wanted}")
    try:
        incoming = twilio.incoming_number(number)
    except DeliveryError as exc:
        return warn(check, f"cannot tell: {exc}")
    if incoming is None:
        return fail(check, f"not a number of account {account_sid}: texts to it never reach this bot")
    if incoming.sms_application_sid:
        return warn(check, f"answered by TwiML app {incoming.sms_application_sid}: check that its SMS URL is {wanted}")
    if not incoming.sms_url:
        return warn(check, f"no SMS URL of its own: if it is in a Messaging Service, the service's must be {wanted}")
    if (incoming.sms_method or "POST").upper() != "POST":
        return fail(check, f"Twilio sends {incoming.sms_method} to {incoming.sms_url}; the bot takes POST only")
    if expected is None:
        return warn(check, f"posts to {incoming.sms_url}; set PUBLIC_BASE_URL to its scheme and host")
    if incoming.sms_url != expected:
        return fail(check, f"posts to {incoming.sms_url}, not PUBLIC_BASE_URL/sms = {expected}: "
                           "Twilio signs the URL it posts to, so every text would get 403")
    return ok(check, f"posts to {expected}")


def run(environ: Mapping[str, str] | None = None, *, out=None) -> int:
    """Print every verdict and a summary; 1 if any check failed."""
    import sys

    out = out or sys.stdout
    counts = {"ok": 0, "warn": 0, "FAIL": 0}
    for verdict in diagnose(environ):
        counts[verdict.level] += 1
        print(verdict, file=out, flush=True)
    print(f"{counts['ok']} ok, {counts['warn']} warn, {counts['FAIL']} FAIL", file=out)
    return 1 if counts["FAIL"] else 0
