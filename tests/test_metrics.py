"""Prometheus metrics after scripted traffic: names, labels and values, read back from GET /metrics."""

from __future__ import annotations

from bot import create_app
from bot.services import services_of
from tests.support.campaign_files import first_reply
from tests.support.metrics import delta, scrape
from tests.support.redis_server import free_port
from tests.support.talon_stub import error_body
from tests.support.twiml import reply
from tests.support.webhooks import sign, twilio_form

FALLBACK = "Sorry, we don't know that word. Text HELP for help."


def texts(before, after, campaign: str, outcome: str) -> float:
    return delta(before, after, "kcb_texts_total", channel="sms", campaign=campaign, outcome=outcome)


def calls(before, after, endpoint: str, status: str) -> float:
    return delta(before, after, "kcb_upstream_request_duration_seconds_count", endpoint=endpoint, status=status)


def test_texts_are_counted_by_campaign_and_outcome(client, text, talon):
    before = scrape(client)

    assert "T1-" in reply(text("SAVE", sender="+15550100001"))            # issued
    assert "T1-" in reply(text("spring", sender="+15550100001"))          # repeat
    form = twilio_form("SAVE", sender="+15550100001")
    for _ in range(2):                                                     # first delivery: repeat; again: replayed
        client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
    assert reply(text("PIZZA", sender="+15550100002")) == first_reply(FALLBACK)  # unknown
    text("STOP", sender="+15550100003")                                    # opt_out
    assert reply(text("SAVE", sender="+15550100003")) is None              # opted_out
    talon.script((404, error_body(404, "Not Found")))                        # permanent: not retried
    assert "could not get your code" in reply(text("SAVE", sender="+15550100004"))  # upstream_error
    assert reply(text("POINTS", sender="+15550100005")) == first_reply("You have 120 points.")  # loyalty
    assert reply(text("PIZZA", sender="+15550100006")) == first_reply(FALLBACK)  # unknown, the first message
    fallbacks = 1
    while reply(text("PIZZA", sender="+15550100006")) == FALLBACK:        # unknown ... until limited
        fallbacks += 1
        assert fallbacks < 100, "the rate limit never answered"

    after = scrape(client)
    assert texts(before, after, "spring", "issued") == 1
    assert texts(before, after, "spring", "repeat") == 2
    assert texts(before, after, "", "replayed") == 1
    assert texts(before, after, "", "unknown") == 1 + fallbacks
    assert texts(before, after, "", "limited") == 1
    assert texts(before, after, "", "opt_out") == 1
    assert texts(before, after, "", "opted_out") == 1
    assert texts(before, after, "spring", "upstream_error") == 1
    assert texts(before, after, "club", "loyalty") == 1
    total = sum(v - before.get(k, 0.0) for k, v in after.items() if k[0] == "kcb_texts_total")
    assert total == 10 + fallbacks

    assert calls(before, after, "coupon", "200") == 1
    assert calls(before, after, "coupon", "404") == 1
    assert calls(before, after, "loyalty", "200") == 1
    assert len(talon.calls()) == 3


def test_no_label_carries_a_phone_number(client, text, talon):
    text("SAVE", sender="+15550100011")
    text("PIZZA", sender="+15550100012")
    for name, labels in scrape(client):
        for label, value in labels:
            assert "555" not in value, (name, label, value)


def test_upstream_latency_is_observed_in_the_histogram(client, text, talon):
    talon.latency = 0.06
    before = scrape(client)

    text("SAVE", sender="+15550100021")

    after = scrape(client)
    bucket = "kcb_upstream_request_duration_seconds_bucket"
    assert delta(before, after, bucket, endpoint="coupon", status="200", le="0.05") == 0
    assert delta(before, after, bucket, endpoint="coupon", status="200", le="1.0") == 1
    assert delta(before, after, bucket, endpoint="coupon", status="200", le="+Inf") == 1
    seconds = delta(before, after, "kcb_upstream_request_duration_seconds_sum", endpoint="coupon", status="200")
    assert 0.06 <= seconds < 1.0


def test_timeouts_and_unreachable_upstream_have_their_own_status(settings, talon):
    slow = create_app(settings.__class__(**{**settings.__dict__, "talon_read_timeout": 0.1}))
    # Its own key prefix: the slow app's timeouts open the breaker both would share in Redis.
    down = create_app(settings.__class__(**{**settings.__dict__, "talon_base_url": f"http://127.0.0.1:{free_port()}",
                                            "redis_key_prefix": settings.redis_key_prefix + "d"}))
    before = scrape(slow.test_client())
    talon.latency = 0.5

    for app, sender in ((slow, "+15550100031"), (down, "+15550100032")):
        form = twilio_form("SAVE", sender=sender)
        response = app.test_client().post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
        assert reply(response)  # a polite answer either way (retries and late replies are another test's)

    after = scrape(slow.test_client())
    attempts = len(talon.calls("/customer_engagement/coupon"))  # every one timed out
    assert attempts >= 1
    assert calls(before, after, "coupon", "timeout") == attempts
    assert calls(before, after, "coupon", "error") >= 1  # nothing listens: no status at all
    assert calls(before, after, "coupon", "200") == 0
    assert sum(v - before.get(k, 0.0) for k, v in after.items() if k[0] == "kcb_texts_total") == 2
    for app in (slow, down):
        services_of(app).issuer.close()
