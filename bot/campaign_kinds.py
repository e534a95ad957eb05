"""The campaign file's checks of one kind's own fields: a competition's rules and entry reply, a
birthday campaign's send time and BDAY replies, and a campaign's WhatsApp template.

Each reports through `bad(key, message)` like the loader's other checks and returns the `Campaign`
arguments it found; the loader (`campaign_file`) walks the tables and calls them.
"""

from __future__ import annotations

from typing import Any

from .campaign_values import parse_local_time, parse_template
from .campaigns import CONTENT_SID_RE, Program, WhatsAppTemplate
from .competition_wording import missing_wording, with_legal_wording

#: The fields each kind must set.
REQUIRED_BY_KIND: dict[str, tuple[str, ...]] = {
    "coupon": ("application_id", "campaign_id", "external_campaign_id"),
    "loyalty": ("loyalty_program_id",),
    "referral": ("campaign_id",),
    # An entry is the Talon.One coupon created or retrieved with the sender's identifier.
    "competition": ("application_id", "campaign_id", "external_campaign_id", "rules_url", "starts_at", "ends_at",
                    "winner_reply"),
    "birthday": ("application_id", "campaign_id", "external_campaign_id"),
}

#: A competition's closed replies (outside its window, decided on Redis's clock).
COMPETITION_REPLIES = {
    "not_started_reply": "{{ program.name }}: this competition has not opened yet. Please text again from "
                         "{{ starts_at }}. Rules: {{ rules_url }}",
    "ended_reply": "{{ program.name }}: sorry, this competition is closed. Rules: {{ rules_url }}",
}
#: A competition's own fields; only `kind = "competition"` may set them.
COMPETITION_FIELDS = ("rules_url", "winner_reply", "consolation_reply", "max_entries_per_person")

#: A birthday campaign's identifier may also name the year, and does by default: a coupon a year.
BIRTHDAY_IDENTIFIER = "{phone}:{year}"
BIRTHDAY_DEFAULTS = {
    "send_at": "10:00",
    "confirm_reply": "{{ program.name }}: thanks! We will text you a birthday treat on {{ birthday }}. "
                     "Reply STOP to opt out.",
    "ask_reply": "{{ program.name }}: when is your birthday? Reply with the month and day, e.g. July 14.",
}

#: A template's ContentVariables when the campaign names none: Twilio's {{1}} is the code.
DEFAULT_CONTENT_VARIABLES = {"1": "{{ code }}"}


def competition_fields(raw: dict[str, Any], kind: str, bad) -> dict[str, Any]:
    """A competition's own fields as `Campaign` arguments (the reply templates are added by the caller)."""
    if kind != "competition":
        for key in COMPETITION_FIELDS:
            if key in raw:
                bad(key, f"only a kind = \"competition\" campaign has {key}")
        return {}
    fields: dict[str, Any] = {}
    rules_url = raw.get("rules_url")
    if "rules_url" in raw:
        if not isinstance(rules_url, str) or not rules_url.startswith(("https://", "http://")) or " " in rules_url:
            bad("rules_url", "expected the http(s) URL of the competition's official rules")
        else:
            fields["rules_url"] = rules_url
    most = raw.get("max_entries_per_person", 1)
    if not isinstance(most, int) or isinstance(most, bool) or most < 1:
        bad("max_entries_per_person", f"expected a whole number of at least 1, got {most!r}")
    else:
        fields["max_entries_per_person"] = most
    return fields


def entry_reply_as_sent(text: str, rules_url: str | None, warn) -> str:
    """A competition's entry reply as sent (with the legal wording), calling `warn(message)` when the
    template leaves the wording to the bot."""
    if rules_url is None:
        return text
    missing = missing_wording(text, rules_url)
    if missing:
        warn(f"the entry reply lacks {' and '.join(repr(m) for m in missing)}: the bot appends it to every entry "
             "reply; write it into the template to choose its place and wording")
    return with_legal_wording(text, rules_url)


def birthday_fields(
    raw: dict[str, Any], kind: str, program: Program | None, context: dict[str, Any], bad
) -> dict[str, Any]:
    """A birthday campaign's send time (inside the program's allowed hours) and its BDAY replies;
    another kind may set none of them."""
    if kind != "birthday":
        for key in sorted(set(BIRTHDAY_DEFAULTS) & set(raw)):
            bad(key, 'only for kind = "birthday"')
        return {}
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


def whatsapp_template(raw: dict[str, Any], context: dict[str, Any], bad) -> WhatsAppTemplate | None:
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
