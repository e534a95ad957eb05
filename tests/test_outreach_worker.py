"""`bot worker` as the Procfile runs it, killed with SIGKILL in the middle of a birthday send: after a
restart every customer has exactly one text (no double, no miss)."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.sending import Outbound
from bot.store import AudienceRecord
from tests.support.bot_process import WorkerProcess, env_of, wait_until
from tests.support.campaign_files import WITH_BIRTHDAYS
from tests.support.webhooks import SHOP_NUMBER

NUMBERS = ("+12125550101", "+12125550102", "+12125550103")


@pytest.fixture
def campaigns_text() -> str:
    return WITH_BIRTHDAYS


def noon_zone() -> str:
    """A zone where it is about noon now, so the real clock's quiet hours never hold the test's texts."""
    offset = 12 - dt.datetime.now(dt.UTC).hour
    return f"Etc/GMT{-offset:+d}"


def test_a_worker_killed_mid_send_leaves_no_double_and_no_miss(services, settings, campaigns_file, twilio, talon):
    env = {**env_of(settings, campaigns_file), "JOB_LEASE_S": "1.5", "TWILIO_TIMEOUT_S": "2"}
    store = services.store
    zone = noon_zone()
    store.save_audience([AudienceRecord(n, "", zone, "2025-01-01T00:00:00+00:00", "till", True) for n in NUMBERS])
    engine = services.send_engine()
    for number in NUMBERS:
        assert engine.enqueue(Outbound(number, "bday", "birthday:test", "outreach", SHOP_NUMBER, year=2026))

    twilio.stall.set()  # Twilio records the first text, then never answers
    doomed = WorkerProcess(env).start()
    try:
        wait_until(lambda: len(twilio.sent()) >= 1, timeout=30, what="the worker's first send")
    finally:
        doomed.kill()
    first = twilio.sent()[0].to
    assert store.outbound_state(first, "bday", "birthday:test").startswith("sending:")
    twilio.stall.clear()
    twilio.release.set()

    worker = WorkerProcess(env).start()
    try:
        wait_until(lambda: all((store.outbound_state(n, "bday", "birthday:test") or "").startswith("sent:")
                               for n in NUMBERS), timeout=60, what="every text settled")
    finally:
        worker.stop()
    assert sorted(m.to for m in twilio.sent()) == sorted(NUMBERS)  # each exactly once
    assert store.outbound_state(first, "bday", "birthday:test") == "sent:reconciled"
    assert len({m.body for m in twilio.sent()}) == 3 and talon.coupons_created() == 3
