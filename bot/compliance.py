"""Carrier compliance words (Twilio's defaults, see reference/twilio_sms.md §5).

They are matched on the whole trimmed message, before any keyword, and no
campaign may use one as a keyword.
"""

from __future__ import annotations

import enum

from .keywords import normalize


class ComplianceWord(enum.Enum):
    STOP = "STOP"
    START = "START"
    HELP = "HELP"


OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})

_BY_KEY = {
    **{normalize(w): ComplianceWord.STOP for w in OPT_OUT_WORDS},
    **{normalize(w): ComplianceWord.START for w in OPT_IN_WORDS},
    **{normalize(w): ComplianceWord.HELP for w in HELP_WORDS},
}


def is_compliance_word(keyword: str) -> bool:
    return normalize(keyword) in _BY_KEY


def classify(body: str, opt_out_type: str | None = None) -> ComplianceWord | None:
    """The compliance word of a message, or None.

    `opt_out_type` is Twilio's OptOutType field (Advanced Opt-Out); when present
    Twilio has already matched the word, so it wins over the body.
    """
    if opt_out_type:
        try:
            return ComplianceWord(opt_out_type.strip().upper())
        except ValueError:
            pass
    # The whole trimmed message, so "stop texting me" is not silently treated
    # as a keyword miss by this function; natural-language revocations are a
    # separate policy (see conversation).
    return _BY_KEY.get(normalize(body.strip()))
