"""The campaign file (TOML): reading and validation with places.

`load_campaigns(path)` returns a `CampaignBook` or raises `CampaignFileError`
listing every problem found, each with its line and table, so `bot check` can
print them all at once and start-up can refuse a broken file. Every table,
`[program]` as much as each `[[campaigns]]` and `[[posters]]` entry, is checked
by one `_Entry`; the checks across the whole file are in `campaign_lint`.
"""

from __future__ import annotations

import datetime as dt
import re
import string
import tomllib
from pathlib import Path
from typing import Any

from .campaign_lint import check_keywords, check_slugs, over_budget
from .campaign_values import (
    default_zone,
    parse_allowed_hours,
    parse_countries,
    parse_datetime,
    parse_limit,
    parse_local_time,
    parse_numbers,
    parse_template,
    parse_zone_name,
)
from .campaigns import (
    CONTENT_SID_RE,
    DEFAULT_CONSENT_RETENTION_DAYS,
    DEFAULT_MAX_SEGMENTS,
    KINDS,
    OPT_OUT_CONFIRMATIONS,
    REF_RE,
    SHORT_CODE_RE,
    Campaign,
    CampaignBook,
    Poster,
    Program,
    WhatsAppTemplate,
)
from .competition_wording import missing_wording, with_legal_wording
from .compliance import is_compliance_word
from .errors import CampaignFileError, Problem
from .form_policy import home_countries
from .keywords import normalize
from .limits import FormLimits
from .replies import ReplyTemplate

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")

#: Placeholders allowed in a campaign's `identifier` (Python format syntax).
IDENTIFIER_FIELDS = frozenset({"phone", "slug", "campaign_id", "application_id", "external_campaign_id"})
#: A birthday campaign's identifier may also name the year, and does by default: a coupon a year.
BIRTHDAY_IDENTIFIER = "{phone}:{year}"
BIRTHDAY_DEFAULTS = {
    "send_at": "10:00",
    "confirm_reply": "{{ program.name }}: thanks! We will text you a birthday treat on {{ birthday }}. "
                     "Reply STOP to opt out.",
    "ask_reply": "{{ program.name }}: when is your birthday? Reply with the month and day, e.g. July 14.",
}

DEFAULT_REPLIES = {
    "not_started_reply": "{{ program.name }}: this offer has not started yet. Please text again from {{ starts_at }}.",
    "ended_reply": "{{ program.name }}: sorry, this offer has ended.",
}
#: A competition's closed replies (outside its window, decided on Redis's clock).
COMPETITION_REPLIES = {
    "not_started_reply": "{{ program.name }}: this competition has not opened yet. Please text again from "
                         "{{ starts_at }}. Rules: {{ rules_url }}",
    "ended_reply": "{{ program.name }}: sorry, this competition is closed. Rules: {{ rules_url }}",
}
#: A competition's own fields; only `kind = "competition"` may set them.
COMPETITION_FIELDS = ("rules_url", "winner_reply", "consolation_reply", "max_entries_per_person")

PROGRAM_DEFAULTS = {
    "opt_out_reply": (
        "{{ program.name }}: you are unsubscribed and will get no more messages. Reply START to resubscribe."
    ),
    "opt_in_reply": "{{ program.name }}: you are subscribed again. Reply HELP for help, STOP to cancel.",
    "limited_reply": "{{ program.name }}: too many messages. Please wait a while before texting again.",
    "error_reply": (
        "{{ program.name }}: sorry, we could not get your code right now. Please text again in a few minutes."
    ),
    "busy_reply": "{{ program.name }}: we are busy right now. Please text again in a minute.",
    "pending_reply": "{{ program.name }}: your code is on its way and will arrive by text shortly.",
    #: Appended to the first message the bot sends a number (CTIA's opt-in confirmation).
    "opt_in_notice": "{{ program.name }}: Reply STOP to opt out, HELP for help.",
}
#: Rendered with `keyword`: the one live keyword a text is one edit away from.
NEAR_MISS_DEFAULT = "{{ program.name }}: did you mean {{ keyword }}? Text {{ keyword }} to get it."
LIMIT_FIELDS = ("sender_limit", "upstream_limit")
#: [program] settings of the landing form: field -> FormLimits attribute.
FORM_LIMIT_FIELDS = {"form_client_limit": "client", "form_number_limit": "number", "form_country_limit": "country"}

