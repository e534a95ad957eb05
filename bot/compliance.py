"""Carrier compliance words and the revocations the FCC hears.

Twilio's defaults (reference/twilio_sms.md §5) match one word, the whole
trimmed message: STOP, START, HELP and their synonyms. `classify` is that
match; no campaign may use one of those words as a keyword.

The FCC's rule (in force since 11 April 2025) goes further: "stop", "quit",
"end", "revoke", "opt out", "cancel" and "unsubscribe" always revoke consent,
and so does any reply a reasonable person would read as a request to stop
("stop texting me", "remove me", "no más mensajes"). `recognise` hears those
too, and says whether Twilio (or the carrier) heard the same thing: when it did
not, nobody has confirmed the opt-out and the bot must, once.

The revocation rules read normalised words (bot.keywords, accents folded) and
are deliberately small: a few word classes and phrases, with guards for the
ordinary texts that share a word ("when does the sale end?", "don't stop the
deals", "un cupón para mi mamá"). Doubt resolves toward stopping.
"""

from __future__ import annotations

import enum
import functools
import re
import string
import unicodedata
from dataclasses import dataclass

from .keywords import normalize, one_edit_apart, tokens


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


@dataclass(frozen=True)
class Compliance:
    """What a message asks for, and whether Twilio (or the carrier) matched it too.

    `twilio_matched` is True for Twilio's own single words and for Advanced
    Opt-Out's `OptOutType`: there Twilio or the carrier has blocked (and, on
    long codes and toll-free, confirmed) already, and the program's
    `opt_out_confirmation` decides as before. It is False for a phrase only
    the bot heard ("stop texting me"): Twilio passed it through untouched, so
    the bot records it and sends the one confirmation itself.
    """

    word: ComplianceWord
    twilio_matched: bool


def is_compliance_word(keyword: str) -> bool:
    """True for Twilio's words and for anything `recognise` would read as one:
    such a keyword could never be served ("BASTA", "NO MORE")."""
    return normalize(keyword) in _BY_KEY or recognise(keyword) is not None


def classify(body: str, opt_out_type: str | None = None) -> ComplianceWord | None:
    """Twilio's compliance word of a message, or None.

    `opt_out_type` is Twilio's OptOutType field (Advanced Opt-Out); when present
    Twilio has already matched the word, so it wins over the body.
    """
    if opt_out_type:
        try:
            return ComplianceWord(opt_out_type.strip().upper())
        except ValueError:
            pass
    # The whole trimmed message, as Twilio matches it ("Stop!" counts: a
    # single-word message; counting it as Twilio's risks no confirmation,
    # counting it as ours risks two, and two is the broken promise).
    return _BY_KEY.get(normalize(body.strip()))


@functools.lru_cache(maxsize=1024)
def recognise(body: str, opt_out_type: str | None = None) -> Compliance | None:
    """Twilio's word (`classify`), else a revocation or re-subscription only the bot hears.

    A pure function of the text, cached: most texts are a handful of keywords, and reading a text
    for revocation phrases costs about 20 µs, a tenth of a repeat texter's whole answer."""
    word = classify(body, opt_out_type)
    if word is not None:
        return Compliance(word, twilio_matched=bool(opt_out_type) or _twilio_matches(body))
    if revokes(body):
        return Compliance(ComplianceWord.STOP, twilio_matched=False)
    if _resubscribes(_words(body)):
        return Compliance(ComplianceWord.START, twilio_matched=False)
    return None


# -- the rules

