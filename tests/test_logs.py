"""The JSON log: one line per text with its fields, and no phone number in any line."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import threading
from pathlib import Path

import pytest

from bot.logs import JsonFormatter
from bot.phone import hash_sender
from tests.support.numbers import hidden_parts
from tests.support.talon_stub import error_body
from tests.support.twilio_stub import twilio_error
from tests.support.webhooks import sign, twilio_form


@pytest.fixture
def log_lines(app):
    """Every line the bot's loggers write, at DEBUG, through the bot's own JSON formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("bot")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)

    def lines() -> list[str]:
        return stream.getvalue().splitlines()

    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def text_lines(lines: list[str]) -> list[dict]:
    entries = [json.loads(line) for line in lines]
    return [e for e in entries if e.get("event") == "text"]


def test_one_line_per_text_with_its_fields(client, talon, log_lines, settings):
    talon.latency = 0.05
    sender = "+15550123456"
    form = twilio_form("SAVE", sender=sender)
    client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})

    [entry] = text_lines(log_lines())
    assert entry["message"] == "text handled"
    assert entry["level"] == "info"
    assert entry["message_sid"] == form["MessageSid"]
    assert entry["channel"] == "sms"
    assert entry["campaign"] == "spring"
    assert entry["outcome"] == "issued"
    assert entry["sender_hash"] == hash_sender(settings.bot_secret, sender)
    assert entry["sender_hash"] != hash_sender("another-secret", sender)
    assert entry["upstream_calls"] == 1
    assert 50 <= entry["upstream_ms"] <= entry["duration_ms"]


def test_a_text_without_upstream_call_has_no_upstream_time(text, talon, log_lines):
    text("SAVE")
    text("SAVE")
    text("PIZZA")

    first, repeat, unknown = text_lines(log_lines())
    assert (first["outcome"], repeat["outcome"], unknown["outcome"]) == ("issued", "repeat", "unknown")
    assert "upstream_ms" not in repeat and "upstream_ms" not in unknown
    assert unknown["campaign"] is None
    assert repeat["duration_ms"] > 0


SENDERS = ["+15557654321", "+447700900987", "+14155238886", "+33612345678"]


def test_no_phone_number_in_any_log_line(client, text, talon, log_lines):
    a, b, c, d = SENDERS
    text("SAVE", sender=a)
    text("SAVE", sender=a)
    text("PIZZA", sender=b)
    text("HELP", sender=b)
    text("STOP", sender=c)
    text("SAVE", sender=c)
    text("START", sender=c)
    talon.script((404, error_body(404, "Not Found")), (401, error_body(401, "Missing Session Token")))
    text("SAVE", sender=d)
    text("REFER", sender=d)
    text("POINTS", sender=d)
    for _ in range(10):  # until the rate limit speaks, and then is silent
        text("PIZZA", sender=b)
    form = twilio_form("SAVE", sender=a)
    client.post("/sms", data=form, headers={"X-Twilio-Signature": "forged"})  # 403, logged
    del form["Body"]
    client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})  # 400

    lines = log_lines()
    outcomes = {e["outcome"] for e in text_lines(lines)}
    assert {
        "issued", "repeat", "unknown", "help", "opt_out", "opted_out", "opt_in", "upstream_error", "limited"
    } <= outcomes
    assert any("X-Twilio-Signature" in line for line in lines)
    assert any(json.loads(line)["level"] == "debug" for line in lines)
    for line in lines:
        for number in SENDERS:
            for part in hidden_parts(number):
                assert part not in line, f"{part!r} of {number} leaked: {line}"


