"""The campaign model: the program, its campaigns and posters, and keyword lookup per number.

A `CampaignBook` is what the bot serves from; `bot.campaign_file.load_campaigns`
builds one from the TOML file after validating it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .errors import Problem
from .keywords import KeywordIndex, Match, normalize, one_edit_apart, tokens
from .limits import FormLimits, RateLimit
from .quiet_hours import AllowedHours
from .replies import ReplyTemplate

Kind = Literal["coupon", "loyalty", "referral", "competition", "birthday"]
KINDS: tuple[Kind, ...] = ("coupon", "loyalty", "referral", "competition", "birthday")

#: A short code the bot serves: US/CA, 5 or 6 digits (other countries' differ; they are not supported).
SHORT_CODE_RE = re.compile(r"^[0-9]{5,6}$")
#: A poster's reference, texted after the keyword ("SAVE P7"): letters and digits with at
#: least one digit, so an ordinary word after a keyword is never taken for a reference.
REF_RE = re.compile(r"^(?=.*[0-9])[A-Za-z0-9]{1,8}$")

#: Consent records are kept this long after a number's last consent event:
#: the TCPA's four-year limitation period (28 U.S.C. 1658) plus a year's margin,
#: so a complaint can be answered with the record. Not legal advice: set
#: `[program] consent_retention_days` to what your counsel and your market require.
DEFAULT_CONSENT_RETENTION_DAYS = 5 * 365 + 1
#: `bot check` warns when a reply's sample rendering needs more SMS segments than this.
DEFAULT_MAX_SEGMENTS = 2
#: Who confirms STOP/START: "auto" = the bot only on short codes (Twilio and the
#: carriers already answer on long codes and toll-free numbers), "always", "never".
OPT_OUT_CONFIRMATIONS = ("auto", "always", "never")
#: Near misses are only suggested for keywords this long (shorter ones are too close to everything).
NEAR_MISS_MIN_LENGTH = 5

#: A sender may text 5 times in a row, then about once every 3 minutes.
DEFAULT_SENDER_LIMIT = RateLimit(rate=20, per_seconds=3600, burst=5)
#: Talon.One's partners are asked to stay at 500 calls/min (reference/talon_one.md §1.6).
DEFAULT_UPSTREAM_LIMIT = RateLimit(rate=500, per_seconds=60, burst=50)


def says_stop_and_help(text: str) -> bool:
    """Whether a text says how to opt out (STOP) and get help (HELP)."""
    upper = text.upper()
    return "STOP" in upper and "HELP" in upper


def carries_opt_in_notice(program_name: str, text: str) -> bool:
    """Whether a reply already names the program and says how to opt out (STOP) and get help (HELP)."""
    return program_name.upper() in text.upper() and says_stop_and_help(text)


@dataclass(frozen=True)
class Program:
    name: str
    numbers: tuple[str, ...]
    help: str
    fallback: str
    terms_url: str | None
    replies: dict[str, ReplyTemplate] = field(default_factory=dict, compare=False, repr=False)
    #: `text(name)` of the replies that take no context, as first rendered.
    _rendered: dict[str, str] = field(default_factory=dict, init=False, compare=False, repr=False)
    sender_limit: RateLimit | None = DEFAULT_SENDER_LIMIT
    upstream_limit: RateLimit | None = DEFAULT_UPSTREAM_LIMIT
    #: Message frequency for poster footers, e.g. "Up to 2 msgs/mo" (required to render a poster).
    frequency: str | None = None
    consent_retention_days: int = DEFAULT_CONSENT_RETENTION_DAYS
    max_segments: int = DEFAULT_MAX_SEGMENTS
    opt_out_confirmation: str = "auto"
    #: Outreach texts per second, all workers together (`[program] send_rate`; 1 for a US long code).
    send_rate: float = 1.0
    #: Texts a day the brand may send (`[program] daily_cap`, T-Mobile's 10DLC cap); None: not configured.
    daily_cap: int | None = None
    #: The local hours outreach may go out (`[program] quiet_hours` narrows 08:00-20:00).
    allowed_hours: AllowedHours = AllowedHours()
    #: The zone of a number whose own zone is not known (`[program] timezone`).
    timezone: str = "UTC"
    #: Regions (ISO 3166 codes) the landing form may text: `[program] countries`, default those of `numbers`.
    countries: tuple[str, ...] = ()
    form_limits: FormLimits = FormLimits()
    #: WhatsApp senders (E.164): a number also in `numbers` is both; one only here is WhatsApp-only.
    whatsapp_numbers: tuple[str, ...] = ()

    @property
    def served_numbers(self) -> tuple[str, ...]:
        """Every number the bot answers texts to: the SMS numbers, then the WhatsApp-only ones."""
        return self.numbers + tuple(n for n in self.whatsapp_numbers if n not in self.numbers)

    def text(self, name: str, **context: Any) -> str:
        """One of the program's standard replies (`opt_out_reply`, `error_reply`, …), rendered.

        One that needs no `context` is rendered once (it depends on the program's name alone): the
        opt-in notice of every first reply and the "on its way" of a burst went through Jinja's
        sandbox each time."""
        if context:
            return self.replies[name].render(program={"name": self.name}, **context)
        rendered = self._rendered.get(name)
        if rendered is None:
            rendered = self._rendered[name] = self.replies[name].render(program={"name": self.name})
        return rendered

    def with_opt_in_notice(self, text: str) -> str:
        """`text` as the first message to a number: carrying the program's name, "Reply STOP to opt
        out" and HELP (CTIA's opt-in confirmation), the `opt_in_notice` appended unless it already does
        (the loader refuses a notice without STOP and HELP: it cannot be switched off)."""
        notice = self.text("opt_in_notice")
        if carries_opt_in_notice(self.name, text):
            return text
        return f"{text}\n{notice}"

    def confirms_opt_out(self, to: str) -> bool:
        """Whether the bot itself sends the one STOP/START confirmation for texts to number `to`."""
        if self.opt_out_confirmation == "auto":
            return bool(SHORT_CODE_RE.match(to))
        return self.opt_out_confirmation == "always"


#: Twilio's Content Template SID: "HX" and 32 hex digits (reference/next-capabilities.md §3).
CONTENT_SID_RE = re.compile(r"^HX[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class WhatsAppTemplate:
    """An approved WhatsApp template, the only thing that may go outside the 24-hour window.

    `variables` are Twilio's ContentVariables ("1" -> "{{ code }}"), rendered like a reply.
    """

    content_sid: str
    variables: dict[str, ReplyTemplate] = field(compare=False)

    def content_variables(self, **context: Any) -> dict[str, str]:
        return {name: template.render(**context) for name, template in self.variables.items()}


@dataclass(frozen=True)
class Campaign:
    slug: str
    keywords: tuple[str, ...]
    kind: Kind
    reply: ReplyTemplate
    external_campaign_id: str | None = None
    application_id: int | None = None
    campaign_id: int | None = None
    loyalty_program_id: int | None = None
    identifier: str = "{phone}"
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    numbers: tuple[str, ...] = ()
    not_started_reply: ReplyTemplate | None = None
    ended_reply: ReplyTemplate | None = None
    #: Overrides of the program's limits; None means "the program's".
    sender_limit: RateLimit | None = None
    upstream_limit: RateLimit | None = None
    #: Poster headline for this campaign (posters may override it).
    headline: str | None = None
    #: A competition's (kind = "competition"): its official rules, carried by every entry reply.
    rules_url: str | None = None
    #: A competition's text to its winners, and the optional one to everyone else (Jinja with `code`, `entry`).
    winner_reply: ReplyTemplate | None = None
    consolation_reply: ReplyTemplate | None = None
    #: How many entries one person (one E.164 number) may make in a competition.
    max_entries_per_person: int = 1
    #: kind = "birthday": the local time of the birthday text, and the replies to a BDAY text.
    send_at: dt.time | None = None
    confirm_reply: ReplyTemplate | None = None
    ask_reply: ReplyTemplate | None = None
    #: The approved template a late reply outside WhatsApp's 24-hour window goes as (None: not by WhatsApp).
    whatsapp_template: WhatsAppTemplate | None = None

    def window(self, now: dt.datetime) -> Literal["open", "not_started", "ended"]:
        if self.starts_at and now < self.starts_at:
            return "not_started"
        if self.ends_at and now > self.ends_at:
            return "ended"
        return "open"

    def identifier_for(self, phone: str, *, year: int | None = None) -> str:
        """Talon.One's create-or-retrieve key for this sender (default: the E.164 number;
        a birthday campaign's default "{phone}:{year}" gives each year its own coupon)."""
        return self.identifier.format(
            phone=phone,
            year=year,
            slug=self.slug,
            campaign_id=self.campaign_id,
            application_id=self.application_id,
            external_campaign_id=self.external_campaign_id,
        )

    def template_context(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "keyword": self.keywords[0],
            "keywords": self.keywords,
            "kind": self.kind,
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "campaign_id": self.campaign_id,
            "application_id": self.application_id,
            "external_campaign_id": self.external_campaign_id,
            "rules_url": self.rules_url,
        }


@dataclass(frozen=True)
class Poster:
    """One printed poster of a campaign (`[[posters]]`): its own scan URL and text reference."""

    slug: str
    campaign: str
    ref: str
    headline: str | None = None


def reply_context(campaign: Campaign, program: Program, **values: object) -> dict[str, object]:
    """What a campaign's templates are rendered with: the campaign's values, the program's name, `values`."""
    return {**campaign.template_context(), "program": {"name": program.name}, **values}


@dataclass(frozen=True)
class CampaignBook:
    """A loaded, valid campaign file: the program and its campaigns, keyword-indexed per number."""

    path: Path
    program: Program
    campaigns: tuple[Campaign, ...]
    _indexes: dict[str | None, KeywordIndex[Campaign]] = field(repr=False, compare=False)
    #: Not refusals: things `bot check` and start-up point out (e.g. replies over the segment budget).
    warnings: tuple[Problem, ...] = ()
    posters: tuple[Poster, ...] = ()

    def by_slug(self, slug: str) -> Campaign | None:
        return next((c for c in self.campaigns if c.slug == slug), None)

    def resolve(self, slug: str) -> tuple[Campaign, Poster | None] | None:
        """A campaign or poster slug (case-insensitive, as QR URLs may be upper-cased) -> its campaign and poster."""
        slug = slug.lower()
        poster = next((p for p in self.posters if p.slug == slug), None)
        campaign = self.by_slug(poster.campaign if poster else slug)
        return (campaign, poster) if campaign else None

    def poster_for(self, campaign: Campaign, rest: tuple[str, ...]) -> Poster | None:
        """The poster whose reference follows the keyword ("SAVE P7" -> rest ("p7",)), if any."""
        if not rest:
            return None
        ref = normalize(rest[0])
        return next((p for p in self.posters if p.campaign == campaign.slug and normalize(p.ref) == ref), None)

    def match(self, text: str, to: str | None = None) -> Match[Campaign] | None:
        """The campaign a text names, among those served on number `to`."""
        index = self._indexes.get(to) or self._indexes[None]
        return index.match(text)

    def near_miss(self, text: str, to: str | None, now: dt.datetime) -> tuple[Campaign, str] | None:
        """The one open campaign's keyword (as written in the file) that `text` is one edit from, if exactly one.

        Only keywords of `NEAR_MISS_MIN_LENGTH` or more letters are suggested;
        the whole text and its first word are tried, like `match`.
        """
        index = self._indexes.get(to) or self._indexes[None]
        candidates = {normalize(text), *tokens(text)[:1]} - {""}
        found: dict[str, Campaign] = {}
        for key, campaign in index.items():
            if len(key) < NEAR_MISS_MIN_LENGTH or campaign.window(now) != "open":
                continue
            if any(one_edit_apart(candidate, key) for candidate in candidates):
                found[key] = campaign
        if len(found) != 1:
            return None
        [(key, campaign)] = found.items()
        spelling = next((k for k in campaign.keywords if normalize(k) == key), key)
        return campaign, spelling

    def default_number(self) -> str:
        return self.program.numbers[0]

    @classmethod
    def build(
        cls, path: Path, program: Program, campaigns: Iterable[Campaign], posters: Iterable[Poster] = (),
        warnings: Iterable[Problem] = (),
    ) -> CampaignBook:
        """A book from valid parts: each served number gets its keyword index."""
        campaigns = tuple(campaigns)
        indexes = {
            number: KeywordIndex((k, c) for _, c in members for k in c.keywords)
            for number, members in number_scopes(program, enumerate(campaigns)).items()
        }
        return cls(path, program, campaigns, indexes, tuple(warnings), tuple(posters))


def number_scopes(
    program: Program, placed: Iterable[tuple[int, Campaign]]
) -> dict[str | None, list[tuple[int, Campaign]]]:
    """The (position, campaign) pairs served on each number; None holds the program-wide campaigns."""
    served = program.served_numbers
    scopes: dict[str | None, list[tuple[int, Campaign]]] = {None: [], **{n: [] for n in served}}
    for position, campaign in placed:
        for number in campaign.numbers or (None, *served):
            scopes.setdefault(number, []).append((position, campaign))
    return scopes