PROGRAM_FIELDS = {
    "name", "numbers", "help", "fallback", "terms_url", "frequency", "near_miss_reply", "consent_retention_days",
    "max_segments", "opt_out_confirmation", "send_rate", "daily_cap", "quiet_hours", "timezone", "whatsapp_numbers",
    *PROGRAM_DEFAULTS, *LIMIT_FIELDS,
    "countries", *FORM_LIMIT_FIELDS, "form_hourly_budget",
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
    "send_at",
    "confirm_reply",
    "ask_reply",
    "whatsapp_content_sid",
    "whatsapp_content_variables",
    *COMPETITION_FIELDS,
    *DEFAULT_REPLIES,
    *LIMIT_FIELDS,
}
REQUIRED_BY_KIND: dict[str, tuple[str, ...]] = {
    "coupon": ("application_id", "campaign_id", "external_campaign_id"),
    "loyalty": ("loyalty_program_id",),
    "referral": ("campaign_id",),
    # An entry is the Talon.One coupon created or retrieved with the sender's identifier.
    "competition": ("application_id", "campaign_id", "external_campaign_id", "rules_url", "starts_at", "ends_at",
                    "winner_reply"),
    "birthday": ("application_id", "campaign_id", "external_campaign_id"),
}

_SAMPLE = {"code": "SAMPLE-CODE", "balance": 120, "tier": "silver", "points_to_next_tier": 80, "entry": 1234}


#: A template's ContentVariables when the campaign names none: Twilio's {{1}} is the code.
DEFAULT_CONTENT_VARIABLES = {"1": "{{ code }}"}


