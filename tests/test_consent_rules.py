"""Issue 11's rules, each on the real app and a real Redis: the opt-in confirmation, a person's number,
the journal's order, verified consent, and `bot simulate` writing nothing."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from bot.campaign_file import load_campaigns
from bot.journal import ComplianceRecord, Journal
from bot.phone import address_of
from tests.support.campaign_files import CAMPAIGNS, NOTICE, first_reply
from tests.support.twiml import reply

CODE_REPLY = "Your Acme code: T1-00001. Show it at the till."


# -- the opt-in confirmation


def test_the_first_message_to_a_number_carries_the_opt_in_confirmation_once(text):
    assert reply(text("SAVE")) == first_reply(CODE_REPLY)
    assert reply(text("SAVE")) == CODE_REPLY
    assert reply(text("PIZZA", sender="+15557654321")).endswith(NOTICE)


def test_a_reply_that_already_says_stop_and_help_gets_nothing_appended(tmp_path):
    text = CAMPAIGNS.replace("Show it at the till.", "Acme Rewards. Reply STOP to stop, HELP for help.")
    path = tmp_path / "c.toml"
    path.write_text(text)
    program = load_campaigns(path).program
    assert program.with_opt_in_notice("Acme Rewards: code X. Reply STOP to stop, HELP for help.").count("STOP") == 1


def test_bot_check_warns_when_the_appended_confirmation_overflows_the_budget(tmp_path):
    fits_alone = "Your Acme code: {{ code }}. " + "x" * 270  # 2 segments alone, 3 with the notice
    path = tmp_path / "c.toml"
    path.write_text(CAMPAIGNS.replace("Your Acme code: {{ code }}. Show it at the till.", fits_alone))
    [warning] = load_campaigns(path).warnings
    assert "(spring).reply" in str(warning) and "opt-in confirmation" in str(warning)


# -- a person's number


@pytest.mark.parametrize("raw, channel, number", [
    ("+1 (202) 555-0143", "sms", "+12025550143"),
    ("whatsapp:+12025550143", "whatsapp", "+12025550143"),
    ("+999123456789", "sms", "+999123456789"),  # a range phonenumbers does not know: still a person
    ("TWILIO", "sms", None), ("68849", "sms", None), ("", "sms", None), ("+1234567", "sms", None),
])
def test_senders_are_normalised_once(raw, channel, number):
    assert (address_of(raw).channel, address_of(raw).number) == (channel, number)


def test_two_spellings_of_one_number_share_one_opt_out(text, talon):
    text("STOP", sender="+1 (202) 555-0143")
    assert reply(text("SAVE", sender="+12025550143")) is None
    assert talon.calls() == []


@pytest.mark.parametrize("sender", ["TWILIO", "68849", ""])
def test_senders_that_are_not_a_person_get_no_coupon(text, talon, sender):
    assert reply(text("SAVE", sender=sender)) is None
    assert talon.calls() == []


def test_a_text_to_a_number_the_program_does_not_serve_is_refused(text, talon):
    assert reply(text("SAVE", To="+15005550099")) is None
    assert talon.calls() == []


# -- the journal


def test_a_replayed_start_older_than_a_later_stop_does_not_win(services, tmp_path):
    journal = Journal(tmp_path / "j")
    number, retention = "+15550001111", 365
    start = ComplianceRecord(journal.arrival(), "SMa", number, "in", "START", "sms")
    stop = ComplianceRecord(journal.arrival(), "SMb", number, "out", "STOP", "sms")
    for record in (stop, start):  # the journal replays START after the STOP Redis already has
        journal.record(record, pending=True)
    services.store.replay_compliance(stop.sid, number, "out", arrived_us=stop.arrived_us, word="STOP", reply="",
                                     consent=stop.consent_event(), consent_retention_days=retention)
    assert journal.replay_pending(services.store, retention) == 2
    assert services.store.is_opted_out(number)
    assert not journal.has_pending()


def test_the_journal_folder_must_be_writable(tmp_path):
    from bot.errors import ConfigError

    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="JOURNAL_DIR"):
        Journal(blocker / "journal")


def test_a_stop_while_redis_is_down_is_honoured_when_it_is_back(settings, talon, tmp_path):
    from bot import create_app
    from bot.services import services_of
    from tests.support.redis_server import RedisServer
    from tests.support.webhooks import sign, twilio_form

    server = RedisServer().start()
    try:
        app = create_app(dataclasses.replace(settings, redis_url=server.url))
        client = app.test_client()

        def post(body: str, **extra: str):
            form = twilio_form(body, **extra)
            return reply(client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)}))

        assert post("SAVE").startswith("Your Acme code")
        server.stop()
        assert post("stop texting me") == ("Acme Rewards: you are unsubscribed and will get no more messages. "
                                           "Reply START to resubscribe.")
        server.start()  # empty
        assert post("SAVE") is None
        assert services_of(app).store.is_opted_out("+15551234567")
        services_of(app).issuer.close()
    finally:
        server.cleanup()


# -- verified consent


def test_only_a_text_from_the_number_itself_is_verified_consent(text, services):
    store = services.store
    assert not store.has_verified_consent("+15551234567")
    text("SAVE")
    assert store.has_verified_consent("+15551234567")
    text("STOP")
    assert not store.has_verified_consent("+15551234567")


# -- bot simulate


def test_simulate_writes_nothing_and_says_so(settings, redis_url, tmp_path, services):
    env = {**os.environ, "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": settings.redis_key_prefix,
           "TWILIO_AUTH_TOKEN": "x", "BOT_SECRET": "s", "CAMPAIGNS_FILE": str(settings.campaigns_file),
           "JOURNAL_DIR": str(tmp_path / "simulated")}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "simulate", "--from", "+15551234567", "STOP"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "nothing was written to Redis or the consent log, nobody was texted" in result.stderr
    assert not services.store.is_opted_out("+15551234567")
    assert list(services.store.consent_log(now=__import__("datetime").datetime.now(), retention_days=1)) == []
    assert not (tmp_path / "simulated").exists()
