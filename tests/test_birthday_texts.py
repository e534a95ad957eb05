"""Collecting birthdays by SMS through the signed webhook: BDAY 07/14, BDAY then the answer, ambiguous dates
asked again, a changed birthday moving in the index, and the consent log."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.campaign_files import WITH_BIRTHDAYS, first_reply
from tests.support.twiml import reply

SENDER = "+12125550101"
CONFIRM = "Acme Rewards: thanks! We will text you a birthday treat on {}. Reply STOP to opt out."
ASK = "Acme Rewards: when is your birthday? Reply with the month and day, e.g. July 14."


@pytest.fixture
def campaigns_text() -> str:
    return WITH_BIRTHDAYS


def say(text, body: str) -> str | None:
    return reply(text(body, sender=SENDER))


@pytest.mark.parametrize("written", ["BDAY 07/14", "bday 7/14", "BDAY 14 July", "BDAY July 14", "BDAY 1990-07-14"])
def test_bday_with_a_date_saves_month_and_day_and_confirms_in_words(services, text, written):
    assert say(text, written) == first_reply(CONFIRM.format("July 14"))
    record = services.store.audience(SENDER)
    assert record.birthday == "07-14" and record.verified and record.consent_source == "sms:BDAY"
    assert services.store.born_on("07-14") == [SENDER]
    assert services.store.has_verified_consent(SENDER)  # the number texted its birthday itself


def test_bday_alone_asks_and_the_next_text_is_the_answer(services, text):
    assert say(text, "BDAY") == first_reply(ASK)
    assert say(text, "march 3rd") == CONFIRM.format("March 3")
    assert services.store.audience(SENDER).birthday == "03-03"
    # The question is answered: the next text is an ordinary text again.
    assert say(text, "march 4") == "Sorry, we don't know that word. Text HELP for help."


def test_an_ambiguous_or_impossible_date_is_asked_again_never_guessed(services, text):
    assert say(text, "BDAY 03/04") == first_reply("Acme Rewards: Is that March 4 or April 3? Please write the "
                                                  "month in words, e.g. July 14.")
    assert services.store.audience(SENDER) is None
    assert say(text, "30 February").startswith("Acme Rewards: That date does not exist.")
    assert say(text, "April 3") == CONFIRM.format("April 3")
    assert services.store.born_on("04-03") == [SENDER]


def test_bday_again_changes_it_and_the_index_follows(services, text):
    say(text, "BDAY 07/14")
    assert say(text, "BDAY 12/25") == CONFIRM.format("December 25")
    assert services.store.born_on("07-14") == [] and services.store.born_on("12-25") == [SENDER]


def test_without_a_pending_question_a_date_is_not_read(services, text):
    assert say(text, "07/14") == first_reply("Sorry, we don't know that word. Text HELP for help.")
    assert services.store.audience(SENDER) is None


def test_the_saved_birthday_and_its_source_go_into_the_consent_log(services, text):
    say(text, "BDAY 07/14")
    events = list(services.store.consent_log(now=dt.datetime.now(dt.UTC), retention_days=30))
    assert [(e.event, e.word, e.campaign, e.channel) for e in events] == [("birthday", "07-14", "bday", "sms")]


def test_a_birthday_text_issues_no_coupon(services, text, talon):
    say(text, "BDAY 07/14")
    assert talon.calls() == []


def test_bot_check_refuses_a_birthday_campaign_without_ids_or_outside_the_hours(tmp_path, capsys):
    from bot.cli import main

    path = tmp_path / "campaigns.toml"
    broken = (WITH_BIRTHDAYS.replace('campaign_id = 350\n', '')
              .replace('kind = "birthday"\n', 'kind = "birthday"\nsend_at = "21:30"\n')
              .replace("send_rate = 100\n", 'send_rate = 100\nquiet_hours = ["09:00", "19:00"]\n'))
    path.write_text(broken)
    assert main(["check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "(bday).campaign_id: required for kind = 'birthday'" in err
    assert "(bday).send_at: 21:30 is outside the allowed hours 09:00-19:00" in err
    path.write_text(WITH_BIRTHDAYS.replace("send_rate = 100\n", 'quiet_hours = ["07:00", "19:00"]\n'))
    assert main(["check", str(path)]) == 1
    assert "quiet_hours: 07:00-19:00 is wider than 08:00-20:00" in capsys.readouterr().err