def _whatsapp_template(raw: dict[str, Any], context: dict[str, Any], bad) -> WhatsAppTemplate | None:
    """A campaign's `whatsapp_content_sid` and `whatsapp_content_variables`, checked."""
    sid = raw.get("whatsapp_content_sid")
    variables = raw.get("whatsapp_content_variables")
    if sid is None:
        if variables is not None:
            bad("whatsapp_content_variables", "needs whatsapp_content_sid")
        return None
    if not isinstance(sid, str) or not CONTENT_SID_RE.match(sid):
        bad("whatsapp_content_sid", f"expected a Content Template SID (HX and 32 hex digits), got {sid!r}")
        return None
    variables = DEFAULT_CONTENT_VARIABLES if variables is None else variables
    if not isinstance(variables, dict) or not variables or not all(isinstance(k, str) for k in variables):
        bad("whatsapp_content_variables", 'expected a table such as { "1" = "{{ code }}" }')
        return None
    parsed = {
        name: parse_template(source, context, lambda m, n=name: bad("whatsapp_content_variables", f"{n}: {m}"))
        for name, source in variables.items()
    }
    if any(template is None for template in parsed.values()):
        return None
    return WhatsAppTemplate(sid, parsed)  # type: ignore[arg-type]


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
    """One table under validation, `[program]` (index None) or a `[[table]]` entry: its label, and
    the problems reported against it; a field it does not know is the first of them."""

    def __init__(self, loader: _Loader, table: str, index: int | None, raw: dict[str, Any], fields: set[str]):
        self.loader, self.table, self.index = loader, table, index
        if index is None:
            self.label = f"[{table}]"
        else:
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
        message = over_budget(text, self.max_segments)
        if message:
            self.warnings.append(Problem(self.where.place(table, index, key, label), message))

    def warn_if_notice_overflows(
        self, table: str, index: int | None, key: str, label: str, program: Program, text: str
    ) -> None:
        """A warning when the first message to a number (`text` plus the opt-in confirmation the bot
        appends) needs more segments than the budget, though `text` alone does not."""
        first = program.with_opt_in_notice(text)
        message = over_budget(first, self.max_segments)
        if message and first != text and over_budget(text, self.max_segments) is None:
            message = message.replace("reply needs", "as the first message to a number, with the opt-in "
                                      "confirmation ([program].opt_in_notice) appended, reply needs", 1)
            self.warnings.append(Problem(self.where.place(table, index, key, label), message))

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
        if program is not None:
            check_keywords(program, placed, self.problem)
            check_slugs(placed, self.problem)
        posters = self._posters(self.data.get("posters", []), [c for _, c in placed], bool(raw_campaigns))
        if self.problems or program is None:
            # A clash seen from several numbers is one problem, reported once.
            raise CampaignFileError(str(self.path), list(dict.fromkeys(self.problems)))
        return CampaignBook.build(
            self.path, program, (c for _, c in placed), posters, warnings=dict.fromkeys(self.warnings)
        )

    # -- [program]

    def _program(self, raw: Any) -> Program | None:
        if not isinstance(raw, dict):
            self.problems.append(Problem(str(self.path), "missing [program] table"))
            return None
        entry = _Entry(self, "program", None, raw, PROGRAM_FIELDS)
        bad = entry.bad
        texts: dict[str, str] = {}
        for key in ("name", "help", "fallback"):
            value = raw.get(key)
            if not isinstance(value, str) or not value.strip():
                bad(key, "required text is missing or empty")
            else:
                texts[key] = value.strip()
        numbers = parse_numbers(raw.get("numbers"), lambda m: bad("numbers", m), required=True)
        whatsapp_numbers = parse_numbers(
            raw.get("whatsapp_numbers"), lambda m: bad("whatsapp_numbers", m), required=False
        )
        for number in whatsapp_numbers:
            if SHORT_CODE_RE.match(number):
                bad("whatsapp_numbers", f"{number} is a short code: a WhatsApp sender is an E.164 number")
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
            if key == "opt_in_notice" and raw.get(key) == "":
                replies[key] = ReplyTemplate("")  # the program's replies carry STOP and HELP themselves
                continue
            template = parse_template(raw.get(key, default), context, lambda m, k=key: bad(k, m))
            if template is not None:
                replies[key] = template
                self.warn_if_long("program", None, key, "[program]", template.render(**context))
        for key, value in texts.items():
            if key != "name":
                self.warn_if_long("program", None, key, "[program]", value)
        limits = {
            key: parse_limit(raw[key], lambda m, k=key: bad(k, m)) for key in LIMIT_FIELDS if key in raw
        }
        outreach = self._outreach_settings(raw, numbers, bad)
        countries, form_limits = self._form_settings(raw, numbers, bad)
        if not entry.ok:
            return None
        return Program(
            texts["name"], numbers, texts["help"], texts["fallback"], terms_url, replies,
            opt_out_confirmation=confirmation, **settings, **limits, **outreach, whatsapp_numbers=whatsapp_numbers,
            frequency=frequency.strip() if frequency else None, countries=countries, form_limits=form_limits,
        )

    def _outreach_settings(self, raw: dict[str, Any], numbers: tuple[str, ...], bad) -> dict[str, Any]:
        """The engine's send rate, the allowed hours and the zone of a number whose own is unknown."""
        outreach: dict[str, Any] = {}
        send_rate = raw.get("send_rate", 1)
        if not isinstance(send_rate, (int, float)) or isinstance(send_rate, bool) or not 0 < send_rate <= 1000:
            bad("send_rate", f"expected texts per second, more than 0 and at most 1000, got {send_rate!r}")
        else:
            outreach["send_rate"] = float(send_rate)
        if "daily_cap" in raw:
            cap = raw["daily_cap"]
            if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
                bad("daily_cap", f"expected the brand's texts per day (T-Mobile's cap), at least 1, got {cap!r}")
            else:
                outreach["daily_cap"] = cap
        if "quiet_hours" in raw:
            hours = parse_allowed_hours(raw["quiet_hours"], lambda m: bad("quiet_hours", m))
            if hours is not None:
                outreach["allowed_hours"] = hours
        zone = parse_zone_name(raw["timezone"], lambda m: bad("timezone", m)) if "timezone" in raw else None
        outreach["timezone"] = zone or default_zone(numbers)
        return outreach

    def _form_settings(self, raw: dict[str, Any], numbers: tuple[str, ...], bad) -> tuple[tuple[str, ...], FormLimits]:
        """The landing form's countries (default: those of `numbers`) and limits."""
        if "countries" in raw:
            countries = parse_countries(raw["countries"], lambda m: bad("countries", m))
        else:
            countries = home_countries(numbers)
            if not countries:
                self.warnings.append(Problem(
                    self.where.place("program", None, "numbers", "[program]"),
                    "no E.164 number to take the landing form's countries from, and no countries set: "
                    "the form texts no one",
                ))
        found: dict[str, Any] = {}
        for key, attribute in FORM_LIMIT_FIELDS.items():
            if key in raw:
                found[attribute] = parse_limit(raw[key], lambda m, k=key: bad(k, m), may_disable=False)
        budget = raw.get("form_hourly_budget", FormLimits.hourly_budget)
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < 0:
            bad("form_hourly_budget", f"expected a whole number of texts per hour (0: none), got {budget!r}")
        else:
            found["hourly_budget"] = budget
        return countries, FormLimits(**{k: v for k, v in found.items() if v is not None})

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

        birthday = kind == "birthday"
        identifier = raw.get("identifier", BIRTHDAY_IDENTIFIER if birthday else "{phone}")
        if not isinstance(identifier, str):
            bad("identifier", "expected a string such as \"{campaign_id}:{phone}\"")
            identifier = "{phone}"
        else:
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(identifier) if name is not None}
            except ValueError as exc:
                bad("identifier", f"bad placeholder syntax: {exc}")
                names = {"phone"}
            allowed = IDENTIFIER_FIELDS | {"year"} if birthday else IDENTIFIER_FIELDS
            if names - allowed:
                bad("identifier", f"unknown placeholder(s) {sorted(names - allowed)}; use {sorted(allowed)}")
            elif "phone" not in names:
                bad("identifier", "must contain {phone}, or every customer would share one coupon")

        window: dict[str, dt.datetime | None] = {}
        for key in ("starts_at", "ends_at"):
            window[key] = parse_datetime(raw.get(key), lambda m, k=key: bad(k, m))
        if window["starts_at"] and window["ends_at"] and window["starts_at"] >= window["ends_at"]:
            bad("ends_at", "must be after starts_at")

        numbers = parse_numbers(raw.get("numbers"), lambda m: bad("numbers", m), required=False)
        if program is not None:
            for number in numbers:
                if number not in program.served_numbers:
                    bad("numbers", f"{number} is not one of [program].numbers or whatsapp_numbers")
        headline = raw.get("headline")
        if headline is not None and (not isinstance(headline, str) or not headline.strip()):
            bad("headline", "expected a non-empty text")
            headline = None

        competition = self._competition(entry, raw, kind)
        context = {
            **_SAMPLE,
            "rules_url": competition.get("rules_url"),
            "program": {"name": program.name if program else ""},
            "slug": slug,
            "keyword": keywords[0] if keywords else "",
            "keywords": keywords,
            "kind": kind,
            **window,
            **ids,
            "external_campaign_id": external,
        }
        reply = parse_template(raw.get("reply"), context, lambda m: bad("reply", m))
        defaults = COMPETITION_REPLIES if kind == "competition" else DEFAULT_REPLIES
        extra_replies = {
            key: parse_template(raw.get(key, default), context, lambda m, k=key: bad(k, m))
            for key, default in defaults.items()
        }
        for key in ("winner_reply", "consolation_reply"):
            if key in raw:
                competition[key] = parse_template(raw[key], context, lambda m, k=key: bad(k, m))
        whatsapp_template = _whatsapp_template(raw, context, bad)
        limits = {
            key: parse_limit(raw[key], lambda m, k=key: bad(k, m), may_disable=False)
            for key in LIMIT_FIELDS
            if key in raw
        }
        birthday_fields = self._birthday_fields(raw, program, context, bad) if birthday else {}
        if not birthday:
            for key in sorted(set(BIRTHDAY_DEFAULTS) & set(raw)):
                bad(key, 'only for kind = "birthday"')
        if not entry.ok or reply is None:
            return None
        sent = [("reply", reply), *extra_replies.items()]
        sent += [(key, competition[key]) for key in ("winner_reply", "consolation_reply") if competition.get(key)]
        for key, template in sent:
            text = template.render(**context)
            if key == "reply" and kind == "competition":
                text = self._legal_wording(index, label, text, competition["rules_url"])
            self.warn_if_long("campaigns", index, key, label, text)
        if program is not None:
            self.warn_if_notice_overflows("campaigns", index, "reply", label, program, reply.render(**context))
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
            whatsapp_template=whatsapp_template,
            **competition,
            **extra_replies,
            **limits,
            **birthday_fields,
        )

    def _birthday_fields(
        self, raw: dict[str, Any], program: Program | None, context: dict[str, Any], bad
    ) -> dict[str, Any]:
        """A birthday campaign's send time (inside the program's allowed hours) and its BDAY replies."""
        send_at = parse_local_time(raw.get("send_at", BIRTHDAY_DEFAULTS["send_at"]), lambda m: bad("send_at", m))
        if send_at is not None and program is not None and send_at not in program.allowed_hours:
            bad("send_at", f"{send_at:%H:%M} is outside the allowed hours {program.allowed_hours} "
                           "([program] quiet_hours; at most 08:00-20:00 local time)")
        replies = {
            key: parse_template(raw.get(key, BIRTHDAY_DEFAULTS[key]), {**context, "birthday": "July 14"},
                                lambda m, k=key: bad(k, m))
            for key in ("confirm_reply", "ask_reply")
        }
        return {"send_at": send_at, **replies}
    def _competition(self, entry: _Entry, raw: dict[str, Any], kind: str) -> dict[str, Any]:
        """A competition's own fields as `Campaign` arguments (the reply templates are added by the caller)."""
        if kind != "competition":
            for key in COMPETITION_FIELDS:
                if key in raw:
                    entry.bad(key, f"only a kind = \"competition\" campaign has {key}")
            return {}
        fields: dict[str, Any] = {}
        rules_url = raw.get("rules_url")
        if "rules_url" in raw:
            if not isinstance(rules_url, str) or not rules_url.startswith(("https://", "http://")) or " " in rules_url:
                entry.bad("rules_url", "expected the http(s) URL of the competition's official rules")
            else:
                fields["rules_url"] = rules_url
        most = raw.get("max_entries_per_person", 1)
        if not isinstance(most, int) or isinstance(most, bool) or most < 1:
            entry.bad("max_entries_per_person", f"expected a whole number of at least 1, got {most!r}")
        else:
            fields["max_entries_per_person"] = most
        return fields

    def _legal_wording(self, index: int, label: str, text: str, rules_url: str | None) -> str:
        """The entry reply as sent (with the legal wording), warning when the template leaves it to the bot."""
        if rules_url is None:
            return text
        missing = missing_wording(text, rules_url)
        if missing:
            self.warnings.append(Problem(
                self.where.place("campaigns", index, "reply", label),
                f"the entry reply lacks {' and '.join(repr(m) for m in missing)}: the bot appends it to every entry "
                "reply; write it into the template to choose its place and wording",
            ))
        return with_legal_wording(text, rules_url)

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