# Revoke wherever they appear, unless a "don't" stands right before them.
_ALWAYS = frozenset({
    "unsubscribe", "unsub", "stopall", "optout", "optedout", "revoke", "desuscribir", "desuscribirme",
    "desuscribeme", "borrame", "borrenme", "eliminame", "eliminenme", "quitame", "quitenme", "sacame", "saquenme",
})
_ALWAYS_PREFIXES = ("unsub", "unsus", "revok", "desuscrib", "desinscrib")
# Stop verbs that also have ordinary uses ("the end", "stop by", "when does it end?").
_VERBS = frozenset({
    "stop", "end", "quit", "cancel", "cease", "halt", "desist",
    "basta", "cancelar", "cancela", "cancelen", "cancele", "anular", "anula", "detener", "detengan",
})
# Revoke only as the whole message (with filler): Spanish "para" is also "for", "alto" also "tall".
_ALONE = frozenset({"para", "pare", "paren", "parar", "alto", "baja", "enough", "spam", "remove", "delete"})
# Words that add nothing to a stop verb: "Stop please", "STOP STOP", "I said stop", "para ya".
_FILLER = frozenset({
    "please", "pls", "plz", "plez", "plse", "now", "right", "away", "asap", "immediately", "thanks", "thank",
    "you", "u", "thx", "ty", "ok", "okay", "k", "me", "it", "all", "already", "just", "so", "really",
    "seriously", "i", "said", "mean", "this", "that", "no", "oh", "omg", "god", "damn", "hey", "hi", "hello",
    "again", "forever", "everything", "guys", "sir", "por", "favor", "porfa", "porfavor", "gracias", "ya",
    "ahora", "inmediatamente", "todo", "oye", "hola", "de", "una", "vez",
})
# What a stop verb can be stopping: the texts themselves.
_MESSAGING = frozenset({
    "text", "texts", "texting", "txt", "txts", "txting", "message", "messages", "messaging", "msg", "msgs",
    "sms", "sending", "send", "contacting", "contact", "calling", "spamming", "emailing", "subscription",
    "subscriptions", "membership", "account", "notifications", "alerts", "promos", "promo", "promotions",
    "ads", "marketing", "coupons", "deals", "offers", "list", "me",
    "mensaje", "mensajes", "msj", "msjs", "textos", "enviar", "enviarme", "mandar", "mandarme",
    "escribir", "escribirme", "molestar", "molestarme", "suscripcion", "promociones", "cupones", "ofertas",
})
_PRONOUNS = frozenset({"this", "these", "that", "it", "them", "all", "everything", "esto", "eso", "todo"})
# Before a stop verb, a request: "I want to stop", "can you stop", "please cancel".
_REQUEST = frozenset({"i", "want", "wanna", "like", "need", "please", "pls", "plz", "quiero", "quisiera", "favor"})
# "don't stop the deals": the customer wants the opposite of stopping.
_WANTING_NOT = frozenset({"dont", "never", "nunca"})
_SKIPPED_BEFORE_VERB = frozenset({"to", "want", "wanna", "ever", "you", "u", "please", "pls", "just", "going", "gonna"})
# A stop verb used as a noun or a visit: "the end", "bus stop", "end of the month", "stop by".
_NOUN_BEFORE = frozenset({"the", "a", "an", "bus", "full", "your", "la", "el"})
_NOUN_AFTER = frozenset({"of", "by", "in", "at", "over", "up", "date", "time"})
_QUESTION_WORDS = frozenset({
    "when", "what", "whats", "how", "does", "did", "is", "are", "can", "could", "will", "would", "where",
    "why", "which", "who", "till", "until", "cuando", "que", "como", "donde", "cual", "cuanto", "hasta",
    "es", "hay", "puedo",
})
_LEADING = frozenset({"please", "pls", "plz", "ok", "okay", "hey", "hi", "hello", "no", "oh", "just", "so",
                      "seriously", "por", "favor", "porfa", "ya", "oye", "hola", "yo"})
_CONTACT = frozenset({"text", "txt", "message", "msg", "contact", "call", "send", "sms", "email", "spam", "bother",
                      "write"})
_CONTACT_ES = frozenset({
    "escribas", "escriban", "escriba", "envies", "envien", "envie", "mandes", "manden", "mande", "contactes",
    "contacten", "molestes", "molesten", "moleste", "molestar", "llames", "llamen", "textees",
})

