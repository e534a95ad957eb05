"""Compliance words and the consent log, end to end: signed webhooks, a real Redis, the Talon.One stand-in."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys

import pytest

from bot.compliance import HELP_WORDS, OPT_IN_WORDS, OPT_OUT_WORDS
from bot.phone import hash_sender
from tests.support.bot_process import clean_environ
from tests.support.campaign_files import CAMPAIGNS, first_reply
from tests.support.clock import Clock
from tests.support.twiml import reply
from tests.support.webhooks import DEPLOYMENT

SENDER = "+15551234567"
SHORT_CODE = "12345"
HELP_TEXT = "Acme Rewards: text SAVE for a coupon. Up to 2 msgs/mo. Msg&data rates may apply. Reply STOP to cancel."
CODE_REPLY = "Your Acme code: T1-00001. Show it at the till."
OPT_OUT_CONFIRMATION = "Acme Rewards: you are unsubscribed and will get no more messages. Reply START to resubscribe."
OPT_IN_CONFIRMATION = "Acme Rewards: you are subscribed again. Reply HELP for help, STOP to cancel."
WITH_SHORT_CODE = CAMPAIGNS.replace('numbers = ["+15005550006"]', f'numbers = ["+15005550006", "{SHORT_CODE}"]')


@pytest.fixture
def campaigns_text() -> str:
    return WITH_SHORT_CODE


@pytest.fixture
def clock(services) -> Clock:
    clock = Clock(dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC))
    services.conversation.clock = clock
    return clock


def consent_events(services, sender: str | None = None) -> list[tuple[str, str, str, str]]:
    now = dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)
    return [
        (e.event, e.word, e.campaign, e.channel)
        for e in services.store.consent_log(now=now, retention_days=365 * 20)
        if sender is None or e.sender == sender
    ]


def keywords_get_nothing(text, talon) -> None:
    """An opted-out number: no answer to any keyword kind or unknown word, and nothing asked of Talon.One."""
    for body in ("SAVE", "spring", "POINTS", "REFER", "PIZZA", "SPRNG"):
        assert reply(text(body)) is None, body
    assert talon.calls() == []


# -- STOP family


@pytest.mark.parametrize("word", sorted(OPT_OUT_WORDS))
@pytest.mark.parametrize("spelling", [str.upper, str.lower, lambda w: f"  {w.capitalize()}\n"])
def test_each_opt_out_word_opts_out_without_a_second_confirmation(text, talon, services, word, spelling):
    # On a long code Twilio's default handling (and on toll-free the carrier) already confirmed.
    assert reply(text(spelling(word))) is None
    assert talon.calls() == []
    keywords_get_nothing(text, talon)
    [event] = consent_events(services)
    assert event == ("opt_out", spelling(word).strip(), "", "sms")


@pytest.mark.parametrize("word", sorted(OPT_OUT_WORDS))
def test_on_a_short_code_the_bot_sends_the_one_confirmation(text, talon, word):
    # Twilio does not handle STOP for standalone short codes: the app must answer, once.
    assert reply(text(word, To=SHORT_CODE)) == OPT_OUT_CONFIRMATION
    assert talon.calls() == []
    assert reply(text("SAVE", To=SHORT_CODE)) is None
    assert talon.calls() == []


def test_stop_after_a_coupon_stops_further_replies(text, talon):
    assert reply(text("SAVE")) == first_reply(CODE_REPLY)
    assert reply(text("STOP")) is None
    assert reply(text("SAVE")) is None
    assert len(talon.calls()) == 1


def test_a_revocation_phrase_is_an_opt_out_the_bot_confirms_once(text, talon, services):
    # The FCC reads "stop texting me" as a revocation; Twilio's filter passes phrases through, so
    # nobody else confirmed it: the bot sends the one confirmation itself, even on a long code.
    assert reply(text("stop texting me")) == OPT_OUT_CONFIRMATION
    assert consent_events(services) == [("opt_out", "stop texting me", "", "sms")]
    assert reply(text("SAVE")) is None
    assert reply(text("Stop please")) is None  # already out: never a second confirmation
    assert talon.calls() == []


def test_a_second_stop_to_a_short_code_is_not_confirmed_again(text):
    assert reply(text("STOP", To=SHORT_CODE)) == OPT_OUT_CONFIRMATION
    assert reply(text("STOP", To=SHORT_CODE)) is None


# -- START family


@pytest.mark.parametrize("word", sorted(OPT_IN_WORDS))
def test_each_opt_in_word_serves_the_number_again(text, talon, services, word):
    text("STOP")
    assert reply(text("SAVE")) is None
    assert reply(text(word.lower())) is None  # Twilio confirmed on the long code
    assert reply(text("SAVE")) == first_reply(CODE_REPLY)
    assert len(talon.calls()) == 1
    assert consent_events(services) == [
        ("opt_out", "STOP", "", "sms"),
        ("opt_in", word.lower(), "", "sms"),
        ("opt_in_source", "SAVE", "spring", "sms"),
    ]


@pytest.mark.parametrize("word", sorted(OPT_IN_WORDS))
def test_opt_in_on_a_short_code_is_confirmed_once(text, talon, word):
    text("STOP", To=SHORT_CODE)
    assert reply(text(word, To=SHORT_CODE)) == OPT_IN_CONFIRMATION
    assert reply(text("SAVE", To=SHORT_CODE)) == first_reply(CODE_REPLY)


# -- HELP family


@pytest.mark.parametrize("word", sorted(HELP_WORDS))
@pytest.mark.parametrize("to", ["+15005550006", SHORT_CODE])
def test_each_help_word_answers_the_program_help(text, talon, services, word, to):
    assert reply(text(f" {word.lower()} ", To=to)) == HELP_TEXT
    assert talon.calls() == []
    assert consent_events(services) == []


def test_help_is_answered_even_when_opted_out(text, talon):
    # Short codes must answer HELP whether or not the number is subscribed.
    text("STOP", To=SHORT_CODE)
    assert reply(text("HELP", To=SHORT_CODE)) == HELP_TEXT


# -- OptOutType (Advanced Opt-Out): Twilio already answered


@pytest.mark.parametrize("to", ["+15005550006", SHORT_CODE])
def test_opt_out_type_stop_records_and_sends_nothing(text, talon, services, to):
    # AOO may have custom keywords ("ARRET"): OptOutType wins over the body.
    assert reply(text("ARRET", To=to, OptOutType="STOP")) is None
    assert talon.calls() == []
    assert reply(text("SAVE", To=to)) is None
    assert talon.calls() == []
    assert consent_events(services) == [("opt_out", "ARRET", "", "sms")]


@pytest.mark.parametrize("to", ["+15005550006", SHORT_CODE])
def test_opt_out_type_start_serves_again_and_sends_nothing(text, talon, to):
    text("STOP", To=to, OptOutType="STOP")
    assert reply(text("START", To=to, OptOutType="START")) is None
    assert reply(text("SAVE", To=to)) == first_reply(CODE_REPLY)


@pytest.mark.parametrize("to", ["+15005550006", SHORT_CODE])
def test_opt_out_type_help_sends_nothing(text, talon, to):
    assert reply(text("HELP", To=to, OptOutType="HELP")) is None
    assert talon.calls() == []


@pytest.mark.parametrize(
    "setting,to,expected",
    [("always", "+15005550006", OPT_OUT_CONFIRMATION), ("never", SHORT_CODE, None),
     ("auto", SHORT_CODE, OPT_OUT_CONFIRMATION)],
)
def test_who_confirms_is_configurable(tmp_path, settings, talon, setting, to, expected):
    from bot import create_app
    from tests.support.webhooks import sign, twilio_form

    path = tmp_path / "confirm.toml"
    path.write_text(WITH_SHORT_CODE.replace("[program]", f'[program]\nopt_out_confirmation = "{setting}"', 1))
    client = create_app(settings.__class__(**{**settings.__dict__, "campaigns_file": path})).test_client()
    form = twilio_form("STOP", To=to)
    assert reply(client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})) == expected
    form = twilio_form("STOP", To=to, OptOutType="STOP")
    assert reply(client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})) is None


def test_opt_out_is_per_sender(text, talon):
    text("STOP", sender="+15550000001")
    assert reply(text("SAVE", sender="+15550000002")) == first_reply(CODE_REPLY)


# -- consent log


def test_the_opt_in_source_is_recorded_once_per_campaign(text, talon, services, clock):
    first = clock.now
    text("Save P7")
    clock.now += dt.timedelta(hours=1)
    text("SPRING")  # same campaign: not a new source
    text("points")
    text("REFER")
    text("REFER")
    log = list(services.store.consent_log(now=clock.now, retention_days=30))
    assert [(e.event, e.word, e.campaign, e.channel) for e in log] == [
        ("opt_in_source", "Save P7", "spring", "sms"),
        ("opt_in_source", "points", "club", "sms"),
        ("opt_in_source", "REFER", "friends", "sms"),
    ]
    assert log[0].at == first
    assert {e.sender for e in log} == {SENDER}


def test_nothing_served_means_no_opt_in_source(text, talon, services):
    text("PIZZA")
    text("SPRNG")  # a near miss suggests, it does not serve
    text("HELP")
    assert consent_events(services) == []


def test_consent_events_older_than_the_retention_are_dropped(tmp_path, settings, talon):
    from bot.conversation import InboundMessage
    from bot.services import Services

    path = tmp_path / "retention.toml"
    path.write_text(CAMPAIGNS.replace("[program]", "[program]\nconsent_retention_days = 30", 1))
    services = Services.build(settings.__class__(**{**settings.__dict__, "campaigns_file": path}))
    clock = Clock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    services.conversation.clock = clock

    def handle(body, n):
        return services.conversation.handle(InboundMessage(f"SM{n:032d}", SENDER, "+15005550006", body))

    handle("SAVE", 1)
    handle("STOP", 2)
    clock.now += dt.timedelta(days=31)
    handle("START", 3)  # the first two are now past the retention and dropped on this write
    handle("SAVE", 4)  # the source is older than the retention: recorded afresh
    raw = services.store.client.lrange(services.store.consent_key(SENDER), 0, -1)
    assert [r.decode().split("|")[1] for r in raw] == ["opt_in", "opt_in_source"]
    ttl_days = services.store.client.pttl(services.store.consent_key(SENDER)) / 86_400_000
    assert 29.9 < ttl_days <= 30
    # Reading also honours the retention, even before the next write.
    later = clock.now + dt.timedelta(days=30, seconds=1)
    assert list(services.store.consent_log(now=later, retention_days=30)) == []
    services.issuer.close()


def test_logs_carry_the_number_hash_never_the_number(text, talon, caplog):
    caplog.set_level("DEBUG", logger="bot")
    for body in ("SAVE", "STOP", "SAVE", "START", "HELP", "SPRNG"):
        text(body)
    records = [r for r in caplog.records if r.name.startswith("bot")]
    handled = [r for r in records if getattr(r, "event", None) == "text"]
    assert len(handled) == 6
    assert {r.sender_hash for r in handled} == {hash_sender("test-secret", SENDER)}
    for record in records:
        assert "5551234567" not in json.dumps(record.__dict__, default=str), record.getMessage()


# -- bot consent export


def run_export(
    redis_url: str, prefix: str, campaigns_file, *args: str, cluster: bool = False
) -> subprocess.CompletedProcess:
    clean = clean_environ()
    env = {
        **clean, "REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix, "TWILIO_AUTH_TOKEN": "t",
        "REDIS_CLUSTER": "true" if cluster else "false",
        "BOT_SECRET": "test-secret", "CAMPAIGNS_FILE": str(campaigns_file),
        "TALON_API_KEY": "k", "TALON_DEPLOYMENT": DEPLOYMENT,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "consent", "export", *args], env=env, capture_output=True, text=True,
        timeout=60,
    )


def test_consent_export_writes_every_event_as_csv(text, talon, settings, campaigns_file, redis_url, tmp_path, clock):
    other = "+447700900123"
    text("SAVE")
    clock.now += dt.timedelta(minutes=5)
    text("Stop")
    clock.now += dt.timedelta(minutes=5)
    text("unstop")
    text("REFER", sender=other)

    output = tmp_path / "consent.csv"
    result = run_export(redis_url, settings.redis_key_prefix, campaigns_file, "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert f"{output}: 4 consent event(s)" in result.stderr
    rows = list(csv.DictReader(output.open(newline="")))
    us, them = hash_sender("test-secret", SENDER), hash_sender("test-secret", other)
    assert sorted(rows, key=lambda r: (r["number"], r["at"])) == sorted([
        {"number": other, "number_hash": them, "event": "opt_in_source", "at": "2026-11-26T12:10:00.000Z",
         "word": "REFER", "campaign": "friends", "channel": "sms"},
        {"number": SENDER, "number_hash": us, "event": "opt_in_source", "at": "2026-11-26T12:00:00.000Z",
         "word": "SAVE", "campaign": "spring", "channel": "sms"},
        {"number": SENDER, "number_hash": us, "event": "opt_out", "at": "2026-11-26T12:05:00.000Z",
         "word": "Stop", "campaign": "", "channel": "sms"},
        {"number": SENDER, "number_hash": us, "event": "opt_in", "at": "2026-11-26T12:10:00.000Z",
         "word": "unstop", "campaign": "", "channel": "sms"},
    ], key=lambda r: (r["number"], r["at"]))


def test_consent_export_can_leave_the_numbers_out(text, talon, settings, campaigns_file, redis_url):
    text("STOP")
    result = run_export(redis_url, settings.redis_key_prefix, campaigns_file, "--hash-numbers")
    assert result.returncode == 0, result.stderr
    assert "5551234567" not in result.stdout
    [row] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(row) == ["number_hash", "event", "at", "word", "campaign", "channel"]
    assert (row["number_hash"], row["event"], row["word"]) == (hash_sender("test-secret", SENDER), "opt_out", "STOP")


def test_consent_export_to_an_unwritable_place_fails_cleanly(settings, campaigns_file, redis_url, tmp_path):
    result = run_export(
        redis_url, settings.redis_key_prefix, campaigns_file, "--output", str(tmp_path / "no" / "x.csv")
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"bot: cannot write {tmp_path / 'no' / 'x.csv'}")


def test_consent_log_and_export_on_a_cluster(settings, talon, campaigns_file, redis_cluster_url):
    # Senders hash to different slots, so the export must SCAN every master.
    import dataclasses

    from bot.conversation import InboundMessage
    from bot.services import Services

    services = Services.build(dataclasses.replace(settings, redis_url=redis_cluster_url, redis_cluster=True))
    senders = [f"+1555000{n:04d}" for n in range(12)]
    for n, sender in enumerate(senders):
        services.conversation.handle(InboundMessage(f"SM{n:032d}", sender, "+15005550006", "STOP"))
    slots = {services.store.client.keyslot(services.store.consent_key(s)) for s in senders}
    nodes = {services.store.client.nodes_manager.get_node_from_slot(slot).name for slot in slots}
    assert len(nodes) > 1
    services.issuer.close()

    result = run_export(redis_cluster_url, settings.redis_key_prefix, campaigns_file, cluster=True)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted(r["number"] for r in rows) == senders
    assert {(r["event"], r["word"]) for r in rows} == {("opt_out", "STOP")}
