"""The campaign file (TOML): loading, validation with places, and keyword lookup.

`load_campaigns(path)` returns a `CampaignBook` or raises `CampaignFileError`
listing every problem found, each with its line and table, so `bot check` can
print them all at once and start-up can refuse a broken file.
"""

from __future__ import annotations

import datetime as dt
import re
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import phonenumbers

from .compliance import is_compliance_word
from .errors import CampaignFileError, Problem
from .keywords import KeywordIndex, Match, normalize, one_edit_apart, tokens
from .replies import ReplyTemplate, TemplateError
from .segments import count_segments
from .limits import RateLimit

Kind = Literal["coupon", "loyalty", "referral"]
KINDS: tuple[Kind, ...] = ("coupon", "loyalty", "referral")

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
SHORT_CODE_RE = re.compile(r"^[0-9]{3,8}$")
#: A poster's reference, texted after the keyword ("SAVE P7"): letters and digits with at
#: least one digit, so an ordinary word after a keyword is never taken for a reference.
REF_RE = re.compile(r"^(?=.*[0-9])[A-Za-z0-9]{1,8}$")

#: Placeholders allowed in a campaign's `identifier` (Python format syntax).
IDENTIFIER_FIELDS = frozenset({"phone", "slug", "campaign_id", "application_id", "external_campaign_id"})

DEFAULT_REPLIES = {
    "not_started_reply": "{{ program.name }}: this offer has not started yet. Please text again from {{ starts_at }}.",
    "ended_reply": "{{ program.name }}: sorry, this offer has ended.",
}

PROGRAM_DEFAULTS = {
    "opt_out_reply": "{{ program.name }}: you are unsubscribed and will get no more messages. Reply START to resubscribe.",
    "opt_in_reply": "{{ program.name }}: you are subscribed again. Reply HELP for help, STOP to cancel.",
    "limited_reply": "{{ program.name }}: too many messages. Please wait a while before texting again.",
    "error_reply": "{{ program.name }}: sorry, we could not get your code right now. Please text again in a few minutes.",
    "busy_reply": "{{ program.name }}: we are busy right now. Please text again in a minute.",
    "pending_reply": "{{ program.name }}: your code is on its way and will arrive by text shortly.",
}
#: Rendered with `keyword`: the one live keyword a text is one edit away from.
NEAR_MISS_DEFAULT = "{{ program.name }}: did you mean {{ keyword }}? Text {{ keyword }} to get it."

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
LIMIT_FIELDS = ("sender_limit", "upstream_limit")


@dataclass(frozen=True)
class Program:
    name: str
    numbers: tuple[str, ...]
    help: str
    fallback: str
    terms_url: str | None
    replies: dict[str, ReplyTemplate] = field(default_factory=dict, compare=False, repr=False)
    sender_limit: RateLimit | None = DEFAULT_SENDER_LIMIT
    upstream_limit: RateLimit | None = DEFAULT_UPSTREAM_LIMIT
    #: Message frequency for poster footers, e.g. "Up to 2 msgs/mo" (required to render a poster).
    frequency: str | None = None
    consent_retention_days: int = DEFAULT_CONSENT_RETENTION_DAYS
    max_segments: int = DEFAULT_MAX_SEGMENTS
    opt_out_confirmation: str = "auto"

    def text(self, name: str, **context: Any) -> str:
        """One of the program's standard replies (`opt_out_reply`, `error_reply`, …), rendered."""
        return self.replies[name].render(program={"name": self.name}, **context)

    def confirms_opt_out(self, to: str) -> bool:
        """Whether the bot itself sends the one STOP/START confirmation for texts to number `to`."""
        if self.opt_out_confirmation == "auto":
            return bool(SHORT_CODE_RE.match(to))
        return self.opt_out_confirmation == "always"


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

    def window(self, now: dt.datetime) -> Literal["open", "not_started", "ended"]:
        if self.starts_at and now < self.starts_at:
            return "not_started"
        if self.ends_at and now > self.ends_at:
            return "ended"
        return "open"

    def identifier_for(self, phone: str) -> str:
        """Talon.One's create-or-retrieve key for this sender (default: the E.164 number)."""
        return self.identifier.format(
            phone=phone,
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
        }


