"""WhatsApp through the same webhook: one customer per number, the 24-hour window, templates, the wa.me QR."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging

import pytest

from bot import create_app
from bot.campaign_file import load_campaigns
from bot.errors import CampaignFileError
from bot.phone import mask
from bot.whatsapp import outbound_route
from tests.support.bot_process import env_of, kill_a_worker_mid_send
from tests.support.campaign_files import WITH_POSTERS, first_reply
from tests.support.cli import run_bot
from tests.support.clock import Clock
from tests.support.decoders import raster, zbar, zxing
from tests.support.talon_stub import error_body
from tests.support.twilio_stub import twilio_error
from tests.support.twiml import reply
from tests.support.webhooks import SHOP_NUMBER, sign, twilio_form

COUPON = "/customer_engagement/coupon"
ANNA = "+15551234567"
WA_ONLY = "+15005550009"
CONTENT_SID = "HX" + "a1" * 16
WA_LINK = "https://wa.me/15005550006?text=SAVE"
PENDING = "Acme Rewards: your code is on its way and will arrive by text shortly."

CAMPAIGNS = WITH_POSTERS.replace(
    'numbers = ["+15005550006"]\n',
    f'numbers = ["+15005550006"]\nwhatsapp_numbers = ["+15005550006", "{WA_ONLY}"]\n', 1,
).replace(
    'reply = "Your Acme code: {{ code }}. Show it at the till."\n',
    'reply = "Your Acme code: {{ code }}. Show it at the till."\n'
    f'whatsapp_content_sid = "{CONTENT_SID}"\n'
    'whatsapp_content_variables = { "1" = "{{ code }}", "2" = "{{ program.name }}" }\n', 1,
)


@pytest.fixture
def campaigns_text() -> str:
    return CAMPAIGNS


def whatsapp_form(body: str, *, sender: str = ANNA, to: str = SHOP_NUMBER, **extra: str) -> dict[str, str]:
    """The form Twilio posts for an inbound WhatsApp message (its WhatsApp-only fields included)."""
    form = twilio_form(body, sender=f"whatsapp:{sender}", **extra)
    form.update({"To": f"whatsapp:{to}", "WaId": sender.removeprefix("+"), "ProfileName": "Alice Smith",
                 "MessageType": "text", "ChannelMetadata": json.dumps({"type": "whatsapp", "data": {
                     "context": {"ProfileName": "Alice Smith", "WaId": sender.removeprefix("+")}}})})
    for name in ("ToCountry", "ToState", "ToCity", "ToZip", "FromZip", "FromState", "FromCity", "FromCountry"):
        form.pop(name)
    form.update(extra)
    return form


@pytest.fixture
def whatsapp(client):
    def post(body: str, **fields: str):
        form = whatsapp_form(body, **fields)
        return client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
    return post


def identifiers(talon) -> list[str | None]:
    return [call.param("identifier") for call in talon.calls(COUPON)]


# -- one customer, whatever the channel


def test_same_code_by_sms_and_whatsapp_and_one_talon_call_with_the_bare_number(text, whatsapp, talon):
    by_sms = reply(text("SAVE", sender=ANNA))
    by_whatsapp = reply(whatsapp("SAVE"))
    assert by_sms.startswith("Your Acme code: ")
    assert by_sms == first_reply(by_whatsapp)  # the number's first message carries the opt-in notice
    assert identifiers(talon) == [ANNA]


def test_whatsapp_first_then_sms_is_the_same_customer(text, whatsapp, talon):
    assert reply(whatsapp("SAVE")) == first_reply(reply(text("SAVE", sender=ANNA)))
    assert identifiers(talon) == [ANNA]


def test_a_whatsapp_only_sender_and_a_number_that_is_both_are_served(whatsapp, talon):
    first = reply(whatsapp("SAVE", to=WA_ONLY))
    assert first.startswith("Your Acme code: ")
    assert first == first_reply(reply(whatsapp("SAVE")))


def test_media_and_button_taps_are_texts_like_any_other(whatsapp, talon):
    photo = whatsapp("SAVE", NumMedia="1", MessageType="image", MediaUrl0="https://api.twilio.com/media/ME1",
                     MediaContentType0="image/jpeg")
    tap = whatsapp("SAVE", MessageType="button", ButtonText="SAVE", ButtonPayload="spring-save")
    assert reply(photo).startswith("Your Acme code: ")
    assert reply(photo) == first_reply(reply(tap))


def test_accents_fold_through_the_webhook_on_both_channels(text, whatsapp, talon):
    code = reply(text("SÄVE", sender=ANNA))
    assert code.startswith("Your Acme code: ")
    assert code == first_reply(reply(whatsapp("Savé")))


@pytest.mark.parametrize("stop_by", ["sms", "whatsapp"])
def test_stop_on_either_channel_stops_both(text, whatsapp, talon, stop_by):
    (text("STOP", sender=ANNA) if stop_by == "sms" else whatsapp("STOP"))
    assert reply(text("SAVE", sender=ANNA)) is None
    assert reply(whatsapp("SAVE")) is None
    assert talon.calls(COUPON) == []
    (whatsapp("START") if stop_by == "sms" else text("START", sender=ANNA))
    assert reply(whatsapp("SAVE")).startswith("Your Acme code: ")


def test_the_consent_log_records_the_real_channel(text, whatsapp, services, talon):
    whatsapp("SAVE")
    whatsapp("STOP")
    events = list(services.store.consent_log(now=dt.datetime.now(dt.UTC), retention_days=1))
    assert [(e.sender, e.event, e.channel) for e in events] == [
        (ANNA, "opt_in_source", "whatsapp"), (ANNA, "opt_out", "whatsapp")]


def test_profile_name_is_never_stored_or_logged(whatsapp, services, talon, caplog):
    caplog.set_level(logging.DEBUG)
    assert reply(whatsapp("SAVE")).startswith("Your Acme code: ")
    whatsapp("HELP")
    store = services.store
    dumped = []
    for key in store.client.scan_iter(match=f"{store.prefix}:*"):
        kind = store.client.type(key).decode()
        read = {"string": store.client.get, "hash": store.client.hgetall, "set": store.client.smembers,
                "list": lambda k: store.client.lrange(k, 0, -1), "zset": lambda k: store.client.zrange(k, 0, -1)}
        value = read[kind](key)
        dumped.append(f"{key!r} {value!r}")
    assert any(ANNA in entry for entry in dumped)  # the store did keep this customer's state
    assert not any("Alice" in entry for entry in dumped)
    assert caplog.records and not any("Alice" in r.getMessage() or "Alice" in str(r.__dict__) for r in caplog.records)


# -- late replies: inside the window as WhatsApp, outside as the template or SMS


def pending(talon, send, *, first_message: bool = True) -> None:
    """A text whose code misses the webhook's deadline: its late reply is queued for the worker."""
    talon.release.clear()
    talon.stall = True
    assert reply(send()) == (first_reply(PENDING) if first_message else PENDING)
    talon.stall = False
    talon.release.set()