@pytest.fixture
def all_log_lines(app):
    """Every line any logger writes (the Twilio library's included) at the levels the bot sets for them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    bot_logger = logging.getLogger("bot")
    levels = root.level, bot_logger.level
    root.addHandler(handler)
    bot_logger.addHandler(handler)
    root.setLevel(logging.DEBUG)
    bot_logger.setLevel(logging.DEBUG)
    yield lambda: stream.getvalue().splitlines()
    root.removeHandler(handler)
    bot_logger.removeHandler(handler)
    root.setLevel(levels[0])
    bot_logger.setLevel(levels[1])


def test_no_phone_number_in_the_twilio_clients_or_the_workers_lines(client, services, twilio, all_log_lines):
    from bot.jobs import LateJob
    from bot.landing import FORM_TTL_MS

    first, second, third = "+14155550142", "+14155550143", "+14155550144"
    nonce = services.store.issue_form_nonce("spring", FORM_TTL_MS)
    assert client.post("/q/spring", data={"csrf": nonce, "phone": first, "consent": "yes"}).status_code == 200
    # The worker: one late code texted, one refused by Twilio with a message quoting the number, and one
    # whose earlier try died mid-send, reconciled by listing messages (To= in the query the library logs).
    worker = services.late_delivery()
    services.store.mark_sending(third, "spring")
    for sender in (first, second, third):
        job = LateJob(slug="spring", sender=sender, to="+15005550006", sid="SMlate" + sender[-2:])
        services.store.enqueue(job.id, job.to_json())
    twilio.script((400, twilio_error(400, 21211, f"The 'To' number {second} is not a valid phone number.")))
    while worker.run_once():
        pass
    assert {m.to for m in twilio.sent()} >= {first}
    lines = all_log_lines()
    assert any("late text to" in line and "refused by Twilio" in line for line in lines)
    assert any(json.loads(line)["logger"] == "bot.outbound" for line in lines)
    for line in lines:
        for number in (first, second, third):
            for part in hidden_parts(number):
                assert part not in line, f"{part!r} of {number} leaked: {line}"


def test_log_event_is_a_record_like_logger_info_with_extra():
    """The per-text line's short cut keeps what logging promises: the level, the handlers' filters, the fields."""
    from bot.logs import log_event

    logger = logging.getLogger("bot.test-log-event")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    try:
        logger.setLevel(logging.WARNING)
        log_event(logger, "text handled", {"event": "text", "outcome": "repeat"})
        assert stream.getvalue() == ""
        logger.setLevel(logging.INFO)
        log_event(logger, "text handled", {"event": "text", "outcome": "repeat"})
        logger.info("text handled", extra={"event": "text", "outcome": "repeat"})
        ours, standard = map(json.loads, stream.getvalue().splitlines())
        assert ours == {**standard, "time": ours["time"]}
        assert ours["outcome"] == "repeat" and ours["level"] == "info" and ours["logger"] == "bot.test-log-event"
        handler.addFilter(lambda record: record.outcome != "hidden")
        log_event(logger, "text handled", {"event": "text", "outcome": "hidden"})
        assert len(stream.getvalue().splitlines()) == 2
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


def test_an_event_record_formats_under_any_formatter():
    """Handlers the host adds (pytest's, a plain-text one) read the usual attributes of a log_event record."""
    from bot.logs import EventRecord

    record = EventRecord("bot.conversation", "text handled", {"event": "text", "outcome": "repeat"})
    plain = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(filename)s:%(lineno)d %(funcName)s "
                              "%(threadName)s %(process)d %(relativeCreated)d %(message)s %(outcome)s")
    line = plain.format(record)
    assert " INFO bot.conversation :0 None " in line and line.endswith(" text handled repeat")
    assert record.thread == threading.get_ident() and record.process == os.getpid()
    assert logging.makeLogRecord(record.__dict__).getMessage() == "text handled"


@pytest.mark.parametrize("value", [
    "plain", "naïve ☕", 2**70, "\ud800", dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC), Path("/tmp/x"),
    {1: "non-string key"}, [1, None, True],
])
def test_the_json_line_holds_what_the_standard_encoder_would(value):
    """orjson writes the line; what it refuses (beyond 64-bit ints, lone surrogates) the standard encoder
    writes, so no value loses a line, and each reads back as json.dumps(value, default=str) would."""
    from bot.logs import encode_line

    line = encode_line({"field": value})
    assert "\n" not in line
    assert json.loads(line) == json.loads(json.dumps({"field": value}, default=str, ensure_ascii=False))


def test_a_number_json_cannot_hold_is_written_as_null():
    """Infinity and NaN are not JSON (the standard encoder wrote them bare, which strict parsers refuse)."""
    from bot.logs import encode_line

    assert encode_line({"a": float("inf"), "b": float("nan")}) == '{"a":null,"b":null}'
