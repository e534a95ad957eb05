"""Sender addresses: E.164 normalisation, and the masked and hashed forms for logs."""

from __future__ import annotations

import hashlib
import hmac
import re

import phonenumbers


def to_e164(sender: str) -> str | None:
    """`sender` in E.164 when it is a valid international number, else None.

    Twilio sends E.164 for phones, but also short codes ("68849") and
    alphanumeric senders ("SUPPORT"); those stay as they are elsewhere.
    """
    if not sender.startswith("+"):
        return None
    try:
        parsed = phonenumbers.parse(sender, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask(sender: str) -> str:
    """A form safe for logs that a person can still tell apart: +15•••••••67."""
    if len(sender) <= 5:
        return "•" * len(sender)
    return sender[:3] + "•" * (len(sender) - 5) + sender[-2:]


def hash_sender(secret: str, sender: str) -> str:
    """A stable pseudonym for analytics and logs: HMAC-SHA256 keyed with BOT_SECRET."""
    return hmac.new(secret.encode(), sender.encode(), hashlib.sha256).hexdigest()[:16]


#: A number as messages quote one: + and digits (maybe spaced), or 8-15 digits in a row.
_NUMBER_IN_TEXT = re.compile(r"\+\d(?:[ .-]?\d){6,14}|\b\d{8,15}\b")


def mask_numbers(text: str) -> str:
    """`text` (say, a Twilio error message quoting the 'To' number) with every phone number in it masked."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask(re.sub(r"[^\d+]", "", m.group())), text)
