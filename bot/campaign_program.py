"""The campaign file's `[program]` table: its fields, the default texts of its standard replies, and
the checks of its outreach and landing-form settings (the send rate, the allowed hours and default
zone, the form's countries and limits).

Each reports through `bad(key, message)` like the loader's other checks; the loader
(`campaign_file`) walks the tables and calls them.
"""

from __future__ import annotations

from typing import Any

from .campaign_values import default_zone, parse_allowed_hours, parse_countries, parse_limit, parse_zone_name
from .form_policy import home_countries
from .limits import FormLimits

#: The rate limits a [program] (and a campaign) may set.
LIMIT_FIELDS = ("sender_limit", "upstream_limit")
#: [program] settings of the landing form: field -> FormLimits attribute.
FORM_LIMIT_FIELDS = {"form_client_limit": "client", "form_number_limit": "number", "form_country_limit": "country"}
#: The standard replies' default templates, each a [program] field of its own.
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
PROGRAM_FIELDS = {
    "name", "numbers", "help", "fallback", "terms_url", "frequency", "near_miss_reply", "consent_retention_days",
    "max_segments", "opt_out_confirmation", "send_rate", "daily_cap", "quiet_hours", "timezone", "whatsapp_numbers",
    *PROGRAM_DEFAULTS, *LIMIT_FIELDS,
    "countries", *FORM_LIMIT_FIELDS, "form_hourly_budget",
}


def outreach_settings(raw: dict[str, Any], numbers: tuple[str, ...], bad) -> dict[str, Any]:
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


def form_settings(raw: dict[str, Any], numbers: tuple[str, ...], bad, warn) -> tuple[tuple[str, ...], FormLimits]:
    """The landing form's countries (default: those of `numbers`, `warn(key, message)` when there are
    none) and limits."""
    if "countries" in raw:
        countries = parse_countries(raw["countries"], lambda m: bad("countries", m))
    else:
        countries = home_countries(numbers)
        if not countries:
            warn("numbers", "no E.164 number to take the landing form's countries from, and no countries set: "
                            "the form texts no one")
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
