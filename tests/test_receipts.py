"""Delivery receipts: Twilio's signed status callbacks (from the stand-in) -> each text's last status, the
opt-outs and do-not-send marks they imply, the counts on the results page and /metrics.

Real parts: redis-server, the Flask app, the Twilio stand-in recording each text's StatusCallback and
signing its callbacks with the test auth token; the late-delivery worker run in-process, one job at a time.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import logging
from html.parser import HTMLParser

import pytest

from bot import create_app
from bot.config import Settings
from bot.errors import RecipientUndeliverable
from bot.jobs import LateJob
from bot.services import services_of
from tests.support.campaign_files import WITH_POSTERS
from tests.support.landing import CUSTOMER as FORM_CUSTOMER
from tests.support.landing import form_for
from tests.support.metrics import delta, scrape
from tests.support.redis_server import free_port
from tests.support.webhooks import PUBLIC_BASE_URL, SHOP_NUMBER, sign

CUSTOMER = "+15557654321"
PASSWORD = "correct horse battery staple"
LOGIN = {"Authorization": "Basic " + base64.b64encode(f"marketer:{PASSWORD}".encode()).decode()}


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, marketer_password=PASSWORD)


def send(services, twilio, to: str = CUSTOMER, *, campaign: str = "spring", occasion: str = "late"):
    """One outbound text through the one sender every path uses; the stand-in's record of it."""
    sid = services.sms.send(to=to, from_=SHOP_NUMBER, body="Your Acme code: X1. Show it at the till.",
                            campaign=campaign, occasion=occasion)
    [message] = [m for m in twilio.sent(to) if m.sid == sid]
    return message


def post_all(client, callbacks) -> list[int]:
    return [callback.post_to(client).status_code for callback in callbacks]


def late_reply(services, sender: str, slug: str = "spring") -> bool:
    """Queue a late reply for `sender` and let the worker handle it; True when a job was handled."""
    job = LateJob(slug=slug, sender=sender, to=SHOP_NUMBER, sid="SM" + "1" * 32)
    services.store.enqueue(job.id, job.to_json())
    return services.late_delivery().run_once()


def test_every_outbound_text_asks_for_status_callbacks_at_the_public_url(services, twilio):
    message = send(services, twilio)
    assert message.status_callback == PUBLIC_BASE_URL + "/twilio/status"
    assert services.store.last_status(message.sid, CUSTOMER) == ("queued", "")


def test_without_public_base_url_no_status_callback_is_asked(app, settings, twilio):
    local = services_of(create_app(dataclasses.replace(settings, public_base_url=None)))
    message = send(local, twilio)
    assert message.status_callback == ""
    local.issuer.close()


def test_a_late_reply_is_recorded_under_its_campaign_and_gets_receipts(client, services, talon, twilio):
    assert late_reply(services, CUSTOMER)
    [message] = twilio.sent(CUSTOMER)
    assert message.body.startswith("Your Acme code:")
    assert post_all(client, twilio.callbacks(message, "sent", "delivered")) == [200, 200]
    assert services.store.last_status(message.sid, CUSTOMER) == ("delivered", "")


@pytest.mark.parametrize("steps, last", [
    (["queued", "sent", "delivered"], ("delivered", "")),
    (["delivered", "sent", "queued", "sending"], ("delivered", "")),  # a late "sent" never overwrites delivered
    (["sent", "delivered", "delivered", "sent", "delivered"], ("delivered", "")),  # Twilio's retries
    (["sent", ("undelivered", "30003"), "sent"], ("undelivered", "30003")),  # undelivered after sent
    ([("failed", "30008"), "delivered", "sent"], ("failed", "30008")),  # a final status is final
    (["sending", "queued", "accepted"], ("sending", "")),
])
def test_callbacks_out_of_order_and_repeated_end_at_the_last_status(client, services, twilio, steps, last):
    message = send(services, twilio)
    assert post_all(client, twilio.callbacks(message, *steps)) == [200] * len(steps)
    assert services.store.last_status(message.sid, CUSTOMER) == last