@dataclass(frozen=True)
class Poster:
    """One printed poster of a campaign (`[[posters]]`): its own scan URL and text reference."""

    slug: str
    campaign: str
    ref: str
    headline: str | None = None


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


# --------------------------------------------------------------------------- loading

PROGRAM_FIELDS = {
    "name", "numbers", "help", "fallback", "terms_url", "frequency", "near_miss_reply", "consent_retention_days",
    "max_segments", "opt_out_confirmation", *PROGRAM_DEFAULTS, *LIMIT_FIELDS,
}
POSTER_FIELDS = {"slug", "campaign", "ref", "headline"}
CAMPAIGN_FIELDS = {
    "slug",
    "keywords",
    "kind",
    "application_id",
    "campaign_id",
    "loyalty_program_id",
    "external_campaign_id",
    "reply",
    "identifier",
    "starts_at",
    "ends_at",
    "numbers",
    "headline",
    *DEFAULT_REPLIES,
    *LIMIT_FIELDS,
}
REQUIRED_BY_KIND: dict[str, tuple[str, ...]] = {
    "coupon": ("application_id", "campaign_id", "external_campaign_id"),
    "loyalty": ("loyalty_program_id",),
    "referral": ("campaign_id",),
}

_SAMPLE = {"code": "SAMPLE-CODE", "balance": 120, "tier": "silver", "points_to_next_tier": 80}


class _Locator:
    """Turns a table and key into a `file:line` place, by reading the TOML text."""

    def __init__(self, path: Path, text: str):
        self.name = str(path)
        self.lines = text.splitlines()

    def _table_line(self, header: str, index: int) -> int | None:
        pattern = re.compile(r"^\s*" + re.escape(header) + r"\s*(#.*)?$")
        seen = -1
        for number, line in enumerate(self.lines, 1):
            if pattern.match(line):
                seen += 1
                if seen == index:
                    return number
        return None

    def place(self, table: str, index: int | None, key: str | None, label: str) -> str:
        header = f"[[{table}]]" if index is not None else f"[{table}]"
        start = self._table_line(header, index or 0)
        line = start
        if start is not None and key is not None:
            key_re = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
            for number in range(start + 1, len(self.lines) + 1):
                text = self.lines[number - 1]
                if re.match(r"^\s*\[", text):
                    break
                if key_re.match(text):
                    line = number
                    break
        where = f"{self.name}:{line}" if line else self.name
        return f"{where}: {label}" + (f".{key}" if key else "")


