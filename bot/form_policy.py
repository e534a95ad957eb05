"""Where the landing form may send a text: mobile numbers of the program's countries, nothing else.

A number typed on a public form costs money to text and may be anyone's, so
the form is stricter than the SMS channel: only numbers phonenumbers knows as
`MOBILE` or `FIXED_LINE_OR_MOBILE`, and only in the program's countries. That
refuses premium-rate, shared-cost, toll-free, UAN, VoIP, pager, personal and
unknown numbers, and the non-geographic codes (+881 satellite, +882/+883
international networks, region "001"), which belong to no country.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import phonenumbers
from phonenumbers import PhoneNumberType

SENDABLE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})

Refusal = Literal["invalid", "not_mobile", "country"]


def region_of(number: phonenumbers.PhoneNumber) -> str | None:
    """The number's region (ISO 3166), or its country code's main region; None for non-geographic codes."""
    region = phonenumbers.region_code_for_number(number) or phonenumbers.region_code_for_country_code(
        number.country_code)
    return None if region in (None, "ZZ", phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY) else region


def home_countries(numbers: Iterable[str]) -> tuple[str, ...]:
    """The regions of the program's E.164 numbers (short codes name none): the form's default countries."""
    regions: dict[str, None] = {}
    for number in numbers:
        if not number.startswith("+"):
            continue
        try:
            region = region_of(phonenumbers.parse(number, None))
        except phonenumbers.NumberParseException:
            continue
        if region:
            regions[region] = None
    return tuple(regions)


@dataclass(frozen=True)
class Verdict:
    """The typed number in E.164 and its region when the form may text it, else why not."""

    number: str | None = None
    region: str | None = None
    refusal: Refusal | None = None


def sendable(raw: str, countries: tuple[str, ...], near: str) -> Verdict:
    """May the form text `raw`? Read without a + in the region of our number `near` (or the first country)."""
    default = home_countries([near])
    region = default[0] if default and default[0] in countries else (countries[0] if countries else "US")
    try:
        parsed = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException:
        return Verdict(refusal="invalid")
    if not phonenumbers.is_valid_number(parsed):
        return Verdict(refusal="invalid")
    if phonenumbers.number_type(parsed) not in SENDABLE_TYPES:
        return Verdict(refusal="not_mobile")
    found = region_of(parsed)
    if found not in countries:
        return Verdict(refusal="country")
    return Verdict(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), found)