S = frozenset
# Phrases that revoke: each step a set of words, at most `gap` other words between steps.
_PHRASES: tuple[tuple[int, tuple[frozenset[str], ...]], ...] = (
    (1, (S({"opt", "opting", "opted", "opts"}), S({"out"}))),  # "opt out", "opt me out"
    (0, (S({"no"}), S({"more", "mas"}))),  # "no more texts", "no más mensajes"
    (0, (S({"no"}), S({"thanks", "thank", "thx", "gracias"}))),
    (2, (S({"remove", "delete", "erase", "lose", "drop"}), S({"me", "number", "us", "from"}))),
    (2, (S({"take", "get"}), S({"me", "my", "number", "us"}), S({"off"}))),
    (1, (S({"leave"}), S({"me", "us"}), S({"alone"}))),
    (1, (S({"want", "wanna", "count", "let"}), S({"out"}))),
    (0, (S({"not"}), S({"interested"}))),
    (1, (S({"wrong"}), S({"number", "person", "numero"}))),
    (0, (S({"numero"}), S({"equivocado", "incorrecto"}))),
    (1, (S({"never", "didnt", "not"}), S({"signed", "sign", "subscribed", "subscribe", "opted", "agreed", "asked"}))),
    (3, (S({"why"}), S({"texting", "messaging", "contacting", "spamming", "keep"}))),
    (0, (S({"is", "its"}), S({"spam", "harassment"}))),
    (0, (S({"go"}), S({"away"}))),
    (0, (S({"fuck", "f", "piss", "screw", "buzz"}), S({"off", "you", "u"}))),
    (1, (S({"dont", "never"}), _CONTACT)),  # "don't text me", "never message me again"
    (1, (S({"do", "please", "pls"}), S({"not"}), _CONTACT)),
    (2, (S({"dont", "never", "not"}), S({"want", "need", "wanna", "wish"}),
         _MESSAGING | S({"any", "more", "these", "this", "your"}))),
    (0, (S({"enough"}), _MESSAGING)),
    (1, (S({"no"}), S({"interesa", "interesan"}))),  # "no me interesa"
    (2, (S({"no"}), S({"quiero", "queremos", "quiere", "deseo", "necesito"}),
         S({"mas", "recibir", "mensajes", "textos", "nada", "esto", "sus", "estos", "sms", "que", "promociones"}))),
    (1, (S({"no"}), _CONTACT_ES)),  # "no me escribas", "no molesten"
    (1, (S({"de", "darme", "dame", "denme", "deme"}), S({"baja"}))),  # "darme de baja"
    (0, (S({"deja", "dejen", "deje", "dejar", "para", "paren", "pare", "parar"}), S({"de"}))),  # "deja de enviarme"
    (2, (S({"dejame", "dejenme", "deja", "dejen"}), S({"paz"}))),  # "déjame en paz"
    (2, (S({"borrar", "borra", "borren", "eliminar", "elimina", "eliminen", "quitar", "quita", "quiten",
            "sacar", "saca", "saquen"}), S({"me", "mi", "numero", "lista"}))),
)

_START_WORDS = frozenset({"start", "unstop", "resubscribe"})
_START_FILLER = frozenset({"please", "pls", "plz", "again", "me", "now", "thanks", "thx", "ok", "okay", "back", "up"})

_JOINERS = "'’ʼ"  # an apostrophe joins: "don't" is one word, "dont"
_RUNS = re.compile(r"(.)\1+")


def _twilio_matches(body: str) -> bool:
    """Twilio's own filter: one word, any case, nothing but punctuation around it.
    "S.T.O.P", "opt out" and "ＳＴＯＰ" reach `classify` but not Twilio's block list."""
    core = body.strip().strip(string.punctuation + "¡¿").upper()
    return core in OPT_OUT_WORDS or core in OPT_IN_WORDS or core in HELP_WORDS


def _words(body: str) -> list[str]:
    """Normalised words; punctuation separates them ("stop,please") except apostrophes."""
    spaced = "".join(
        " " if unicodedata.category(ch)[0] in "PS" and ch not in _JOINERS else ch for ch in body
    )
    return tokens(spaced)


