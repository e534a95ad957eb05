"""A queue that meets the campaign's Talon.One budget drains at the budget's rate: each job waits for the
budget's next slot (the gate says when), in order, claimed once; no backoff leaves slots unused."""

from __future__ import annotations

import dataclasses

import pytest

from bot.jobs import LateJob
from bot.services import Services
from tests.support.campaign_files import CAMPAIGNS
from tests.support.twiml import reply
from tests.support.webhooks import SHOP_NUMBER, sign, twilio_form

INTERVAL_S = 0.05  # 20 calls a second, one at a time


@pytest.fixture
def budgeted(settings, tmp_path):
    path = tmp_path / "budget.toml"
    path.write_text(CAMPAIGNS.replace(
        "[program]", "[program]\nupstream_limit = { rate = 20, per_seconds = 1, burst = 1 }", 1))
    services = Services.build(dataclasses.replace(settings, campaigns_file=path))
    yield services
    services.issuer.close()


def test_jobs_over_the_budget_wait_for_its_next_slot_not_a_backoff(budgeted, twilio, talon):
    from bot import create_app

    client = create_app(services=budgeted).test_client()
    form = twilio_form("SAVE", sender="+15557770000")
    assert "Your Acme code" in reply(client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)}))
    numbers = [f"+1555777{i:04d}" for i in range(1, 6)]
    for n, number in enumerate(numbers):  # the budget's one slot is just taken: all five are over it
        job = LateJob(slug="spring", sender=number, to=SHOP_NUMBER, sid=f"SM{n:032d}")
        assert budgeted.store.enqueue(job.id, job.to_json())

    worker = budgeted.late_delivery()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        worker_sleep(seconds)

    worker_sleep, worker.sleep = worker.sleep, sleep
    handled = [worker.run_once() for _ in numbers]

    assert handled == [True] * 5  # each job done at its first claim: none put back
    assert budgeted.store.queued() == 0
    assert sorted(m.to for m in twilio.sent()) == numbers
    assert len(waits) >= 4  # the jobs after the first met the budget and waited for it
    assert all(0 < wait <= INTERVAL_S for wait in waits), waits  # a slot away at most, never a 2 s backoff
    assert talon.coupons_created() == 6