def late(services, talon, send, *, first_message: bool = True) -> None:
    """A text whose code misses the webhook's deadline, then the worker's one run that texts it."""
    pending(talon, send, first_message=first_message)
    assert services.late_delivery().run_once()


def test_late_reply_inside_the_window_goes_as_whatsapp_free_text(services, whatsapp, talon, twilio):
    late(services, talon, lambda: whatsapp("SAVE"))
    [sent] = twilio.sent()
    assert (sent.to, sent.from_, sent.content_sid) == (f"whatsapp:{ANNA}", f"whatsapp:{SHOP_NUMBER}", "")
    assert sent.body.startswith("Your Acme code: ")
    assert identifiers(talon) == [ANNA, ANNA]  # the worker asked with the same bare number


def test_late_reply_outside_the_window_goes_as_the_approved_template(services, whatsapp, talon, twilio):
    services.conversation.clock = Clock(dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
    late(services, talon, lambda: whatsapp("SAVE", to=WA_ONLY))
    [sent] = twilio.sent()
    assert (sent.to, sent.from_, sent.content_sid, sent.body) == (
        f"whatsapp:{ANNA}", f"whatsapp:{WA_ONLY}", CONTENT_SID, "")
    code = services.store.cached_code(ANNA, "spring")
    assert json.loads(sent.content_variables) == {"1": code, "2": "Acme Rewards"}


def test_outside_the_window_without_a_template_sms_only_with_sms_consent(services, text, whatsapp, talon, twilio):
    services.conversation.clock = Clock(dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
    late(services, talon, lambda: whatsapp("REFER"))  # no template for the referral campaign
    assert twilio.sent() == []  # no SMS consent yet: nothing at all

    other = "+15557654321"
    text("POINTS", sender=other)  # an SMS conversation: SMS consent on record
    late(services, talon, lambda: whatsapp("REFER", sender=other), first_message=False)
    [sent] = twilio.sent()
    assert (sent.to, sent.from_, sent.content_sid) == (other, SHOP_NUMBER, "")
    assert sent.body.startswith("Share your code ")


def test_a_late_reply_no_channel_may_carry_is_logged_as_not_sent_not_as_refused_by_twilio(
    services, whatsapp, talon, twilio, caplog,
):
    caplog.set_level(logging.INFO)
    services.conversation.clock = Clock(dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
    late(services, talon, lambda: whatsapp("REFER"))  # outside the window, no template, no SMS consent
    assert twilio.sent() == []
    worker = [r.getMessage() for r in caplog.records if r.name == "bot.delivery"]
    assert any("late text to" in line and "no SMS consent: not sent" in line for line in worker)
    assert not any("refused by Twilio" in line for line in worker)
    assert services.store.queued() == 0  # final: not tried again


def test_an_sms_late_reply_stays_sms(services, text, talon, twilio):
    late(services, talon, lambda: text("SAVE", sender=ANNA))
    [sent] = twilio.sent()
    assert (sent.to, sent.from_, sent.content_sid) == (ANNA, SHOP_NUMBER, "")


def test_63016_closes_the_window_and_63014_stops_templates(services, whatsapp, talon, twilio):
    store, book = services.store, services.book
    template = book.by_slug("spring").whatsapp_template
    now = dt.datetime.now(dt.UTC)
    twilio.script((400, twilio_error(400, 63016, "Failed to send freeform message because you are outside the "
                                                 "allowed window")))
    late(services, talon, lambda: whatsapp("SAVE"))
    assert store.whatsapp_state(ANNA).last_inbound is None  # Twilio's word over our record
    assert outbound_route(store, book, ANNA, "whatsapp", now, template=template).how == "template"

    store.record_whatsapp_refusal(ANNA, 63014)
    route = outbound_route(store, book, ANNA, "whatsapp", now, template=template)
    assert route.how == "none"  # no template to a number that blocked us, and no SMS consent
    whatsapp("HELP")  # writing to us again: they unblocked
    assert store.whatsapp_state(ANNA).refused is None
    assert outbound_route(store, book, ANNA, "whatsapp", now, template=template).how == "whatsapp"

    store.record_whatsapp_refusal(ANNA, 131050)  # Stop promotions: free text in the window still goes
    whatsapp("HELP")
    assert store.whatsapp_state(ANNA).refused == 131050
    assert outbound_route(store, book, ANNA, "whatsapp", now, template=template).how == "whatsapp"
    later = now + dt.timedelta(hours=25)
    assert outbound_route(store, book, ANNA, "whatsapp", later, template=template).how == "none"


def test_131050_from_a_template_send_is_recorded(services, whatsapp, talon, twilio):
    services.conversation.clock = Clock(dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
    twilio.script((400, twilio_error(400, 131050, "user is not accepting marketing")))
    late(services, talon, lambda: whatsapp("SAVE"))
    assert services.store.whatsapp_state(ANNA).refused == 131050


def test_a_whatsapp_texts_receipts_are_matched_under_the_bare_number(services, client, whatsapp, talon, twilio):
    late(services, talon, lambda: whatsapp("SAVE"))
    [sent] = twilio.sent()
    callback = twilio.callback(sent, "delivered")
    assert callback.form["To"] == f"whatsapp:{ANNA}"  # as Twilio posts it
    assert callback.post_to(client).status_code == 200
    assert services.store.last_status(sent.sid, ANNA) == ("delivered", "")


# -- WhatsApp's refusals in status callbacks: Twilio accepts the create call and fails the text later


def whatsapp_text(services, twilio, *, template: bool = False):
    """One WhatsApp text to ANNA (free text, or the approved template), accepted by Twilio: its record."""
    sid = services.sms.send(to=f"whatsapp:{ANNA}", from_=f"whatsapp:{SHOP_NUMBER}", body="" if template else "Hi!",
                            campaign="spring", occasion="broadcast:b1", content_sid=CONTENT_SID if template else None,
                            content_variables={"1": "X1"} if template else None)
    [message] = [m for m in twilio.sent() if m.sid == sid]
    return message


def post_callbacks(client, twilio, message, *steps) -> None:
    assert [c.post_to(client).status_code for c in twilio.callbacks(message, *steps)] == [200] * len(steps)


@pytest.mark.parametrize("status, code, sms_consent, then", [
    ("failed", "63016", False, "template"),  # the window is closed: the approved template goes
    ("undelivered", "63014", False, "none"),  # blocked: no template, and no SMS consent
    ("undelivered", "63014", True, "sms"),
    ("failed", "131050", False, "none"),  # marketing stopped, outside the window: no template
    ("failed", "131050", True, "sms"),
])
def test_a_whatsapp_refusal_in_a_status_callback_is_kept_and_the_next_late_reply_sees_it(
    services, client, text, whatsapp, talon, twilio, caplog, status, code, sms_consent, then,
):
    caplog.set_level(logging.INFO)
    if sms_consent:
        text("POINTS", sender=ANNA)  # an SMS conversation: SMS consent on record
    # 131050 comes from a template, sent outside the window; the others from free text inside it.
    outside = code == "131050"
    hours_ago = 25 if outside else 0
    services.conversation.clock = Clock(dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago, minutes=1))
    pending(talon, lambda: whatsapp("SAVE"), first_message=not sms_consent)  # the late reply waits for the worker
    message = whatsapp_text(services, twilio, template=outside)
    assert services.store.whatsapp_state(ANNA).refused is None

    post_callbacks(client, twilio, message, "queued", "sent", (status, code))
    state = services.store.whatsapp_state(ANNA)
    if code == "63016":
        assert state == dataclasses.replace(state, last_inbound=None, refused=None)  # Twilio's word over our record
    else:
        assert state.refused == int(code)
    assert services.store.last_status(message.sid, ANNA) == (status, code)  # stored and counted as before
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.whatsapp" and code in r.getMessage()]
    assert mask(ANNA) in line and ANNA not in caplog.text

    assert services.late_delivery().run_once()
    later = [m for m in twilio.sent() if m.sid != message.sid]
    if then == "none":
        assert later == []
        return
    [sent] = later
    assert (sent.to, sent.content_sid) == {"template": (f"whatsapp:{ANNA}", CONTENT_SID), "sms": (ANNA, "")}[then]


@pytest.mark.parametrize("code", ["63016", "63014", "131050"])
def test_an_sms_texts_callback_with_a_whatsapp_code_changes_nothing(services, client, whatsapp, twilio, code):
    whatsapp("HELP")  # the window is open
    before = services.store.whatsapp_state(ANNA)
    sid = services.sms.send(to=ANNA, from_=SHOP_NUMBER, body="Hi!", campaign="spring", occasion="web")
    [message] = twilio.sent(ANNA)
    post_callbacks(client, twilio, message, ("failed", code))
    assert services.store.last_status(sid, ANNA) == ("failed", code)
    assert services.store.whatsapp_state(ANNA) == before
    assert before.last_inbound is not None and before.refused is None


@pytest.mark.parametrize("code", ["63016", "63014", "131050"])
def test_a_callback_for_a_message_not_sent_to_that_number_records_nothing(services, client, whatsapp, twilio, code):
    other = "+15557654321"
    for number in (ANNA, other):
        whatsapp("HELP", sender=number)
    before = {number: services.store.whatsapp_state(number) for number in (ANNA, other)}
    message = whatsapp_text(services, twilio)
    unknown = dataclasses.replace(message, sid="SM" + "f" * 32)  # a MessageSid the bot never sent
    elsewhere = dataclasses.replace(message, to=f"whatsapp:{other}")  # ours, but sent to ANNA, not to them
    post_callbacks(client, twilio, unknown, ("failed", code))
    post_callbacks(client, twilio, elsewhere, ("failed", code))
    assert {number: services.store.whatsapp_state(number) for number in (ANNA, other)} == before
    assert services.store.last_status(message.sid, ANNA) == ("queued", "")
    assert services.store.last_status(message.sid, other) is None


@pytest.mark.parametrize("code", ["63016", "63014"])
def test_a_repeated_or_late_refusal_callback_does_not_undo_the_persons_next_message(
    services, client, whatsapp, twilio, code,
):
    now = dt.datetime.now(dt.UTC)
    services.conversation.clock = Clock(now - dt.timedelta(minutes=1))
    whatsapp("HELP")
    message = whatsapp_text(services, twilio)
    post_callbacks(client, twilio, message, ("failed", code), ("failed", code))  # Twilio's retry: no second effect
    state = services.store.whatsapp_state(ANNA)
    if code == "63016":
        assert (state.last_inbound, state.refused) == (None, None)
    else:
        assert state.last_inbound is not None and state.refused == 63014

    services.conversation.clock = Clock(now + dt.timedelta(seconds=5))
    whatsapp("HELP")  # they write again: the window opens, a block is lifted
    reopened = services.store.whatsapp_state(ANNA)
    assert reopened.last_inbound is not None and reopened.refused is None
    post_callbacks(client, twilio, message, ("failed", code), "sent", ("undelivered", code))
    assert services.store.whatsapp_state(ANNA) == reopened
    book = services.book
    template = book.by_slug("spring").whatsapp_template
    assert outbound_route(services.store, book, ANNA, "whatsapp", now, template=template).how == "whatsapp"


@pytest.mark.parametrize("code, kept", [("63016", False), ("63014", False), ("131050", True)])
def test_a_refusal_callback_after_the_person_wrote_again_keeps_only_what_their_message_does_not_undo(
    services, client, whatsapp, twilio, code, kept,
):
    now = dt.datetime.now(dt.UTC)
    services.conversation.clock = Clock(now - dt.timedelta(minutes=1))
    whatsapp("HELP")
    message = whatsapp_text(services, twilio)
    services.conversation.clock = Clock(now + dt.timedelta(seconds=5))
    whatsapp("HELP")  # after the text went out, before its callback came
    post_callbacks(client, twilio, message, ("failed", code))
    state = services.store.whatsapp_state(ANNA)
    assert state.last_inbound is not None and state.last_inbound > now  # the window their message opened
    assert state.refused == (int(code) if kept else None)


# -- a worker that dies mid-send: the late WhatsApp reply goes once


@pytest.mark.parametrize("outside_window", [False, True], ids=["free-text", "template"])
def test_a_worker_killed_mid_send_does_not_send_a_whatsapp_reply_twice(
    settings, campaigns_file, services, whatsapp, talon, twilio, outside_window,
):
    if outside_window:
        services.conversation.clock = Clock(dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
    talon.script(*[(503, error_body(503, "busy"))] * 30)
    assert reply(whatsapp("SAVE")) == first_reply(PENDING)
    talon.reset()
    env = {**env_of(settings, campaigns_file), "JOB_LEASE_S": "1.5"}

    kill_a_worker_mid_send(env, twilio, services.store.queued)
    [sent] = twilio.sent()
    assert (sent.to, sent.content_sid) == (f"whatsapp:{ANNA}", CONTENT_SID if outside_window else "")


def test_reconciling_a_template_send_knows_it_by_its_recorded_message_sid(services, twilio):
    sms, to, from_ = services.sms, f"whatsapp:{ANNA}", f"whatsapp:{SHOP_NUMBER}"
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)

    def sent_for(campaign: str) -> bool:
        return sms.was_sent(to=to, from_=from_, body="Your Acme code: X1.", after=since, campaign=campaign,
                            occasion="late", content_sid=CONTENT_SID)

    assert not sent_for("spring")  # nothing sent yet
    sms.send(to=to, from_=from_, campaign="refer", occasion="late", content_sid=CONTENT_SID,
             content_variables={"1": "X0"})
    assert not sent_for("spring")  # recorded, but for another campaign: not this reply
    sms.send(to=to, from_=from_, campaign="spring", occasion="late", content_sid=CONTENT_SID,
             content_variables={"1": "X1"})
    assert sent_for("spring")
    assert [m.body for m in twilio.sent()] == ["", ""]  # Twilio renders a template's Body: nothing to compare


# -- the campaign file


@pytest.mark.parametrize("line, problem", [
    ('whatsapp_content_sid = "HX123"', "Content Template SID"),
    ('whatsapp_content_variables = { "1" = "{{ code }}" }', "needs whatsapp_content_sid"),
])
def test_a_bad_template_is_refused(tmp_path, line, problem):
    path = tmp_path / "campaigns.toml"
    path.write_text(WITH_POSTERS.replace('reply = "Share your code', f'{line}\nreply = "Share your code'))
    with pytest.raises(CampaignFileError, match=problem):
        load_campaigns(path)


def test_a_short_code_is_no_whatsapp_sender(tmp_path):
    path = tmp_path / "campaigns.toml"
    path.write_text(CAMPAIGNS.replace(f'"{WA_ONLY}"', '"68849"'))
    with pytest.raises(CampaignFileError, match="short code"):
        load_campaigns(path)


# -- the WhatsApp button: landing page and poster


def test_the_landing_page_offers_whatsapp_beside_sms(client):
    page = client.get("/q/spring").get_data(as_text=True)
    assert 'href="sms:+15005550006' in page
    assert f'id="whatsapp" href="{WA_LINK}"' in page


def test_no_whatsapp_button_without_a_whatsapp_sender(tmp_path, settings):
    path = tmp_path / "plain.toml"
    path.write_text(WITH_POSTERS)
    client = create_app(dataclasses.replace(settings, campaigns_file=path)).test_client()
    page = client.get("/q/spring").get_data(as_text=True)
    assert "wa.me" not in page and 'href="sms:+15005550006' in page


def test_bot_poster_channel_whatsapp_encodes_the_wa_me_link(tmp_path, campaigns_file):
    out = tmp_path / "poster.png"
    result = run_bot("poster", "spring", "--channel", "whatsapp", "--output", str(out),
                     env={"CAMPAIGNS_FILE": str(campaigns_file)})
    assert result.returncode == 0, result.stderr
    assert f"QR payload {WA_LINK}" in result.stdout
    image = raster(out.read_bytes(), "png")
    assert zxing(image).text == WA_LINK
    assert zbar(image) == [WA_LINK]


def test_bot_poster_channel_whatsapp_needs_a_whatsapp_sender(tmp_path):
    path = tmp_path / "plain.toml"
    path.write_text(WITH_POSTERS)
    result = run_bot("poster", "spring", "--channel", "whatsapp", "--output", str(tmp_path / "p.png"),
                     env={"CAMPAIGNS_FILE": str(path)})
    assert result.returncode == 1 and "whatsapp_numbers" in result.stderr