def test_the_record_is_kept_for_the_retention(services, twilio):
    message = send(services, twilio)
    ttl_ms = services.store.client.pttl(services.store.outbound_key(CUSTOMER, message.sid))
    retention_ms = Settings.receipt_retention_days * 24 * 3600 * 1000
    assert retention_ms - 60_000 < ttl_ms <= retention_ms


@pytest.mark.parametrize("signature", ["", "forged", "other-token", "other-url"])
def test_a_bad_or_missing_signature_is_refused(client, services, twilio, signature):
    message = send(services, twilio)
    callback = twilio.callback(message, "delivered")
    headers = {
        "": {},
        "forged": {"X-Twilio-Signature": "forged"},
        "other-token": {"X-Twilio-Signature": sign(callback.form, callback.url, token="another-token")},
        "other-url": {"X-Twilio-Signature": sign(callback.form, PUBLIC_BASE_URL + "/sms")},
    }[signature]
    response = client.post("/twilio/status", data=callback.form, headers=headers)
    assert response.status_code == 403
    assert services.store.last_status(message.sid, CUSTOMER) == ("queued", "")


def test_an_unknown_message_is_answered_200_logged_and_not_stored(client, services, twilio, caplog):
    message = dataclasses.replace(send(services, twilio), sid="SM" + "f" * 32)
    with caplog.at_level(logging.INFO, logger="bot.receipts"):
        assert post_all(client, twilio.callbacks(message, "delivered")) == [200]
    assert services.store.last_status(message.sid, CUSTOMER) is None
    assert not services.store.client.exists(services.store.outbound_key(CUSTOMER, message.sid))
    [record] = [r for r in caplog.records if getattr(r, "event", "") == "receipt_unknown"]
    assert message.sid in record.getMessage()
    assert CUSTOMER not in caplog.text


@pytest.mark.parametrize("drop", ["MessageSid", "MessageStatus"])
def test_a_malformed_callback_is_a_400(client, services, twilio, drop):
    message = send(services, twilio)
    callback = twilio.callback(message, "delivered")
    form = {k: v for k, v in callback.form.items() if k != drop}
    response = client.post("/twilio/status", data=form, headers={"X-Twilio-Signature": sign(form, callback.url)})
    assert response.status_code == 400
    assert services.store.last_status(message.sid, CUSTOMER) == ("queued", "")


def test_21610_records_the_opt_out_and_the_next_late_reply_is_not_sent(client, services, talon, twilio):
    message = send(services, twilio)
    assert not services.store.is_opted_out(CUSTOMER)
    assert post_all(client, twilio.callbacks(message, "sent", ("failed", "21610"))) == [200, 200]
    assert services.store.is_opted_out(CUSTOMER)
    assert late_reply(services, CUSTOMER, "friends")
    assert [m.sid for m in twilio.sent(CUSTOMER)] == [message.sid]  # nothing more to that number


@pytest.mark.parametrize("code", ["21614", "30006"])
def test_an_unreachable_number_is_not_texted_again(client, services, talon, twilio, code):
    message = send(services, twilio)
    assert post_all(client, twilio.callbacks(message, ("undelivered", code))) == [200]
    assert services.store.undeliverable(CUSTOMER)
    assert not services.store.undeliverable("+15550001111")
    with pytest.raises(RecipientUndeliverable):
        send(services, twilio, occasion="web")
    assert late_reply(services, CUSTOMER, "friends")
    assert [m.sid for m in twilio.sent(CUSTOMER)] == [message.sid]


def test_other_error_codes_mark_nothing(client, services, twilio):
    message = send(services, twilio)
    assert post_all(client, twilio.callbacks(message, ("undelivered", "30003"))) == [200]
    assert not services.store.undeliverable(CUSTOMER) and not services.store.is_opted_out(CUSTOMER)
    assert send(services, twilio).sid != message.sid


