"""Keyword normalisation and matching (bot/keywords.py), and the one lint rule that rests on it."""

from __future__ import annotations

import pytest

from bot.keywords import KeywordIndex, Match, normalize, one_edit_apart, tokens
from tests.support.campaign_files import CAMPAIGNS, line_of, problems

# -- normalize


@pytest.mark.parametrize(
    "typed",
    ["SAVE", "save", " Save! ", "S.A.V.E", "ＳＡＶＥ", "SÄVE", "Savé", "sávé", "ŠÂVÈ", "Sa\u0301ve", "SAVE\u200b"],
)
def test_every_way_of_typing_a_keyword_folds_to_one_key(typed):
    assert normalize(typed) == "save"


@pytest.mark.parametrize("a,b", [("CAFÉ", "cafe"), ("Crème", "CREME"), ("niño", "NINO"), ("Straße", "STRASSE")])
def test_accents_of_latin_letters_are_folded(a, b):
    assert normalize(a) == normalize(b)


@pytest.mark.parametrize(
    "word,stripped",
    [
        ("नमस्ते", "नमसत"),  # Devanagari: the virama and vowel sign are the spelling
        ("खाना", "खन"),
        # Hebrew points too: the rule folds Latin letters only, so write the keyword as customers type it
        ("שָׁלוֹם", "שלום"),
    ],
)
def test_marks_of_other_scripts_survive(word, stripped):
    assert normalize(word) == word
    assert normalize(word) != normalize(stripped)
    index = KeywordIndex([(word, "hindi-or-hebrew")])
    assert index.match(f" {word}! ") == Match("hindi-or-hebrew", word, ())
    assert index.match(stripped) is None


def test_a_latin_accent_folds_but_a_mark_on_another_script_next_to_it_stays():
    assert normalize("Café नमस्ते") == "cafeनमस्ते"


def test_nothing_but_punctuation_and_symbols_is_an_empty_key():
    assert normalize(" !?.🎉 ") == ""


# -- tokens


def test_tokens_are_the_normalised_words_with_empty_ones_dropped():
    assert tokens("  Savé  P7 !! ") == ["save", "p7"]
    assert tokens("SAVE\u3000P7") == ["save", "p7"]  # an ideographic space separates words too
    assert tokens(" ... ") == []


# -- matching


@pytest.fixture
def index() -> KeywordIndex[str]:
    return KeywordIndex([("SAVE", "spring"), ("CAFÉ", "coffee"), ("POINTS", "club")])


@pytest.mark.parametrize(
    "text,expected",
    [
        ("save", Match("spring", "save", ())),
        ("S.A.V.E", Match("spring", "save", ())),
        ("Savé P7", Match("spring", "save", ("p7",))),
        ("cafe", Match("coffee", "cafe", ())),
        ("CAFÉ now please", Match("coffee", "cafe", ("now", "please"))),
        ("points?", Match("club", "points", ())),
        ("I want to SAVE", None),  # the keyword must come first
        ("SAV", None),
        ("", None),
    ],
)
def test_match_takes_the_whole_message_else_its_first_word(index, text, expected):
    assert index.match(text) == expected


def test_the_first_spelling_of_a_key_keeps_it(index):
    later = KeywordIndex([("CAFÉ", "first"), ("cafe", "second")])
    assert later.items() == [("cafe", "first")]
    assert "Café" in index and "CAFE" in index and "TEA" not in index
    assert index.keys() == ["save", "cafe", "points"]


# -- one_edit_apart


@pytest.mark.parametrize(
    "a,b,expected",
    [
        ("save", "sav", True),  # deletion
        ("save", "saave", True),  # insertion
        ("save", "sale", True),  # substitution
        ("save", "svae", True),  # neighbours swapped
        ("save", "save", False),  # the same word is no edit
        ("save", "evas", False),
        ("save", "sa", False),  # two deletions
        ("points", "pionst", False),  # two swaps
        ("नमस्ते", "नमस्त", True),  # one mark is one edit in any script
    ],
)
def test_one_edit_apart_is_symmetric(a, b, expected):
    assert one_edit_apart(a, b) is expected
    assert one_edit_apart(b, a) is expected


# -- the lint refuses two keywords that fold to one key


def test_two_campaigns_with_cafe_and_cafe_with_an_accent_are_refused(tmp_path):
    text = CAMPAIGNS.replace('keywords = ["POINTS"]', 'keywords = ["CAFE"]').replace(
        'keywords = ["REFER"]', 'keywords = ["CAFÉ"]'
    )
    [problem] = problems(tmp_path, text)
    assert problem == (
        f"{tmp_path / 'campaigns.toml'}:{line_of(text, 'CAFÉ')}: [[campaigns]] #3 (friends).keywords: "
        "keyword 'CAFÉ' is already used by campaign 'club'"
    )
