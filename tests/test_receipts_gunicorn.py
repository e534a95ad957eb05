"""Delivery receipts as operators run the bot: the late-delivery worker (`bot worker`) texts through the
Twilio stand-in, which posts the status callbacks itself, signed, out of order, repeated and all at once,
to the bot under gunicorn (two workers); real redis-server throughout."""

from __future__ import annotations

import datetime as dt
import random
from concurrent.futures import ThreadPoolExecutor

from bot.jobs import LateJob
from bot.store import connect, funnel_hour
from tests.support.bot_process import BotProcess, WorkerProcess, env_of, wait_until
from tests.support.webhooks import SHOP_NUMBER

NUMBERS = [f"+1555444{n:04d}" for n in range(6)]


def test_callbacks_posted_concurrently_out_of_order_and_repeated_end_right(settings, campaigns_file, talon, twilio):
    store = connect(settings.redis_url, prefix=settings.redis_key_prefix)
    env = {**env_of(settings, campaigns_file), "JOB_LEASE_S": "1.5"}
    bot = BotProcess(env, workers=2).start()
    worker = WorkerProcess(env).start()
    try:
        for number in NUMBERS:
            job = LateJob(slug="spring", sender=number, to=SHOP_NUMBER, sid="SM" + "2" * 32)
            store.enqueue(job.id, job.to_json())
        wait_until(lambda: len(twilio.sent()) == len(NUMBERS), timeout=30, what="the late texts")
        by_number = {m.to: m for m in twilio.sent()}
        opted_out, filtered, *delivered = NUMBERS
        plans = {number: ["queued", "sent", "delivered", "delivered", "sent"] for number in delivered}
        plans[opted_out] = ["sent", ("failed", "21610"), ("failed", "21610"), "sent"]
        plans[filtered] = ["queued", ("undelivered", "30007"), "sent", ("undelivered", "30007")]
        callbacks = [c for number, steps in plans.items() for c in twilio.callbacks(by_number[number], *steps)]
        random.Random(14).shuffle(callbacks)
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda c: twilio.post_callbacks([c], bot.url)[0], callbacks))
        assert statuses == [200] * len(callbacks)

        last = {number: store.last_status(by_number[number].sid, number) for number in NUMBERS}
        assert last == {**{n: ("delivered", "") for n in delivered}, opted_out: ("failed", "21610"),
                        filtered: ("undelivered", "30007")}
        assert store.is_opted_out(opted_out)

        # Each final status is counted once, whatever the repeats (each worker writes within a second).
        hour = funnel_hour(dt.datetime.now(dt.UTC))

        def counted() -> dict:
            found = {}
            for at in (hour - dt.timedelta(hours=1), hour):
                for (_, _, event), n in store.outbound_counts([at])[at].items():
                    found[event] = found.get(event, 0) + n
            return found

        expected = {"sent": 6, "delivered": 4, "failed": 1, "error:21610": 1, "undelivered": 1, "error:30007": 1}
        wait_until(lambda: counted() == expected, timeout=10, what=f"the outbound counts {expected}")

        # The opted-out number gets no further late reply; another number still does.
        for number in (opted_out, delivered[0]):
            job = LateJob(slug="friends", sender=number, to=SHOP_NUMBER, sid="SM" + "3" * 32)
            store.enqueue(job.id, job.to_json())
        wait_until(lambda: len(twilio.sent(delivered[0])) == 2, timeout=30, what="the second late text")
        wait_until(lambda: store.queued() == 0, timeout=30, what="the queue to drain")
        assert len(twilio.sent(opted_out)) == 1
    finally:
        worker.stop()
        bot.stop()
