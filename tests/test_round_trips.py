"""Redis round trips per webhook path, counted at the connection on the real redis-server.

A repeat texter's whole answer is one script (claim, opt-out, limit, the
cached reply, stored for replays); these counts are the contract, so a change
that adds a round trip to a path fails here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
import redis

from bot import create_app
from bot.services import Services
from bot.store import Store
from tests.support.campaign_files import CAMPAIGNS, first_reply
from tests.support.clock import Clock
from tests.support.round_trips import CountingConnection, sent_by_this_thread
from tests.support.twiml import reply as twiml_reply
from tests.support.webhooks import new_sid, sign, twilio_form

#: Round trips each path may make (README, "Benchmarks": the counts before and after issue 17).
ROUND_TRIPS = {
    "repeat": 1,
    "first_time": 2,  # 3 before the upstream gate went into begin's round trip
    "unknown": 2,
    "replay": 1,
    "stop": 2,
    "opted_out": 2,
}


def counting_texter(settings, campaigns_file: Path | None = None, clock: Clock | None = None):
    """A `text(body, sender, sid=None)` posting signed webhooks to a fresh app on `settings`' Redis prefix;
    returns (reply text, round trips the webhook made on its own thread)."""
    settings = dataclasses.replace(settings, funnel_flush_s=0,  # the funnel's writes are not the webhook's
                                   campaigns_file=campaigns_file or settings.campaigns_file)
    pool = redis.ConnectionPool.from_url(settings.redis_url, connection_class=CountingConnection)
    store = Store(redis.Redis(connection_pool=pool), prefix=settings.redis_key_prefix)
    services = Services.build(settings, store=store)
    if clock:
        services.conversation.clock = clock
    client = create_app(services=services).test_client()

    def text(body: str, sender: str, sid: str | None = None) -> tuple[str | None, int]:
        form = twilio_form(body, sender=sender, sid=sid)
        before = sent_by_this_thread()
        response = client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
        return twiml_reply(response), sent_by_this_thread() - before

    text("SAVE", "+15550009999")  # warm up: scripts loaded, the store's generation checked
    return text, services


@pytest.fixture
def counted(settings):
    text, services = counting_texter(settings)
    yield text
    services.issuer.close()


def test_a_repeat_texter_is_one_round_trip(counted):
    first, _ = counted("SAVE", "+15551230001")
    second, _ = counted("SAVE", "+15551230001")
    third, trips = counted("SAVE", "+15551230001")
    assert "Your Acme code" in first and third == second
    assert trips == ROUND_TRIPS["repeat"]


def test_a_first_time_texter_is_begin_and_finish(counted):
    """begin claims, locks and passes the upstream gate; finish stores the code and the reply."""
    reply, trips = counted("SAVE", "+15551230002")
    assert "Your Acme code" in reply
    assert trips == ROUND_TRIPS["first_time"]


def test_an_unknown_word_is_counted(counted):
    reply, trips = counted("PIZZA", "+15551230003")
    assert reply and "Your Acme code" not in reply
    assert trips <= ROUND_TRIPS["unknown"]


def test_a_replayed_delivery_is_one_round_trip(counted):
    sid = new_sid()
    first, _ = counted("SAVE", "+15551230004", sid)
    again, trips = counted("SAVE", "+15551230004", sid)
    assert again == first
    assert trips == ROUND_TRIPS["replay"]


def test_a_stop_is_counted(counted):
    counted("SAVE", "+15551230005")
    _, trips = counted("STOP", "+15551230005")
    after, _ = counted("SAVE", "+15551230005")
    assert after is None  # opted out: the cached reply is not served
    assert trips <= ROUND_TRIPS["stop"]


def test_an_opted_out_texter_whose_stop_this_host_journalled_is_two_round_trips(counted):
    """begin checks that Redis holds the journalled STOP in its own round trip (it used to be written
    again on every text, a round trip more), then finish stores the empty answer for replays."""
    counted("SAVE", "+15551230009")
    counted("STOP", "+15551230009")
    after, trips = counted("SAVE", "+15551230009")
    assert after is None
    assert trips == ROUND_TRIPS["opted_out"]


def test_a_stop_redis_lost_is_written_again_before_anything_is_sent(settings):
    """Redis lost the opt-out record (a failover, a flush of that key) but this host journalled the STOP:
    begin says so without claiming the text, the STOP goes back into Redis, and the keyword gets nothing."""
    text, services = counting_texter(settings)
    sender = "+15551230010"
    text("SAVE", sender)
    text("STOP", sender)
    store = services.store
    for _ in range(2):  # the second time with the replay's script already loaded
        store.client.delete(store.optout_key(sender))
        assert not store.is_opted_out(sender)
        after, trips = text("SAVE", sender)
        assert after is None and store.is_opted_out(sender)
    assert trips == 4  # begin (journal ahead), the STOP written again, begin, finish
    assert text("SAVE", sender) == (None, ROUND_TRIPS["opted_out"])
    services.issuer.close()


def test_a_changed_reply_template_is_rendered_afresh(settings, tmp_path):
    sender = "+15551230006"
    text, services = counting_texter(settings)
    first, _ = text("SAVE", sender)
    code = first.split("code: ")[1].split(".")[0]
    services.issuer.close()
    edited = tmp_path / "edited.toml"
    edited.write_text(CAMPAIGNS.replace("Show it at the till.", "Show it at the door."))
    text, services = counting_texter(settings, edited)
    again, trips = text("SAVE", sender)
    assert again == f"Your Acme code: {code}. Show it at the door."
    assert trips == 2  # the old version's cached reply is not served: begin, then finish renders it
    assert text("SAVE", sender) == (again, ROUND_TRIPS["repeat"])
    services.issuer.close()


def test_past_the_retention_the_opt_in_source_is_recorded_again(settings, tmp_path):
    sender = "+15551230007"
    path = tmp_path / "retention.toml"
    path.write_text(CAMPAIGNS.replace("[program]", "[program]\nconsent_retention_days = 30", 1))
    clock = Clock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    text, services = counting_texter(settings, path, clock)
    first, _ = text("SAVE", sender)
    clock.now += dt.timedelta(days=29)
    repeat, trips = text("SAVE", sender)
    assert first == first_reply(repeat) and trips == ROUND_TRIPS["repeat"]  # the notice went with the first
    clock.now += dt.timedelta(days=2)
    again, trips = text("SAVE", sender)
    assert again == repeat and trips == 2  # finish writes the fresh opt-in source
    raw = services.store.client.lrange(services.store.consent_key(sender), 0, -1)
    at_ms = str(int(clock.now.timestamp() * 1000))
    assert [r.decode().split("|")[:2] for r in raw] == [[at_ms, "opt_in_source"]]  # the old one past the retention
    assert text("SAVE", sender) == (repeat, ROUND_TRIPS["repeat"])
    services.issuer.close()


def test_a_landing_form_number_is_never_answered_from_the_cache(services):
    from bot.conversation import InboundMessage

    def handle(n: int):
        return services.conversation.handle(InboundMessage(f"SM{n:032d}", "+15551230008", "+15005550006", "SAVE",
                                                           channel="web"))

    replies = [handle(n) for n in range(3)]
    assert [r.outcome for r in replies] == ["issued", "repeat", "repeat"]
    raw = services.store.client.lrange(services.store.consent_key("+15551230008"), 0, -1)
    assert [r.decode().split("|")[1] for r in raw] == ["request_unverified"] * 3  # one per serve, as before
