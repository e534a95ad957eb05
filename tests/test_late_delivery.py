"""Never miss Twilio's window: a slow or failing Talon.One, a real worker, exactly one code by text."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot import create_app
from bot.store import connect
from tests.support.bot_process import BotProcess, WorkerProcess, env_of, kill_a_worker_mid_send, wait_until
from tests.support.campaign_files import first_reply
from tests.support.talon_stub import error_body
from tests.support.twilio_stub import twilio_error
from tests.support.twiml import reply
from tests.support.webhooks import SHOP_NUMBER, send_signed, sign, twilio_form, twiml_message

COUPON = "/customer_engagement/coupon"
#: The late code's first reply: the number's first message, so it carries the opt-in notice.
PENDING = first_reply("Acme Rewards: your code is on its way and will arrive by text shortly.")


def code_text(code: str) -> str:
    return f"Your Acme code: {code}. Show it at the till."


@pytest.fixture
def env(settings, campaigns_file):
    return {**env_of(settings, campaigns_file), "JOB_LEASE_S": "1.5"}


def store_of(settings):
    return connect(settings.redis_url, prefix=settings.redis_key_prefix)


def test_stalled_upstream_every_webhook_answered_in_time_then_codes_texted_once(settings, env, talon, twilio):
    talon.stall = True  # Talon.One accepts the connection and says nothing for up to 60 s
    numbers = [f"+1555123{i:04d}" for i in range(6)]
    bot = BotProcess(env).start()
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            def timed(number):
                started = time.monotonic()
                answer = twiml_message(send_signed(bot.url, "SAVE", number))
                return answer, time.monotonic() - started
            results = list(pool.map(timed, numbers))
    finally:
        bot.stop()
    assert [answer for answer, _ in results] == [PENDING] * 6
    worst = max(seconds for _, seconds in results)
    assert worst < settings.webhook_budget_s + 1.0, worst
    assert twilio.sent() == []

    talon.stall = False
    talon.release.set()
    worker = WorkerProcess(env).start()
    try:
        wait_until(lambda: len(twilio.sent()) >= 6, timeout=30, what="six late texts")
        wait_until(lambda: store_of(settings).queued() == 0, timeout=30, what="the queue to drain")
    finally:
        worker.stop()
    sent = twilio.sent()
    assert sorted(m.to for m in sent) == numbers  # each number once: no duplicate texts
    assert all(m.from_ == SHOP_NUMBER for m in sent)
    assert all(m.body.startswith("Your Acme code: T1-") for m in sent)
    assert talon.coupons_created() == 6  # the worker retrieved the coupons the webhook's calls created


def test_a_5xx_storm_makes_bounded_calls_and_no_double_coupon(settings, env, talon, twilio):
    talon.script(*[(500, error_body(500, "storm"))] * 1000)
    client = create_app(settings).test_client()
    numbers = [f"+1555200{i:04d}" for i in range(20)]

    answers = []
    for number in numbers:
        form = twilio_form("SAVE", sender=number)
        answers.append(reply(client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})))

    assert answers == [PENDING] * 20
    storm_calls = len(talon.calls(COUPON))
    # The breaker opens after 5 failures: the other texts do not call at all.
    assert storm_calls <= 8, storm_calls

    talon.reset()  # the storm is over
    worker = WorkerProcess(env).start()
    try:
        wait_until(lambda: len(twilio.sent()) >= 20, timeout=60, what="twenty late texts")
        wait_until(lambda: store_of(settings).queued() == 0, timeout=30, what="the queue to drain")
    finally:
        worker.stop()
    assert sorted(m.to for m in twilio.sent()) == numbers
    assert talon.coupons_created() == 20
    assert len({c.param("identifier") for c in talon.calls(COUPON)}) == len(talon.calls(COUPON)) == 20


def test_breaker_state_is_visible_in_readyz_and_metrics(settings, talon):
    talon.script(*[(500, error_body(500, "storm"))] * 100)
    client = create_app(settings).test_client()
    assert client.get("/readyz").json["upstream"] == "closed"
    for i in range(3):
        form = twilio_form("SAVE", sender=f"+1555300{i:04d}")
        client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["upstream"] == "open"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'kcb_upstream_breaker_state{state="open"} 1.0' in metrics
    assert 'kcb_upstream_breaker_state{state="closed"} 0.0' in metrics
    assert "kcb_late_jobs_queued 3.0" in metrics


def test_worker_killed_mid_call_still_texts_the_code_once(settings, env, talon, twilio):
    talon.stall = True
    client = create_app(settings).test_client()
    form = twilio_form("SAVE")
    assert reply(client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})) == PENDING
    webhook_calls = len(talon.calls(COUPON))

    doomed = WorkerProcess(env).start()
    wait_until(lambda: len(talon.calls(COUPON)) > webhook_calls, timeout=30, what="the worker's Talon.One call")
    doomed.kill()  # dies while its call hangs
    talon.stall = False
    talon.release.set()

    worker = WorkerProcess(env).start()
    try:
        wait_until(lambda: len(twilio.sent()) >= 1, timeout=30, what="the late text")
        wait_until(lambda: store_of(settings).queued() == 0, timeout=30, what="the queue to drain")
    finally:
        worker.stop()
    [message] = twilio.sent()
    assert message.to == "+15551234567" and message.body == code_text("T1-00001")
    assert talon.coupons_created() == 1


def test_worker_killed_mid_send_does_not_text_twice(settings, env, talon, twilio):
    client = create_app(settings).test_client()
    talon.script(*[(503, error_body(503, "busy"))] * 30)
    form = twilio_form("SAVE")
    assert reply(client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})) == PENDING
    talon.reset()

    kill_a_worker_mid_send(env, twilio, store_of(settings).queued)  # Twilio takes it; the worker dies
    assert len(twilio.sent()) == 1


def test_an_opted_out_number_is_final(settings, env, talon, twilio):
    """Twilio's 21610: record the opt-out, never send again."""
    client = create_app(settings).test_client()
    talon.script(*[(503, error_body(503, "busy"))] * 30)
    form = twilio_form("SAVE")
    assert reply(client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})) == PENDING
    talon.reset()
    twilio.script((400, twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")))

    worker = WorkerProcess(env).start()
    try:
        wait_until(lambda: store_of(settings).queued() == 0, timeout=30, what="the job to finish")
    finally:
        worker.stop()
    assert twilio.sent() == []
    assert store_of(settings).is_opted_out("+15551234567")
    form = twilio_form("SAVE")
    assert reply(client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})) is None