def test_carrier_filtering_is_counted_and_alerted(client, services, twilio, caplog):
    before = scrape(client)
    messages = [send(services, twilio, f"+1555765{n:04d}") for n in range(3)]
    with caplog.at_level(logging.WARNING, logger="bot.receipts"):
        for message in messages:
            # Twilio retries the callback: still one filtered text each.
            assert post_all(client, twilio.callbacks(message, ("undelivered", "30007"), ("undelivered", "30007"))) \
                == [200, 200]
    after = scrape(client)
    assert delta(before, after, "kcb_outbound_filtered_total", campaign="spring") == 3
    assert delta(before, after, "kcb_outbound_errors_total", code="30007") == 3
    warnings = [r for r in caplog.records if getattr(r, "event", "") == "carrier_filtered"]
    assert len(warnings) == 3 and all(r.levelno == logging.WARNING for r in warnings)
    assert not any(m.to in caplog.text for m in messages)


def test_metrics_count_sent_texts_statuses_and_error_codes(client, services, twilio):
    before = scrape(client)
    first, second = send(services, twilio), send(services, twilio, "+15550002222", campaign="friends")
    post_all(client, twilio.callbacks(first, "sent", "delivered", "sent"))
    post_all(client, twilio.callbacks(second, "sent", ("failed", "30008")))
    client.post("/twilio/status", data={"MessageSid": "x"}, headers={"X-Twilio-Signature": "forged"})
    after = scrape(client)
    assert delta(before, after, "kcb_outbound_sent_total", campaign="spring") == 1
    assert delta(before, after, "kcb_outbound_sent_total", campaign="friends") == 1
    assert delta(before, after, "kcb_outbound_status_total", status="sent") == 2
    assert delta(before, after, "kcb_outbound_status_total", status="delivered") == 1
    assert delta(before, after, "kcb_outbound_status_total", status="failed") == 1
    assert delta(before, after, "kcb_outbound_errors_total", code="30008") == 1
    assert delta(before, after, "kcb_receipts_total", result="stored") == 4
    assert delta(before, after, "kcb_receipts_total", result="stale") == 1
    assert delta(before, after, "kcb_receipts_total", result="forbidden") == 1


class OutboundTable(HTMLParser):
    """The results page's #outbound-table: (campaign, occasion) -> {column: number}; #outbound-errors rows."""

    def __init__(self, html: str):
        super().__init__()
        self.rows: dict[tuple[str, str], dict[str, int]] = {}
        self.errors: dict[tuple[str, str, str], int] = {}
        self.charts: set[str] = set()
        self._cells: dict | None = None  # the row being read, or None outside the two tables
        self._cell = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self._cells = None
            if "data-outbound-campaign" in attrs:
                self._cells = self.rows.setdefault((attrs["data-outbound-campaign"], attrs["data-occasion"]), {})
            elif "data-error-campaign" in attrs:
                self._error = (attrs["data-error-campaign"], attrs["data-occasion"], attrs["data-code"])
                self._cells = {}
        elif tag == "td" and "data-column" in attrs and self._cells is not None:
            self._cell = attrs["data-column"]
        elif tag == "svg" and attrs["id"].startswith("outbound-chart-"):
            self.charts.add(attrs["id"].removeprefix("outbound-chart-"))

    def handle_data(self, data):
        if self._cell is None:
            return
        self._cells[self._cell] = int(data)
        if self._cell == "texts":
            self.errors[self._error] = int(data)
        self._cell = None


