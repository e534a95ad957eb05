"""SMS segment counting: GSM-7 (with its extension table) and UCS-2."""

from __future__ import annotations

import pytest

from bot.segments import count_segments, encoding_of


@pytest.mark.parametrize(
    "text,units,segments",
    [
        ("", 0, 1),
        ("Your Acme code: T1-00001. Show it at the till.", 46, 1),
        ("a" * 160, 160, 1),
        ("a" * 161, 161, 2),
        ("a" * 306, 306, 2),
        ("a" * 307, 307, 3),
        # GSM-7 accents and Greek capitals are one septet each.
        ("Ñandù é à ÆØÅ ΔΦΓΛΩΠΨΣΘΞ ¿¡ £$¥ §@" + "x" * 100, 134, 1),
    ],
)
def test_gsm7_basic(text, units, segments):
    count = count_segments(text)
    assert (count.encoding, count.units, count.segments) == ("GSM-7", units, segments)


@pytest.mark.parametrize(
    "text,units,segments",
    [
        ("€" * 80, 160, 1),  # each extension character is an escape plus itself
        ("€" * 81, 162, 2),
        ("Save 10€ [today] {only} ~ ^ | \\", 40, 1),
        ("a" * 155 + "[]", 159, 1),
        ("a" * 157 + "[]", 161, 2),
        # 306 septets would fit two segments, but the escape pair cannot straddle them:
        ("a" * 152 + "€" + "a" * 152, 306, 3),
    ],
)
def test_gsm7_with_the_extension_table(text, units, segments):
    count = count_segments(text)
    assert (count.encoding, count.units, count.segments) == ("GSM-7", units, segments)


@pytest.mark.parametrize(
    "text,units,segments",
    [
        ("ж" * 70, 70, 1),
        ("ж" * 71, 71, 2),
        ("ж" * 134, 134, 2),
        ("ж" * 135, 135, 3),
        # One character outside GSM-7 turns the whole text into UCS-2.
        ("Your code: T1-00001 ✓", 21, 1),
        ("Your code is ready — show it at the till. " + "x" * 40, 82, 2),
        ("ç" * 70, 70, 1),  # lower-case ç is not GSM-7 (only Ç is)
        # Emoji outside the BMP take two UTF-16 units, and a pair is never split.
        ("🎉" * 35, 70, 1),
        ("a" * 66 + "🎉", 68, 1),
        ("a" * 69 + "🎉", 71, 2),
        ("ú" + "a" * 69, 70, 1),  # ú is not GSM-7 (ù is)
        ("a" * 66 + "🎉" + "a" * 66, 134, 3),
    ],
)
def test_ucs2(text, units, segments):
    count = count_segments(text)
    assert (count.encoding, count.units, count.segments) == ("UCS-2", units, segments)


def test_encoding_of():
    assert encoding_of("Reply STOP to cancel.") == "GSM-7"
    assert encoding_of("Reply STOP to cancel \u2019") == "UCS-2"  # a curly apostrophe


def test_description_names_the_encoding():
    assert str(count_segments("ж" * 71)) == "2 segment(s), UCS-2, 71 UTF-16 units"
