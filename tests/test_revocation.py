"""Revocation as the FCC reads it (bot.compliance.recognise): the corpus both ways, and who confirms."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.compliance import Compliance, ComplianceWord, classify, is_compliance_word, recognise, revokes

CORPUS = Path(__file__).parent / "data" / "revocations.txt"


def corpus() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif line.strip() and not line.startswith("#"):
            current.append(line)
    return sections


def stops(body: str) -> bool:
    heard = recognise(body)
    return heard is not None and heard.word is ComplianceWord.STOP


def rate(label: str, messages: list[str], failed: list[str]) -> float:
    passed = len(messages) - len(failed)
    share = passed / len(messages)
    print(f"\n{label}: {passed}/{len(messages)} = {share:.1%}")
    for body in failed:
        print(f"  failed: {body!r}")
    return share


def test_the_corpus_is_large_enough_both_ways():
    sections = corpus()
    assert len(sections["stop"]) >= 150
    assert len(sections["not"]) >= 150


def test_every_revocation_in_the_corpus_stops():
    messages = corpus()["stop"]
    failed = [m for m in messages if not stops(m)]
    assert rate("must stop", messages, failed) == 1.0, failed


def test_ordinary_texts_and_keywords_are_not_read_as_revocations():
    messages = corpus()["not"]
    failed = [m for m in messages if stops(m)]
    assert rate("must not stop", messages, failed) >= 0.98, failed


# -- who confirms


@pytest.mark.parametrize("body", ["STOP", "stop", " Unsubscribe ", "CANCEL!", "end", "Quit.", "optout", "REVOKE"])
def test_twilios_own_words_are_marked_as_matched_by_twilio(body):
    assert recognise(body) == Compliance(ComplianceWord.STOP, twilio_matched=True)
    assert classify(body) is ComplianceWord.STOP


@pytest.mark.parametrize("body", ["stop texting me", "Stop please", "STOP STOP", "no más mensajes", "para"])
def test_phrases_twilio_passes_through_are_left_for_the_bot_to_confirm(body):
    # Twilio's filter matches single words only: for these nobody has confirmed yet.
    assert recognise(body) == Compliance(ComplianceWord.STOP, twilio_matched=False)
    assert classify(body) is None


def test_opt_out_type_wins_over_the_body():
    assert recognise("ARRET", opt_out_type="STOP") == Compliance(ComplianceWord.STOP, twilio_matched=True)
    assert recognise("stop texting me", opt_out_type="HELP") == Compliance(ComplianceWord.HELP, twilio_matched=True)


# -- START and HELP keep their exact words


@pytest.mark.parametrize("body", ["START", "yes", "unstop", "Start!"])
def test_the_opt_in_words_are_twilios(body):
    assert recognise(body) == Compliance(ComplianceWord.START, twilio_matched=True)


@pytest.mark.parametrize("body", ["Start please", "START START", "unstop me", "start again", "resubscribe"])
def test_opt_in_phrases_are_only_opt_in_words_and_politeness(body):
    assert recognise(body) == Compliance(ComplianceWord.START, twilio_matched=False)


@pytest.mark.parametrize("body", ["Yes please", "start the sale", "when does it start?", "I want to start saving"])
def test_anything_wider_is_no_opt_in(body):
    assert recognise(body) is None


def test_stopping_wins_over_starting_in_one_message():
    assert recognise("start stop") == Compliance(ComplianceWord.STOP, twilio_matched=False)
    assert recognise("don't start, stop") == Compliance(ComplianceWord.STOP, twilio_matched=False)


@pytest.mark.parametrize("body", ["HELP", "info", " Help! "])
def test_help_words_stay_exact(body):
    assert recognise(body) == Compliance(ComplianceWord.HELP, twilio_matched=True)


def test_help_in_a_sentence_is_no_compliance_word():
    assert recognise("help me find the store") is None


# -- the guards, one each


@pytest.mark.parametrize(
    "body,expected",
    [
        ("when does the sale end?", False),  # a question about a thing, not a request
        ("how do i stop?", True),  # a question about stopping is a request to stop
        ("don't stop the deals", False),  # "don't" before the stop verb wants the opposite
        ("don't text me", True),  # "don't" before a texting verb is the revocation
        ("you won't stop texting me", True),  # a complaint about the texts
        ("I can't stop eating here", False),  # a complaint about nothing we send
        ("the end of the month", False),  # a noun, not a verb
        ("I'll stop by later", False),  # a visit
        ("para mi mamá", False),  # Spanish "para" is also "for"
        ("para", True),
        ("unsubscibe", True),  # one letter off a word that only means one thing
        ("stoppppp", True),
    ],
)
def test_each_guard(body, expected):
    assert revokes(body) is expected


# -- keywords


@pytest.mark.parametrize("keyword", ["STOP", "BASTA", "ALTO", "NO MORE", "unsubscribe", "Stöp"])
def test_a_keyword_read_as_a_revocation_is_a_compliance_word(keyword):
    # It could never be served: the lint refuses it.
    assert is_compliance_word(keyword)


@pytest.mark.parametrize("keyword", ["SAVE", "SPRING", "POINTS", "REFER", "CAFÉ", "DEALS", "PARTY", "ENDLESS"])
def test_ordinary_keywords_are_not(keyword):
    assert not is_compliance_word(keyword)


@pytest.mark.parametrize("body", ["S.T.O.P", "opt out", "opt-out", "ＳＴＯＰ", "Stöp"])
def test_spellings_only_the_bot_folds_are_left_for_the_bot_to_confirm(body):
    assert classify(body) is ComplianceWord.STOP
    assert recognise(body) == Compliance(ComplianceWord.STOP, twilio_matched=False)
