"""Birthday coupons end to end on the real Redis with the Talon.One and Twilio stand-ins, on an injected clock:
the planner, the send engine's rules (quiet hours, opt-outs, consent, exactly once) and the results row."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from bot.conversation import InboundMessage
from bot.planner import BirthdayPlanner
from bot.sending import Outbound, SendPolicy
from bot.store import AudienceRecord
from tests.support.campaign_files import WITH_BIRTHDAYS
from tests.support.clock import Clock
from tests.support.sending import drain
from tests.support.talon_stub import error_body
from tests.support.twilio_stub import twilio_error
from tests.support.webhooks import SHOP_NUMBER

COUPON = "/customer_engagement/coupon"
NEW_YORK = "+12125550101"   # a Manhattan number: America/New_York by its area code
BERLIN = "+4915112345678"
TOKYO = "+819012345678"


@pytest.fixture
def campaigns_text() -> str:
    return WITH_BIRTHDAYS


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2026, 7, 14, 4, 0, tzinfo=dt.UTC))


@pytest.fixture
def engine(services, clock):
    # max_hold_s=0: a held job comes due again at once, so the injected clock decides (no sleeping).
    return services.send_engine(clock=clock, policy=SendPolicy(lease_s=30, max_hold_s=0, reconcile_after_s=5,
                                                               max_attempts=2))


@pytest.fixture
def planner(services, engine) -> BirthdayPlanner:
    return services.birthday_planner(engine)


def at(clock: Clock, text: str) -> None:
    clock.now = dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def customer(store, phone: str, birthday: str, timezone: str = "", verified: bool = True) -> None:
    store.save_audience([AudienceRecord(phone, birthday, timezone, "2025-01-01T00:00:00+00:00", "till sign-up",
                                        verified)])


def bodies(twilio, to: str) -> list[str]:
    return [m.body for m in twilio.sent(to)]


def test_birthday_text_on_a_dst_change_day_in_two_zones(services, clock, engine, planner, twilio, talon):
    customer(services.store, NEW_YORK, "03-08")                       # New York springs forward on 8 March 2026
    customer(services.store, BERLIN, "03-29", "Europe/Berlin")        # Berlin on 29 March
    at(clock, "2026-03-08T05:00:00+00:00")
    assert planner.plan(clock()) == 1
    at(clock, "2026-03-08T13:59:00+00:00")  # 09:59 EDT: 10:00 is not yet (EST's 10:00 was 15:00 UTC)
    drain(engine)
    assert twilio.sent() == []
    at(clock, "2026-03-08T14:00:00+00:00")  # 10:00 EDT
    drain(engine)
    assert len(bodies(twilio, NEW_YORK)) == 1

    at(clock, "2026-03-29T00:30:00+00:00")
    assert planner.plan(clock()) == 1
    at(clock, "2026-03-29T07:59:00+00:00")  # 09:59 CEST (the clocks went forward at 01:00 UTC)
    drain(engine)
    assert bodies(twilio, BERLIN) == []
    at(clock, "2026-03-29T08:00:00+00:00")
    drain(engine)
    assert bodies(twilio, BERLIN) == ["Happy birthday from Acme! Your gift: T1-00002"]
    identifiers = [c.param("identifier") for c in talon.calls(COUPON)]
    assert identifiers == [f"{NEW_YORK}:2026", f"{BERLIN}:2026"]


@pytest.mark.parametrize(("year", "sent_on"), [(2028, "2028-02-29"), (2027, "2027-02-28")])
def test_29_february_in_a_leap_and_a_non_leap_year(services, clock, engine, planner, twilio, talon, year, sent_on):
    customer(services.store, NEW_YORK, "02-29")
    day_before = dt.date.fromisoformat(sent_on) - dt.timedelta(days=1)
    at(clock, f"{day_before}T15:00:00+00:00")  # 10:00 EST the day before
    planner.plan(clock())
    drain(engine)
    assert twilio.sent() == []
    at(clock, f"{sent_on}T15:00:00+00:00")
    planner.plan(clock())
    drain(engine)
    assert len(bodies(twilio, NEW_YORK)) == 1
    assert services.store.outbound_state(NEW_YORK, "bday", f"birthday:{year}").startswith("sent:SM")
    assert [c.param("identifier") for c in talon.calls(COUPON)] == [f"{NEW_YORK}:{year}"]


def test_a_customer_where_it_is_night_is_held_then_texted_in_the_morning(services, clock, engine, twilio):
    customer(services.store, TOKYO, "", "Asia/Tokyo")
    at(clock, "2026-07-14T02:30:00+09:00")
    assert engine.enqueue(Outbound(TOKYO, "bday", "broadcast:summer", "outreach", SHOP_NUMBER, text="Hello"))
    drain(engine)
    assert twilio.sent() == []  # held, not dropped
    assert services.store.outbound_state(TOKYO, "bday", "broadcast:summer") == "queued"
    at(clock, "2026-07-14T07:59:59+09:00")
    drain(engine)
    assert twilio.sent() == []
    at(clock, "2026-07-14T08:00:00+09:00")
    drain(engine)
    assert bodies(twilio, TOKYO) == ["Hello"]


def test_an_answer_goes_out_at_night_but_never_after_stop(services, clock, engine, twilio, text):
    at(clock, "2026-07-14T02:30:00+09:00")
    assert engine.enqueue(Outbound(TOKYO, "spring", "late:SM1", "answer", SHOP_NUMBER, text="Your code: X"))
    drain(engine)
    assert bodies(twilio, TOKYO) == ["Your code: X"]  # no audience record, no consent needed: it was asked for
    text("STOP", sender=NEW_YORK)
    assert engine.enqueue(Outbound(NEW_YORK, "spring", "late:SM2", "answer", SHOP_NUMBER, text="Your code: Y"))
    drain(engine)
    assert bodies(twilio, NEW_YORK) == []


def test_an_opt_out_between_planning_and_sending_is_honoured(services, clock, engine, planner, twilio, text):
    customer(services.store, NEW_YORK, "07-14")
    at(clock, "2026-07-14T05:00:00+00:00")
    assert planner.plan(clock()) == 1
    text("STOP", sender=NEW_YORK)
    at(clock, "2026-07-14T14:00:00+00:00")
    drain(engine)
    assert twilio.sent() == []
    assert services.store.outbound_state(NEW_YORK, "bday", "birthday:2026") == "skipped:opted_out"
    assert services.store.outreach_counts("bday")["opted_out"] == 1


def test_no_verified_consent_no_text(services, clock, engine, planner, twilio):
    customer(services.store, NEW_YORK, "07-14", verified=False)
    at(clock, "2026-07-14T14:00:00+00:00")
    planner.plan(clock())
    drain(engine)
    assert twilio.sent() == []
    assert services.store.outreach_counts("bday")["no_consent"] == 1


def test_a_number_that_texted_the_program_may_be_reached_a_landing_form_request_may_not(
        services, clock, engine, twilio, text):
    texted, typed = "+12125550131", "+12125550132"  # neither has an audience record
    text("SAVE", sender=texted)
    services.conversation.handle(InboundMessage("SM" + "7" * 32, typed, SHOP_NUMBER, "SAVE", channel="web"))
    at(clock, "2026-07-14T14:00:00+00:00")  # 10:00 in New York
    for number in (texted, typed):
        assert engine.enqueue(Outbound(number, "bday", "broadcast:summer", "outreach", SHOP_NUMBER, text="Hello"))
    drain(engine)
    assert bodies(twilio, texted) == ["Hello"]
    assert bodies(twilio, typed) == []
    assert services.store.outbound_state(typed, "bday", "broadcast:summer") == "skipped:no_consent"
    assert services.store.has_verified_consent(texted) and not services.store.has_verified_consent(typed)


def test_imported_consent_ends_with_stop_and_a_later_start_is_the_numbers_own(services, clock, engine, twilio,
                                                                                text):
    customer(services.store, NEW_YORK, "", verified=True)
    text("STOP", sender=NEW_YORK)
    at(clock, "2026-07-14T14:00:00+00:00")
    assert engine.enqueue(Outbound(NEW_YORK, "bday", "broadcast:one", "outreach", SHOP_NUMBER, text="One"))
    drain(engine)
    assert services.store.outbound_state(NEW_YORK, "bday", "broadcast:one") == "skipped:opted_out"
    text("START", sender=NEW_YORK)  # its opt-out record now says "in": the number may be texted again
    assert engine.enqueue(Outbound(NEW_YORK, "bday", "broadcast:two", "outreach", SHOP_NUMBER, text="Two"))
    drain(engine)
    assert bodies(twilio, NEW_YORK) == ["Two"]


def test_two_planners_at_once_plan_once(services, engine, clock, twilio):
    numbers = [f"+1212555{n:04d}" for n in range(30)]
    for number in numbers:
        customer(services.store, number, "07-14")
    at(clock, "2026-07-14T14:00:00+00:00")
    first = BirthdayPlanner(services.book, services.store, engine, clock=clock, token="worker-1")
    second = BirthdayPlanner(services.book, services.store, engine, clock=clock, token="worker-2")
    assert first.tick() == 30
    assert second.tick() is None  # the lease is held: the second worker only sends
    assert first.tick() == 0       # renewed; the day is planned already
    # Even without the lease, planning twice claims each text once.
    assert second.plan_day(services.book.by_slug("bday"), dt.date(2026, 7, 14), clock()) == 0
    assert engine.queued() == 30
    drain(engine, steps=40)
    assert sorted(m.to for m in twilio.sent()) == numbers
    assert services.store.outreach_counts("bday")["planned"] == 30


def test_a_missed_morning_is_caught_up_inside_the_allowed_hours_only(services, clock, engine, planner, twilio):
    customer(services.store, NEW_YORK, "07-14")
    at(clock, "2026-07-14T19:30:00-04:00")  # the worker was down until 19:30 local
    assert planner.plan(clock()) == 1
    drain(engine)
    assert len(bodies(twilio, NEW_YORK)) == 1

    customer(services.store, "+12125550102", "07-15")
    at(clock, "2026-07-15T20:05:00-04:00")  # back only after the day's allowed hours
    assert planner.plan(clock()) == 0
    at(clock, "2026-07-16T10:00:00-04:00")  # and never on the next day
    assert planner.plan(clock()) == 0
    drain(engine)
    assert bodies(twilio, "+12125550102") == []


def test_a_planned_text_past_its_day_is_dropped_not_sent_late(services, clock, engine, planner, twilio):
    customer(services.store, NEW_YORK, "07-14")
    at(clock, "2026-07-14T05:00:00+00:00")
    planner.plan(clock())
    at(clock, "2026-07-15T00:00:00+00:00")  # 20:00 in New York: the workers were all down all day
    drain(engine)
    assert twilio.sent() == []
    assert services.store.outreach_counts("bday")["quiet_hours"] == 1


def test_talon_failing_is_retried_with_the_same_identifier_then_skipped(services, clock, engine, planner, twilio,
                                                                        talon):
    talon.script(*[(500, error_body(500, "down"))] * 50)
    customer(services.store, NEW_YORK, "07-14")
    at(clock, "2026-07-14T14:00:00+00:00")
    planner.plan(clock())

    def attempt() -> None:
        engine.run_once()
        services.store.retry_later(f"bday|{NEW_YORK}|birthday:2026", 0, queue="outbound")  # skip the wait

    for _ in range(3):
        attempt()
    assert services.store.outbound_state(NEW_YORK, "bday", "birthday:2026").startswith("issuing:")  # still trying
    at(clock, "2026-07-14T19:59:59.999-04:00")  # the last moment of the day's allowed hours: any wait ends after it
    attempt()
    attempt()
    assert twilio.sent() == []
    assert {c.param("identifier") for c in talon.calls(COUPON)} == {f"{NEW_YORK}:2026"}
    assert services.store.outbound_state(NEW_YORK, "bday", "birthday:2026") == "skipped:upstream"
    assert services.store.outreach_counts("bday")["upstream"] == 1


def test_twilio_21610_records_the_opt_out_and_a_refusal_is_not_retried(services, clock, engine, twilio):
    for number in (NEW_YORK, "+12125550102"):
        customer(services.store, number, "")
    at(clock, "2026-07-14T14:00:00+00:00")
    twilio.script((400, twilio_error(400, 21610, "unsubscribed")), (400, twilio_error(400, 21211, "invalid To")))
    engine.enqueue(Outbound(NEW_YORK, "bday", "broadcast:1", "outreach", SHOP_NUMBER, text="Hi"))
    engine.enqueue(Outbound("+12125550102", "bday", "broadcast:1", "outreach", SHOP_NUMBER, text="Hi"))
    drain(engine)
    assert services.store.is_opted_out(NEW_YORK)
    assert services.store.outbound_state(NEW_YORK, "bday", "broadcast:1") == "skipped:opted_out"
    assert services.store.outbound_state("+12125550102", "bday", "broadcast:1") == "failed:21211"
    assert engine.queued() == 0 and twilio.sent() == []


def test_enqueue_twice_is_one_text(services, clock, engine, twilio):
    customer(services.store, NEW_YORK, "")
    at(clock, "2026-07-14T14:00:00+00:00")
    outbound = Outbound(NEW_YORK, "bday", "broadcast:2", "outreach", SHOP_NUMBER, text="Once")
    assert engine.enqueue(outbound) is True
    assert engine.enqueue(outbound) is False
    drain(engine)
    assert engine.enqueue(outbound) is False  # after sending, too
    drain(engine)
    assert bodies(twilio, NEW_YORK) == ["Once"]


def test_a_stale_sending_marker_is_reconciled_with_twilio_not_sent_again(services, clock, engine, twilio):
    customer(services.store, NEW_YORK, "")
    at(clock, "2026-07-14T14:00:00+00:00")
    outbound = Outbound(NEW_YORK, "bday", "broadcast:3", "outreach", SHOP_NUMBER, text="Just once")
    engine.enqueue(outbound)
    twilio.script((500, twilio_error(500, 20500, "internal error")))  # maybe sent: Twilio says nothing certain
    drain(engine, steps=1)
    assert services.store.outbound_state(NEW_YORK, "bday", "broadcast:3").startswith("sending:")
    services.store.retry_later(outbound.id, 0, queue="outbound")
    at(clock, "2026-07-14T14:00:02+00:00")
    drain(engine, steps=1)  # too soon to reconcile: the send it may race could still be running
    assert twilio.sent() == []
    at(clock, "2026-07-14T14:01:00+00:00")
    services.store.retry_later(outbound.id, 0, queue="outbound")
    drain(engine)
    assert bodies(twilio, NEW_YORK) == ["Just once"]  # Twilio had no record of it, so it was sent once
    assert services.store.outbound_state(NEW_YORK, "bday", "broadcast:3").startswith("sent:SM")


def test_messaging_service_is_the_sender_when_set(settings, clock, twilio, talon):
    from dataclasses import replace

    from bot.services import Services

    services = Services.build(replace(settings, twilio_messaging_service_sid="MG" + "1" * 32))
    engine = services.send_engine(clock=clock, policy=SendPolicy(max_hold_s=0))
    customer(services.store, NEW_YORK, "")
    at(clock, "2026-07-14T14:00:00+00:00")
    engine.enqueue(Outbound(NEW_YORK, "bday", "broadcast:4", "outreach", SHOP_NUMBER, text="Hi"))
    drain(engine)
    assert [m.from_ for m in twilio.sent(NEW_YORK)] == ["MG" + "1" * 32]


def test_the_results_page_shows_the_birthday_row(settings, clock, twilio, talon, text):
    import dataclasses

    from bot import create_app
    from bot.services import services_of

    password = "correct horse battery staple"
    app = create_app(dataclasses.replace(settings, marketer_password=password))
    services = services_of(app)
    engine = services.send_engine(clock=clock, policy=SendPolicy(max_hold_s=0))
    planner = services.birthday_planner(engine)
    customer(services.store, NEW_YORK, "07-14")
    customer(services.store, "+12125550102", "07-14")
    at(clock, "2026-07-14T14:00:00+00:00")
    planner.plan(clock())
    text("STOP", sender="+12125550102")
    drain(engine)
    assert services.store.outreach_counts("bday") == {
        "planned": 2, "sent": 1, "quiet_hours": 0, "opted_out": 1, "no_consent": 0, "upstream": 0, "failed": 0}
    login = {"Authorization": "Basic " + base64.b64encode(f"marketer:{password}".encode()).decode()}
    page = app.test_client().get("/marketer/results", headers=login).get_data(as_text=True)
    row = page[page.index('<tr data-campaign="bday">'):].split("</tr>")[0]
    for column, value in (("planned", 2), ("sent", 1), ("opted_out", 1), ("failed", 0)):
        assert f'<td data-column="{column}">{value}</td>' in row
