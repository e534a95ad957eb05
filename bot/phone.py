"""Sender addresses: the one E.164 normalisation, and the masked and hashed forms for logs.

A channel adapter calls `address_of` once on the raw `From` it received;
everything after (keys, log hashes, Talon.One identifiers) uses the number it
gives. Any ``+`` followed by 8 to 15 digits is a person's number, whether or
not phonenumbers knows the range: numbering plans change faster than libraries.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from typing import NamedTuple

#: Twilio's channel prefixes on `From`; a bare number is an SMS. "rcs:" is the seam for RCS.
CHANNEL_PREFIXES = ("whatsapp", "rcs")
_PERSON = re.compile(r"\+[0-9]{8,15}")
#: What people and exports put inside a number: "+1 (202) 555-0143", "+44.20.7946.0958".
_SEPARATORS = re.compile(r"[\s().\-/\u00a0\u2010-\u2015]")


class Address(NamedTuple):
    """Who a message came from: the channel and, for a person, the E.164 number."""

    channel: str
    #: E.164, or None for an alphanumeric sender, a short code or an empty `From`.
    number: str | None
    raw: str


def address_of(raw: str, default_channel: str = "sms") -> Address:
    """The channel and E.164 number of a raw `From` ("whatsapp:+1 202 555 0143" -> whatsapp, +12025550143)."""
    channel, rest = default_channel, raw.strip()
    prefix, colon, tail = rest.partition(":")
    if colon and prefix.lower() in CHANNEL_PREFIXES:
        channel, rest = prefix.lower(), tail
    return Address(channel, to_e164(rest), raw)


@functools.lru_cache(maxsize=1024)
def bare_address(raw: str) -> str:
    """A Twilio address without its channel: "whatsapp:+12025550143" -> +12025550143; a short code as it is.

    Cached: every webhook asks it of its `To`, one of the program's few numbers."""
    return address_of(raw).number or raw.strip()


def to_e164(sender: str) -> str | None:
    """`sender` in E.164 when it is a person's number ("+" and 8-15 digits, separators ignored), else None.

    Short codes ("68849"), alphanumeric senders ("SUPPORT") and empty strings are None.
    """
    candidate = _SEPARATORS.sub("", sender.strip())
    return candidate if _PERSON.fullmatch(candidate) else None


def mask(sender: str) -> str:
    """A form safe for logs that a person can still tell apart: +15•••••••67."""
    if len(sender) <= 5:
        return "•" * len(sender)
    return sender[:3] + "•" * (len(sender) - 5) + sender[-2:]


def hash_sender(secret: str, sender: str) -> str:
    """A stable pseudonym for analytics and logs: HMAC-SHA256 keyed with BOT_SECRET."""
    keyed = _keyed_hmac(secret).copy()
    keyed.update(sender.encode())
    return keyed.hexdigest()[:16]


@functools.lru_cache(maxsize=8)
def _keyed_hmac(secret: str) -> hmac.HMAC:
    """HMAC-SHA256 with `secret` set up once (the key's padding and first blocks); `hash_sender` copies it."""
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


#: A number as messages quote one: + and digits (maybe spaced), or 8-15 digits in a row.
_NUMBER_IN_TEXT = re.compile(r"\+\d(?:[ .-]?\d){6,14}|\b\d{8,15}\b")


def mask_numbers(text: str) -> str:
    """`text` (say, a Twilio error message quoting the 'To' number) with every phone number in it masked."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask(re.sub(r"[^\d+]", "", m.group())), text)
