"""How many SMS segments a text costs: GSM-7 or UCS-2, single or concatenated.

A text whose every character is in the GSM 03.38 default alphabet (or its
extension table, where each character costs two septets: the escape and the
character) goes as GSM-7: 160 septets in one segment, 153 per segment once it
is split (the user-data header takes the other 7). Any other character makes
the whole text UCS-2: 70 UTF-16 units in one segment, 67 per segment when
split; a character outside the Basic Multilingual Plane (most emoji) takes two
units. A segment never ends in the middle of an escape pair or a surrogate
pair, so the split is counted by packing, not by dividing.

Twilio's optional "Smart Encoding" may swap look-alikes (curly quotes, long
dashes) for GSM-7 characters before sending; this module does not assume it.
See https://www.twilio.com/docs/glossary/what-sms-character-limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["GSM-7", "UCS-2"]

#: GSM 03.38 default alphabet (0x1B, the escape to the extension table, left out).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: GSM 03.38 extension table: each costs an escape septet plus its own.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE = {"GSM-7": 160, "UCS-2": 70}
CONCATENATED = {"GSM-7": 153, "UCS-2": 67}


@dataclass(frozen=True)
class SegmentCount:
    encoding: Encoding
    #: septets (GSM-7) or UTF-16 code units (UCS-2) of the whole text
    units: int
    segments: int

    def __str__(self) -> str:
        unit = "septets" if self.encoding == "GSM-7" else "UTF-16 units"
        return f"{self.segments} segment(s), {self.encoding}, {self.units} {unit}"


def encoding_of(text: str) -> Encoding:
    return "GSM-7" if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text) else "UCS-2"


def _unit_cost(ch: str, encoding: Encoding) -> int:
    if encoding == "GSM-7":
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def count_segments(text: str) -> SegmentCount:
    """The encoding, size and number of segments of `text` (an empty text is one segment)."""
    encoding = encoding_of(text)
    costs = [_unit_cost(ch, encoding) for ch in text]
    units = sum(costs)
    if units <= SINGLE[encoding]:
        return SegmentCount(encoding, units, 1)
    limit = CONCATENATED[encoding]
    segments, used = 1, 0
    for cost in costs:
        if used + cost > limit:  # an escape or surrogate pair is never split
            segments, used = segments + 1, 0
        used += cost
    return SegmentCount(encoding, units, segments)