def test_the_results_page_shows_the_outbound_section_and_its_csv(client, services, talon, twilio):
    numbers = [f"+1555333{n:04d}" for n in range(6)]
    late = [send(services, twilio, n) for n in numbers[:4]]
    web = [send(services, twilio, n, occasion="web") for n in numbers[4:]]
    friends = send(services, twilio, "+15559990000", campaign="friends", occasion="b-2026-06")
    steps = {
        late[0]: ["sent", "delivered", "delivered"],
        late[1]: ["delivered", "sent"],
        late[2]: ["sent", ("undelivered", "30007")],
        late[3]: ["sent"],
        web[0]: [("failed", "21610")],
        web[1]: [("undelivered", "30006"), ("undelivered", "30006")],
        friends: ["sent", ("failed", "30008")],
    }
    for message, callbacks in steps.items():
        assert set(post_all(client, twilio.callbacks(message, *callbacks))) == {200}
    zero = {"delivered": 0, "undelivered": 0, "failed": 0, "pending": 0, "opted_out": 0, "unreachable": 0,
            "filtered": 0}
    expected = {
        ("spring", ""): {**zero, "sent": 6, "delivered": 2, "undelivered": 2, "failed": 1, "pending": 1,
                         "opted_out": 1, "unreachable": 1, "filtered": 1},
        ("spring", "late"): {**zero, "sent": 4, "delivered": 2, "undelivered": 1, "pending": 1, "filtered": 1},
        ("spring", "web"): {**zero, "sent": 2, "undelivered": 1, "failed": 1, "opted_out": 1, "unreachable": 1},
        ("friends", ""): {**zero, "sent": 1, "failed": 1},
        ("friends", "b-2026-06"): {**zero, "sent": 1, "failed": 1},
    }
    errors = {("spring", "late", "30007"): 1, ("spring", "web", "21610"): 1, ("spring", "web", "30006"): 1,
              ("friends", "b-2026-06", "30008"): 1}

    page = client.get("/marketer/results?period=24h", headers=LOGIN)
    assert page.status_code == 200
    table = OutboundTable(page.get_data(as_text=True))
    assert table.rows == expected
    assert table.errors == errors
    assert table.charts == {"spring", "spring.late", "spring.web", "friends", "friends.b-2026-06"}

    exported = client.get("/marketer/results.csv?period=24h&table=outbound", headers=LOGIN)
    assert exported.status_code == 200 and "results-outbound-" in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert {(r["campaign"], r["occasion"]): {k: int(v) for k, v in r.items() if k in zero or k == "sent"}
            for r in rows} == expected
    assert {r["level"] for r in rows} == {"campaign", "occasion"}
    by_step = list(csv.DictReader(io.StringIO(
        client.get("/marketer/results.csv?period=24h&table=outbound&by_step=1", headers=LOGIN).get_data(as_text=True))))
    assert sum(int(r["sent"]) for r in by_step if r["level"] == "campaign") == 7
    error_rows = list(csv.DictReader(io.StringIO(
        client.get("/marketer/results.csv?period=24h&table=errors", headers=LOGIN).get_data(as_text=True))))
    assert {(r["campaign"], r["occasion"], r["error_code"]): int(r["texts"]) for r in error_rows} == errors
    assert client.get("/marketer/results.csv?table=nope", headers=LOGIN).status_code == 400
    assert not any(n in exported.get_data(as_text=True) for n in numbers)


@pytest.fixture
def campaigns_text() -> str:
    return WITH_POSTERS  # the landing page's posters, and the conftest's campaigns


def test_the_landing_form_texts_with_receipts_and_skips_an_unreachable_number(app, client, talon, twilio):
    services = services_of(app)
    assert client.post("/q/spring", data=form_for(app, "spring")).status_code == 200
    [message] = twilio.sent(FORM_CUSTOMER)
    assert message.status_callback == PUBLIC_BASE_URL + "/twilio/status"
    assert post_all(client, twilio.callbacks(message, "sent", ("undelivered", "30006"))) == [200, 200]
    assert services.store.last_status(message.sid, FORM_CUSTOMER) == ("undelivered", "30006")

    again = client.post("/q/spring", data=form_for(app, "spring"))
    assert again.status_code == 400
    assert "We could not text that number" in again.get_data(as_text=True)
    assert [m.sid for m in twilio.sent(FORM_CUSTOMER)] == [message.sid]


def test_a_callback_redis_cannot_take_is_a_503_so_twilio_retries(settings, twilio, services):
    message = send(services, twilio)
    down = create_app(dataclasses.replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}"))
    assert twilio.callback(message, "delivered").post_to(down.test_client()).status_code == 503
    services_of(down).issuer.close()
