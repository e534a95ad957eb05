"""One coupon per customer whatever Twilio and the crowd do: the Redis guarantees.

Each guarantee runs on a single redis-server and on a real 3-master Redis
Cluster; the multi-process ones run against separate gunicorn processes.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot import Settings, create_app
from bot.services import Services
from tests.support.bot_process import BotProcess, env_of
from tests.support.campaign_files import CAMPAIGNS, first_reply
from tests.support.redis_server import RedisServer
from tests.support.twiml import reply
from tests.support.webhooks import new_sid, send_signed, sign, twilio_form, twiml_message

COUPON = "/customer_engagement/coupon"
CODE_REPLY = "Your Acme code: {}. Show it at the till."


def with_program(extra: str) -> str:
    return CAMPAIGNS.replace('terms_url = "https://example.com/sms-terms"', f'terms_url = "https://example.com/sms-terms"\n{extra}')


@pytest.fixture(params=["redis", "cluster"])
def backend(request, redis_url) -> dict:
    if request.param == "cluster":
        return {"redis_url": request.getfixturevalue("redis_cluster_url"), "redis_cluster": True}
    return {"redis_url": redis_url, "redis_cluster": False}


def make_app(settings: Settings, campaigns: str | None = None, tmp_path: Path | None = None, **changes):
    if campaigns is not None:
        path = tmp_path / "guarantees.toml"
        path.write_text(campaigns)
        changes["campaigns_file"] = path
    return create_app(dataclasses.replace(settings, **changes))


def post(client, body: str, sender: str = "+15551234567", sid: str | None = None):
    form = twilio_form(body, sender=sender, sid=sid)
    return client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})


# -- replayed deliveries


def test_replay_returns_identical_bytes_and_no_upstream_call(settings, backend, talon):
    client = make_app(settings, **backend).test_client()
    form = twilio_form("SAVE")
    headers = {"X-Twilio-Signature": sign(form)}

    first = client.post("/sms", data=form, headers=headers)
    replays = [client.post("/sms", data=form, headers=headers) for _ in range(3)]

    assert reply(first) == first_reply(CODE_REPLY.format("T1-00001"))
    assert all(r.get_data() == first.get_data() for r in replays)
    assert len(talon.calls(COUPON)) == 1


def test_replay_of_a_fallback_is_identical_too(settings, backend, talon):
    client = make_app(settings, **backend).test_client()
    sid = new_sid()
    assert post(client, "PIZZA", sid=sid).get_data() == post(client, "PIZZA", sid=sid).get_data()


class CrashOnce:
    """An issuer whose first call dies the way a bug would: not an upstream error."""

    def __init__(self, inner):
        self.inner = inner
        self.crashed = False

    def coupon(self, **kwargs):
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("handler bug")
        return self.inner.coupon(**kwargs)

    def close(self):
        self.inner.close()


def test_a_crashed_handler_releases_its_claim_so_the_retry_succeeds(settings, talon):
    from bot.services import make_issuer

    issuer = CrashOnce(make_issuer(settings))
    client = create_app(services=Services.build(settings, issuer=issuer)).test_client()
    sid = new_sid()

    crashed = post(client, "SAVE", sid=sid)
    retried = post(client, "SAVE", sid=sid)

    assert "could not get your code" in reply(crashed)
    assert reply(retried) == first_reply(CODE_REPLY.format("T1-00001"))


# -- single flight


def test_concurrent_duplicates_across_two_processes_make_one_upstream_call(settings, backend, talon, tmp_path):
    campaigns = tmp_path / "c.toml"
    campaigns.write_text(with_program("sender_limit = { rate = 100, per_seconds = 60, burst = 100 }"))
    settings = dataclasses.replace(settings, **backend)
    talon.latency = 0.5  # every text arrives while the first upstream call is still running
    bots = [BotProcess(env_of(settings, campaigns)).start() for _ in range(2)]
    try:
        # The number's first message (with the opt-in notice) first: the 16 duplicates then all get the code alone.
        assert twiml_message(send_signed(bots[0].url, "PIZZA", "+15551234567")).startswith("Sorry, we don't know")
        with ThreadPoolExecutor(max_workers=16) as pool:
            futures = [pool.submit(send_signed, bots[i % 2].url, "SAVE", "+15551234567") for i in range(16)]
            answers = [twiml_message(f.result()) for f in futures]
    finally:
        for bot in bots:
            bot.stop()

    assert len(talon.calls(COUPON)) == 1
    assert answers == [CODE_REPLY.format("T1-00001")] * 16


# -- rate limits


def test_a_limited_sender_gets_one_notice_per_window_while_others_are_served(settings, backend, talon, tmp_path):
    client = make_app(
        settings, with_program("sender_limit = { rate = 1, per_seconds = 3600, burst = 2 }"), tmp_path, **backend
    ).test_client()

    answers = [reply(post(client, "SAVE")) for _ in range(5)]
    other = reply(post(client, "SAVE", sender="+447700900123"))

    assert answers[:2] == [first_reply(CODE_REPLY.format("T1-00001")), CODE_REPLY.format("T1-00001")]
    assert answers[2] == "Acme Rewards: too many messages. Please wait a while before texting again."
    assert answers[3:] == [None, None]
    assert other == first_reply(CODE_REPLY.format("T1-00002"))
    assert len(talon.calls(COUPON)) == 2


def test_a_campaign_can_have_its_own_sender_limit(settings, talon, tmp_path):
    campaigns = CAMPAIGNS.replace(
        'external_campaign_id = "sms-spring"',
        'external_campaign_id = "sms-spring"\nsender_limit = { rate = 1, per_seconds = 3600, burst = 1 }',
    )
    client = make_app(settings, campaigns, tmp_path).test_client()
    assert reply(post(client, "SAVE")) == first_reply(CODE_REPLY.format("T1-00001"))
    assert "too many messages" in reply(post(client, "SAVE"))
    # Other keywords run on the program's own, separate bucket.
    assert reply(post(client, "REFER")) == "Share your code REF0002 with a friend."


def test_limits_hold_across_two_bot_processes(settings, talon, tmp_path):
    campaigns = tmp_path / "c.toml"
    campaigns.write_text(with_program("sender_limit = { rate = 1, per_seconds = 3600, burst = 3 }"))
    bots = [BotProcess(env_of(settings, campaigns)).start() for _ in range(2)]
    try:
        answers = [twiml_message(send_signed(bots[i % 2].url, "SAVE", "+15551234567")) for i in range(8)]
    finally:
        for bot in bots:
            bot.stop()
    assert answers[0] == first_reply(CODE_REPLY.format("T1-00001"))
    served = [answers[0], *(a for a in answers[1:] if a == CODE_REPLY.format("T1-00001"))]
    notices = [a for a in answers if a and "too many messages" in a]
    assert (len(served), len(notices), answers.count(None)) == (3, 1, 4)


def test_the_campaign_upstream_budget_protects_talon_one(settings, backend, talon, tmp_path):
    client = make_app(
        settings, with_program("upstream_limit = { rate = 1, per_seconds = 3600, burst = 1 }"), tmp_path, **backend
    ).test_client()

    first = reply(post(client, "SAVE", sender="+15551234567"))
    second = reply(post(client, "SAVE", sender="+447700900123"))
    repeat = reply(post(client, "SAVE", sender="+15551234567"))  # cached: needs no budget

    assert first == first_reply(CODE_REPLY.format("T1-00001"))
    # Beyond the budget a first-time texter is queued, not dropped: the code follows by text.
    assert second == first_reply("Acme Rewards: your code is on its way and will arrive by text shortly.")
    assert first == first_reply(repeat)
    assert len(talon.calls(COUPON)) == 1


def test_bad_limit_configuration_is_refused_with_its_place(tmp_path):
    from bot.campaign_file import load_campaigns
    from bot.errors import CampaignFileError

    path = tmp_path / "c.toml"
    path.write_text(with_program("sender_limit = { rate = 0, per_seconds = 60 }"))
    with pytest.raises(CampaignFileError) as caught:
        load_campaigns(path)
    [problem] = caught.value.problems
    assert "[program].sender_limit: rate must be a whole number of at least 1, got 0" in str(problem)


# -- Redis going away


@pytest.fixture
def own_redis():
    server = RedisServer().start()
    yield server
    server.cleanup()


def test_redis_restarted_mid_run_gives_valid_twiml_and_no_double_coupon(settings, talon, own_redis):
    client = make_app(settings, redis_url=own_redis.url).test_client()

    before = reply(post(client, "SAVE"))
    own_redis.stop()
    during = [reply(post(client, word)) for word in ("SAVE", "HELP", "PIZZA")]
    own_redis.start()  # same port, empty: the cached code is gone
    after = reply(post(client, "SAVE"))

    # Redis came back empty: the marker that the number was sent the opt-in notice went with it.
    assert before == after == first_reply(CODE_REPLY.format("T1-00001"))
    assert during == [
        "Acme Rewards: we are busy right now. Please text again in a minute.",
        "Acme Rewards: text SAVE for a coupon. Up to 2 msgs/mo. Msg&data rates may apply. Reply STOP to cancel.",
        "Sorry, we don't know that word. Text HELP for help.",
    ]
    # Talon.One was asked again after the restart, with the same identifier: one coupon exists.
    assert [c.param("identifier") for c in talon.calls(COUPON)] == ["+15551234567"] * 2
    assert talon.coupons_created() == 1


def test_readyz_reports_redis_going_away(settings, own_redis):
    client = make_app(settings, redis_url=own_redis.url).test_client()
    assert client.get("/readyz").status_code == 200
    own_redis.stop()
    assert client.get("/readyz").status_code == 503
    own_redis.start()
    assert client.get("/readyz").status_code == 200