def _spelled(word: str) -> str:
    """A known word for an elongated or one-letter-off spelling: "stoppp", "unsubscibe"."""
    if word in _ALWAYS or word in _VERBS or word in _ALONE:
        return word
    short = _RUNS.sub(r"\1", word)
    if short in _VERBS or short in _ALONE or short in _ALWAYS:
        return short
    if len(word) >= 6:
        return next((w for w in ("unsubscribe", "cancel", "stopall", "optout", "revoke")
                     if one_edit_apart(word, w)), word)
    return word


def _is_question(body: str, words: list[str]) -> bool:
    return "?" in body or "¿" in body or words[0] in _QUESTION_WORDS


def _phrase_at(words: list[str], steps: tuple[frozenset[str], ...], gap: int) -> bool:
    def from_(position: int, remaining: tuple[frozenset[str], ...]) -> bool:
        if not remaining:
            return True
        head, rest = remaining[0], remaining[1:]
        return any(words[i] in head and from_(i + 1, rest)
                   for i in range(position, min(len(words), position + gap + 1)))

    return any(words[i] in steps[0] and from_(i + 1, steps[1:]) for i in range(len(words)))


def _negator_before(words: list[str], i: int) -> str | None:
    """The "don't"/"can't" governing the verb at `i`, skipping "want to", "ever", "you"."""
    j = i - 1
    while j >= 0 and words[j] in _SKIPPED_BEFORE_VERB:
        j -= 1
    if j < 0:
        return None
    if words[j] == "not":
        return "dont" if j > 0 and words[j - 1] in {"do", "please", "pls"} else "not"
    if words[j] in _WANTING_NOT or words[j] in {"cant", "cannot", "wont", "doesnt", "didnt", "isnt", "wouldnt"}:
        return words[j]
    return None


def _verb_revokes(words: list[str], i: int, question: bool) -> bool:
    """Whether the stop verb at `i` is asking to stop."""
    before = words[i - 1] if i > 0 else ""
    after = words[i + 1: i + 4]
    if before in _NOUN_BEFORE or (after and after[0] in _NOUN_AFTER):
        return False
    negator = _negator_before(words, i)
    if negator in _WANTING_NOT:
        return False
    texts = any(w in _MESSAGING for w in after)
    if negator is not None:  # "you won't stop texting me" complains; "I can't stop eating here" does not
        return texts
    if texts:
        return True
    window = words[max(0, i - 3): i]
    asked = any(w in _REQUEST for w in window) or any(
        a in {"can", "could", "would", "will"} and b in {"you", "u"} for a, b in zip(window, window[1:], strict=False)
    )
    if asked:
        return True
    if question:  # "when does the sale end?"
        return False
    first = next((k for k, w in enumerate(words) if w not in _LEADING), len(words))
    return i == first or i == len(words) - 1 or any(w in _PRONOUNS for w in after[:1])


def revokes(body: str) -> bool:
    """True when a reasonable person would read the message as a request to stop."""
    words = [_spelled(w) for w in _words(body)]
    if not words:
        return False
    stopping = _ALWAYS | _VERBS | _ALONE
    if all(w in stopping or w in _FILLER for w in words) and any(w in stopping for w in words):
        return True  # "Stop please", "STOP STOP", "para", "basta ya"
    if any(_phrase_at(words, steps, gap) for gap, steps in _PHRASES):
        return True
    question = _is_question(body, words)
    for i, word in enumerate(words):
        always = word in _ALWAYS or word.startswith(_ALWAYS_PREFIXES)
        if always and _negator_before(words, i) not in _WANTING_NOT:
            return True
        if word in _VERBS and _verb_revokes(words, i, question):
            return True
    return False


def _resubscribes(words: list[str]) -> bool:
    """"Start please", "UNSTOP UNSTOP": only opt-in words and politeness. A re-subscription must
    be unmistakable (doubt resolves toward stopping), so no wider reading than this."""
    return bool(words) and any(w in _START_WORDS for w in words) and all(
        w in _START_WORDS or w in _START_FILLER for w in words
    )
