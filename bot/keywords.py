"""Keyword normalisation and matching.

Customers type keywords every way a phone lets them: "save", " Save! ", "ＳＡＶＥ"
(full width), "Savé" (an accent the keyboard added), "SAVE P7" (a poster's
reference after the keyword). One function,
`normalize`, folds all of these to the same key; `KeywordIndex` maps keys to
campaigns.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, TypeVar

T = TypeVar("T")

# Letters, marks and digits are kept; punctuation, symbols, separators and
# control characters are dropped.
_KEPT_CATEGORIES = ("L", "M", "N")


def _is_latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN ")


def _fold_latin_accents(text: str) -> str:
    """Drop the combining marks that sit on a Latin letter ("é" -> "e", "Ä" -> "A").

    On a Latin letter an accent is what a phone's keyboard adds or leaves out
    (customers text "Savé", "SÄVE", "cafe" for "CAFÉ"), so it must not split a
    keyword. In other scripts the marks are the spelling: a Devanagari vowel
    sign or virama makes a different word, so those marks stay.
    """
    kept: list[str] = []
    base_is_latin = False
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.category(ch)[0] == "M":
            if base_is_latin:
                continue
        else:
            base_is_latin = _is_latin(ch)
        kept.append(ch)
    return unicodedata.normalize("NFC", "".join(kept))


@lru_cache(maxsize=1024)  # the same few keywords arrive again and again; a pure function of the text
def normalize(text: str) -> str:
    """The matching key of `text`: NFKC, case-folded, accents of Latin letters dropped,
    only letters, marks and digits."""
    folded = _fold_latin_accents(unicodedata.normalize("NFKC", text).casefold())
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in _KEPT_CATEGORIES)


def tokens(text: str) -> list[str]:
    """The normalised words of `text`, empty ones dropped."""
    words = (normalize(part) for part in unicodedata.normalize("NFKC", text).split())
    return [w for w in words if w]


@dataclass(frozen=True)
class Match(Generic[T]):
    """A keyword found in a message: what it maps to, and the words after it."""

    target: T
    keyword: str
    rest: tuple[str, ...]


class KeywordIndex(Generic[T]):
    """Normalised keyword -> target. Building it refuses nothing; campaigns.lint does."""

    def __init__(self, entries: Iterable[tuple[str, T]] = ()):
        self._entries: dict[str, T] = {}
        for keyword, target in entries:
            self._entries.setdefault(normalize(keyword), target)

    def __contains__(self, keyword: str) -> bool:
        return normalize(keyword) in self._entries

    def keys(self) -> list[str]:
        return list(self._entries)

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def match(self, text: str) -> Match[T] | None:
        """The whole message as one keyword ("S.A.V.E"), else its first word ("SAVE P7")."""
        whole = normalize(text)
        if whole in self._entries:
            return Match(self._entries[whole], whole, ())
        words = tokens(text)
        if words and words[0] in self._entries:
            return Match(self._entries[words[0]], words[0], tuple(words[1:]))
        return None


def one_edit_apart(a: str, b: str) -> bool:
    """True when `a` and `b` differ by exactly one insertion, deletion, substitution
    or swap of two neighbouring letters (Damerau-Levenshtein distance 1)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    prefix = 0
    while prefix < len(a) and a[prefix] == b[prefix]:
        prefix += 1
    if len(a) < len(b):  # one insertion
        return a[prefix:] == b[prefix + 1:]
    rest_a, rest_b = a[prefix + 1:], b[prefix + 1:]
    if rest_a == rest_b:  # one substitution
        return True
    # one swap of neighbours: "SVAE" for "SAVE"
    return (
        prefix + 1 < len(a)
        and a[prefix] == b[prefix + 1]
        and a[prefix + 1] == b[prefix]
        and a[prefix + 2:] == b[prefix + 2:]
    )