def load_campaigns(path: str | Path) -> CampaignBook:
    """Load and validate a campaign file; raise `CampaignFileError` with every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CampaignFileError(str(path), [Problem(str(path), f"cannot read: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise CampaignFileError(str(path), [Problem(str(path), f"not UTF-8 text ({exc.reason})")]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already ends with "(at line N, column M)".
        raise CampaignFileError(str(path), [Problem(str(path), f"not valid TOML: {exc}")]) from None
    return _Loader(path, text, data).load()


class _Entry:
    """One [[table]] entry under validation: its label, and the problems reported against it."""

    def __init__(self, loader: "_Loader", table: str, index: int, raw: dict[str, Any], fields: set[str]):
        self.loader, self.table, self.index = loader, table, index
        self.label = f"[[{table}]] #{index + 1}"
        if isinstance(raw.get("slug"), str):
            self.label += f" ({raw['slug']})"
        self.ok = True
        for key in sorted(set(raw) - fields):
            self.bad(key, f"unknown field {key!r}")

    def bad(self, key: str | None, message: str) -> None:
        self.ok = False
        self.loader.problem(self.table, self.index, key, self.label, message)


class _Loader:
    def __init__(self, path: Path, text: str, data: dict[str, Any]):
        self.path = path
        self.data = data
        self.where = _Locator(path, text)
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.max_segments = DEFAULT_MAX_SEGMENTS

    def warn_if_long(self, table: str, index: int | None, key: str, label: str, text: str) -> None:
        """A warning when `text` (a reply's sample rendering) needs more segments than the budget."""
        count = count_segments(text)
        if count.segments > self.max_segments:
            self.warnings.append(Problem(
                self.where.place(table, index, key, label),
                f"reply needs {count} with sample values, over the budget of {self.max_segments} "
                "([program].max_segments); every extra segment is billed",
            ))

    def problem(self, table: str, index: int | None, key: str | None, label: str, message: str) -> None:
        self.problems.append(Problem(self.where.place(table, index, key, label), message))

    def load(self) -> CampaignBook:
        unknown_top = set(self.data) - {"program", "campaigns", "posters"}
        for key in sorted(unknown_top):
            self.problems.append(Problem(str(self.path), f"unknown top-level table or key {key!r}"))
        program = self._program(self.data.get("program"))
        raw_campaigns = self.data.get("campaigns")
        placed: list[tuple[int, Campaign]] = []
        if not isinstance(raw_campaigns, list) or not raw_campaigns:
            self.problems.append(Problem(str(self.path), "no [[campaigns]]: at least one campaign is needed"))
        else:
            for index, raw in enumerate(raw_campaigns):
                campaign = self._campaign(index, raw, program)
                if campaign is not None:
                    placed.append((index, campaign))
        indexes = self._indexes(program, placed) if program else {}
        posters = self._posters(self.data.get("posters", []), [c for _, c in placed], bool(raw_campaigns))
        if self.problems or program is None:
            # A clash seen from several numbers is one problem, reported once.
            raise CampaignFileError(str(self.path), list(dict.fromkeys(self.problems)))
        return CampaignBook(
            self.path, program, tuple(c for _, c in placed), indexes, tuple(dict.fromkeys(self.warnings)), posters=posters
        )

    # -- [program]

    def _program(self, raw: Any) -> Program | None:
        if not isinstance(raw, dict):
            self.problems.append(Problem(str(self.path), "missing [program] table"))
            return None
        ok = True

        def bad(key: str | None, message: str) -> None:
            nonlocal ok
            ok = False
            self.problem("program", None, key, "[program]", message)

        for key in sorted(set(raw) - PROGRAM_FIELDS):
            bad(key, f"unknown field {key!r}")
        texts: dict[str, str] = {}
        for key in ("name", "help", "fallback"):
            value = raw.get(key)
            if not isinstance(value, str) or not value.strip():
                bad(key, "required text is missing or empty")
            else:
                texts[key] = value.strip()
        numbers = self._numbers(raw.get("numbers"), lambda m: bad("numbers", m), required=True)
        frequency = raw.get("frequency")
        if frequency is not None and (not isinstance(frequency, str) or not frequency.strip()):
            bad("frequency", 'expected a text such as "Up to 2 msgs/mo"')
        terms_url = raw.get("terms_url")
        if terms_url is not None and (not isinstance(terms_url, str) or not terms_url.startswith(("https://", "http://"))):
            bad("terms_url", "expected an http(s) URL")
        settings: dict[str, Any] = {}
        for key, default, minimum in (
            ("consent_retention_days", DEFAULT_CONSENT_RETENTION_DAYS, 1),
            ("max_segments", DEFAULT_MAX_SEGMENTS, 1),
        ):
            value = raw.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                bad(key, f"expected a whole number of at least {minimum}, got {value!r}")
                value = default
            settings[key] = value
        self.max_segments = settings["max_segments"]
        confirmation = raw.get("opt_out_confirmation", "auto")
        if confirmation not in OPT_OUT_CONFIRMATIONS:
            bad("opt_out_confirmation", f"expected one of {', '.join(OPT_OUT_CONFIRMATIONS)}, got {confirmation!r}")
        replies: dict[str, ReplyTemplate] = {}
        program_stub = {"name": texts.get("name", "")}
        templates = [(key, default, {}) for key, default in PROGRAM_DEFAULTS.items()]
        templates.append(("near_miss_reply", NEAR_MISS_DEFAULT, {"keyword": "SAMPLE"}))
        for key, default, extra in templates:
            context = {"program": program_stub, **extra}
            template = self._template(raw.get(key, default), context, lambda m, k=key: bad(k, m))
            if template is not None:
                replies[key] = template
                self.warn_if_long("program", None, key, "[program]", template.render(**context))
        for key, value in texts.items():
            if key != "name":
                self.warn_if_long("program", None, key, "[program]", value)
        limits = {
            key: self._limit(raw[key], lambda m, k=key: bad(k, m)) for key in LIMIT_FIELDS if key in raw
        }
        if not ok:
            return None
        return Program(
            texts["name"], numbers, texts["help"], texts["fallback"], terms_url, replies,
            opt_out_confirmation=confirmation, **settings, **limits,
            frequency=frequency.strip() if frequency else None,
        )

    def _limit(self, raw: Any, bad, *, may_disable: bool = True) -> RateLimit | None:
        """`{ rate = 20, per_seconds = 3600, burst = 5 }`, or (in [program]) `false` for no limit."""
        if raw is False and may_disable:
            return None
        shape = "expected false or a table { rate = N, per_seconds = S, burst = B }"
        if not isinstance(raw, dict):
            bad(shape)
            return None
        unknown = set(raw) - {"rate", "per_seconds", "burst"}
        if unknown:
            bad(f"unknown field(s) {sorted(unknown)}: {shape}")
            return None
        rate, per_seconds, burst = raw.get("rate"), raw.get("per_seconds"), raw.get("burst", 1)
        for name, value in (("rate", rate), ("burst", burst)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                bad(f"{name} must be a whole number of at least 1, got {value!r}")
                return None
        if not isinstance(per_seconds, (int, float)) or isinstance(per_seconds, bool) or per_seconds <= 0:
            bad(f"per_seconds must be a positive number, got {per_seconds!r}")
            return None
        return RateLimit(rate=rate, per_seconds=float(per_seconds), burst=burst)

    def _numbers(self, raw: Any, bad, *, required: bool) -> tuple[str, ...]:
        if raw is None and not required:
            return ()
        if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
            bad("expected a non-empty list of numbers in E.164 (+15005550006) or short codes")
            return ()
        numbers: list[str] = []
        for number in raw:
            if SHORT_CODE_RE.match(number):
                numbers.append(number)
                continue
            try:
                parsed = phonenumbers.parse(number, None)
            except phonenumbers.NumberParseException:
                parsed = None
            if parsed is None or not number.startswith("+") or not phonenumbers.is_possible_number(parsed):
                bad(f"{number!r} is neither an E.164 number nor a short code")
                continue
            numbers.append(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
        return tuple(numbers)

    def _template(self, source: Any, context: dict[str, Any], bad) -> ReplyTemplate | None:
        if not isinstance(source, str) or not source.strip():
            bad("expected a non-empty reply text")
            return None
        try:
            template = ReplyTemplate(source)
            template.render(**context)
        except TemplateError as exc:
            bad(f"template does not render: {exc}")
            return None
        return template

    # -- [[campaigns]]

    def _campaign(self, index: int, raw: Any, program: Program | None) -> Campaign | None:
        if not isinstance(raw, dict):
            self.problem("campaigns", index, None, f"[[campaigns]] #{index + 1}", "expected a table")
            return None
        entry = _Entry(self, "campaigns", index, raw, CAMPAIGN_FIELDS)
        bad, label = entry.bad, entry.label

        slug = raw.get("slug")
        if not isinstance(slug, str) or not SLUG_RE.match(slug):
            bad("slug", "expected a URL-safe slug: lower-case letters, digits and '-'")

        kind = raw.get("kind", "coupon")
        if kind not in KINDS:
            bad("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")

        keywords = raw.get("keywords")
        if not isinstance(keywords, list) or not keywords or not all(isinstance(k, str) for k in keywords):
            bad("keywords", "expected a non-empty list of keywords")
            keywords = []
        for keyword in keywords:
            if not normalize(keyword):
                bad("keywords", f"{keyword!r} has no letters or digits")
            elif is_compliance_word(keyword):
                bad("keywords", f"{keyword!r} is a compliance word (STOP, START, HELP, …) and cannot be a keyword")

        ids: dict[str, int | None] = {}
        for key in ("application_id", "campaign_id", "loyalty_program_id"):
            value = raw.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
                bad(key, f"expected a positive integer, got {value!r}")
                value = None
            ids[key] = value
        for key in REQUIRED_BY_KIND.get(kind, ()):
            if key not in raw:
                bad(key, f"required for kind = {kind!r}")
        external = raw.get("external_campaign_id")
        if external is not None and (not isinstance(external, str) or not external.strip()):
            bad("external_campaign_id", "expected a non-empty string")
            external = None

        identifier = raw.get("identifier", "{phone}")
        if not isinstance(identifier, str):
            bad("identifier", "expected a string such as \"{campaign_id}:{phone}\"")
            identifier = "{phone}"
        else:
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(identifier) if name is not None}
            except ValueError as exc:
                bad("identifier", f"bad placeholder syntax: {exc}")
                names = {"phone"}
            if names - IDENTIFIER_FIELDS:
                bad("identifier", f"unknown placeholder(s) {sorted(names - IDENTIFIER_FIELDS)}; use {sorted(IDENTIFIER_FIELDS)}")
            elif "phone" not in names:
                bad("identifier", "must contain {phone}, or every customer would share one coupon")

        window: dict[str, dt.datetime | None] = {}
        for key in ("starts_at", "ends_at"):
            window[key] = self._datetime(raw.get(key), lambda m, k=key: bad(k, m))
        if window["starts_at"] and window["ends_at"] and window["starts_at"] >= window["ends_at"]:
            bad("ends_at", "must be after starts_at")

        numbers = self._numbers(raw.get("numbers"), lambda m: bad("numbers", m), required=False)
        if program is not None:
            for number in numbers:
                if number not in program.numbers:
                    bad("numbers", f"{number} is not one of [program].numbers")
        headline = raw.get("headline")
        if headline is not None and (not isinstance(headline, str) or not headline.strip()):
            bad("headline", "expected a non-empty text")
            headline = None

        context = {
            **_SAMPLE,
            "program": {"name": program.name if program else ""},
            "slug": slug,
            "keyword": keywords[0] if keywords else "",
            "keywords": keywords,
            "kind": kind,
            **window,
            **ids,
            "external_campaign_id": external,
        }
        reply = self._template(raw.get("reply"), context, lambda m: bad("reply", m))
        extra_replies = {
            key: self._template(raw.get(key, default), context, lambda m, k=key: bad(k, m))
            for key, default in DEFAULT_REPLIES.items()
        }
        limits = {
            key: self._limit(raw[key], lambda m, k=key: bad(k, m), may_disable=False)
            for key in LIMIT_FIELDS
            if key in raw
        }
        if not entry.ok or reply is None:
            return None
        for key, template in (("reply", reply), *extra_replies.items()):
            self.warn_if_long("campaigns", index, key, label, template.render(**context))
        return Campaign(
            slug=slug,
            keywords=tuple(keywords),
            kind=kind,
            reply=reply,
            external_campaign_id=external,
            application_id=ids["application_id"],
            campaign_id=ids["campaign_id"],
            loyalty_program_id=ids["loyalty_program_id"],
            identifier=identifier,
            starts_at=window["starts_at"],
            ends_at=window["ends_at"],
            numbers=numbers,
            headline=headline.strip() if headline else None,
            **extra_replies,
            **limits,
        )

    # -- [[posters]]

    def _posters(self, raw: Any, campaigns: list[Campaign], campaigns_given: bool) -> tuple[Poster, ...]:
        if not isinstance(raw, list):
            self.problems.append(Problem(str(self.path), "posters: expected [[posters]] tables"))
            return ()
        by_slug = {c.slug: c for c in campaigns}
        posters: list[Poster] = []
        for index, table in enumerate(raw):
            if not isinstance(table, dict):
                self.problem("posters", index, None, f"[[posters]] #{index + 1}", "expected a table")
                continue
            entry = _Entry(self, "posters", index, table, POSTER_FIELDS)
            bad = entry.bad
            slug, campaign, ref, headline = (table.get(k) for k in ("slug", "campaign", "ref", "headline"))
            if not isinstance(slug, str) or not SLUG_RE.match(slug):
                bad("slug", "expected a URL-safe slug: lower-case letters, digits and '-'")
            elif slug in by_slug:
                bad("slug", f"slug {slug!r} is already a campaign's slug")
            elif any(p.slug == slug for p in posters):
                bad("slug", f"slug {slug!r} is already used by another poster")
            if not isinstance(campaign, str) or not campaign:
                bad("campaign", "required: the slug of the campaign this poster advertises")
            elif campaign not in by_slug and campaigns_given:
                # A campaign with its own problems is already reported; only name real unknowns.
                if not any(isinstance(c, dict) and c.get("slug") == campaign for c in self.data.get("campaigns", [])):
                    bad("campaign", f"no campaign with slug {campaign!r}")
                else:
                    entry.ok = False
            if not isinstance(ref, str) or not REF_RE.match(ref):
                bad("ref", "expected a short reference of letters and digits with at least one digit, e.g. \"P7\"")
            elif any(p.campaign == campaign and normalize(p.ref) == normalize(ref) for p in posters):
                bad("ref", f"ref {ref!r} is already used by another poster of campaign {campaign!r}")
            if headline is not None and (not isinstance(headline, str) or not headline.strip()):
                bad("headline", "expected a non-empty text")
            if entry.ok:
                posters.append(Poster(slug, campaign, ref.upper(), headline.strip() if headline else None))
        return tuple(posters)

    def _datetime(self, raw: Any, bad) -> dt.datetime | None:
        if raw is None:
            return None
        value = raw
        if isinstance(raw, str):
            try:
                value = dt.datetime.fromisoformat(raw)
            except ValueError:
                bad(f"not a date-time: {raw!r} (write 2026-03-01T00:00:00Z)")
                return None
        if not isinstance(value, dt.datetime):
            bad(f"expected a date-time with a time zone, got {raw!r}")
            return None
        if value.tzinfo is None:
            bad(f"{value.isoformat()} has no time zone: add Z or an offset such as +01:00")
            return None
        return value

    # -- keywords across campaigns

    def _indexes(self, program: Program, placed: list[tuple[int, Campaign]]) -> dict[str | None, KeywordIndex[Campaign]]:
        """One index per served number; None holds the program-wide campaigns."""
        scopes: dict[str | None, list[tuple[int, Campaign]]] = {None: [], **{n: [] for n in program.numbers}}
        for position, campaign in placed:
            for number in campaign.numbers or (None, *program.numbers):
                scopes.setdefault(number, []).append((position, campaign))
        for number, members in scopes.items():
            owner: dict[str, tuple[str, Campaign]] = {}
            for position, campaign in members:
                label = f"[[campaigns]] #{position + 1} ({campaign.slug})"
                for keyword in campaign.keywords:
                    key = normalize(keyword)
                    other_keyword, other = owner.setdefault(key, (keyword, campaign))
                    where = f" on {number}" if campaign.numbers or other.numbers else ""
                    if other is not campaign:
                        self.problem(
                            "campaigns", position, "keywords", label,
                            f"keyword {keyword!r} is already used by campaign {other.slug!r}{where}",
                        )
                        continue
                    # A typo of one keyword must not land on another campaign's keyword.
                    for other_key, (other_keyword, other) in owner.items():
                        if other is campaign or max(len(key), len(other_key)) < NEAR_MISS_MIN_LENGTH:
                            continue
                        if one_edit_apart(key, other_key):
                            where = f" on {number}" if campaign.numbers or other.numbers else ""
                            self.problem(
                                "campaigns", position, "keywords", label,
                                f"keyword {keyword!r} is one edit from {other_keyword!r} of campaign "
                                f"{other.slug!r}{where}: a typo of one would reach the other",
                            )
        seen: dict[str, int] = {}
        for position, campaign in placed:
            first = seen.setdefault(campaign.slug, position)
            if first != position:
                self.problem(
                    "campaigns", position, "slug", f"[[campaigns]] #{position + 1} ({campaign.slug})",
                    f"slug {campaign.slug!r} is already used by [[campaigns]] #{first + 1}",
                )
        return {
            number: KeywordIndex((k, c) for _, c in members for k in c.keywords)
            for number, members in scopes.items()
        }
