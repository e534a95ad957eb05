"""POST /sms end to end: signed webhooks, a real Redis, the Talon.One stand-in."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest

from tests.support.campaign_files import first_reply
from tests.support.talon_stub import error_body
from tests.support.twiml import reply
from tests.support.webhooks import AUTH_TOKEN, DEPLOYMENT, PUBLIC_BASE_URL, sign, twilio_form

COUPON = "/customer_engagement/coupon"
CODE_REPLY = "Your Acme code: T1-00001. Show it at the till."
FALLBACK = "Sorry, we don't know that word. Text HELP for help."


def test_keyword_gets_a_coupon_from_talon_one(text, talon):
    response = text("SAVE")

    assert reply(response) == first_reply(CODE_REPLY)
    [call] = talon.calls(COUPON)
    assert call.query == {
        "applicationId": ["12"],
        "campaignId": ["345"],
        "externalCampaignId": ["sms-spring"],
        "identifier": ["+15551234567"],
    }
    assert call.headers["authorization"] == "ApiKey-v1 test-cep-key"
    assert call.headers["customer-engagement-platform-name"] == "kcb-tests"
    assert call.headers["destination-hostname"] == DEPLOYMENT
    assert call.headers["accept"] == "application/json"
    assert "x-dry-run" not in call.headers


def test_dry_run_sends_the_header(settings, talon):
    from bot import create_app

    app = create_app(dataclasses.replace(settings, talon_dry_run=True))
    form = twilio_form("SAVE")
    app.test_client().post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
    [call] = talon.calls(COUPON)
    assert call.headers["x-dry-run"] == "true"


@pytest.mark.parametrize(
    "body",
    ["save", " Save! ", "SAVE.", "ＳＡＶＥ", "S A V E", "s-a-v-e", "spring", "Spring!!", "SAVE P7", "save please",
     "\tSAVE\n"],
)
def test_keyword_variants_match(text, talon, body):
    assert reply(text(body)) == first_reply(CODE_REPLY)
    assert len(talon.calls(COUPON)) == 1


def test_second_text_returns_the_same_code_without_asking_talon_one(text, talon):
    first = reply(text("SAVE"))
    second = reply(text("spring"))  # another keyword of the same campaign, a new MessageSid

    assert first == first_reply(CODE_REPLY)
    assert second == CODE_REPLY
    assert len(talon.calls(COUPON)) == 1


def test_each_number_gets_its_own_code(text, talon):
    assert "T1-00001" in reply(text("SAVE", sender="+15551234567"))
    assert "T1-00002" in reply(text("SAVE", sender="+447700900123"))
    identifiers = [c.param("identifier") for c in talon.calls(COUPON)]
    assert identifiers == ["+15551234567", "+447700900123"]


def test_repeated_delivery_gets_identical_bytes_and_no_upstream_call(client, talon):
    form = twilio_form("SAVE")
    headers = {"X-Twilio-Signature": sign(form)}
    first = client.post("/sms", data=form, headers=headers)
    second = client.post("/sms", data=form, headers=headers)

    assert first.get_data() == second.get_data()
    assert b"T1-00001" in first.get_data()
    assert len(talon.calls(COUPON)) == 1


def test_unknown_word_gets_the_fallback(text, talon):
    assert reply(text("PIZZA")) == first_reply(FALLBACK)
    assert talon.calls() == []


def test_empty_body_gets_the_fallback(text, talon):
    assert reply(text("")) == first_reply(FALLBACK)


# -- signatures


def test_missing_signature_is_refused(client, talon):
    response = client.post("/sms", data=twilio_form("SAVE"))
    assert response.status_code == 403
    assert talon.calls() == []


def test_wrong_signature_is_refused(client, talon):
    form = twilio_form("SAVE")
    response = client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form, token="another-token")})
    assert response.status_code == 403
    assert talon.calls() == []


def test_tampered_body_is_refused(client, talon):
    form = twilio_form("SAVE")
    signature = sign(form)
    form["From"] = "+15550000000"
    assert client.post("/sms", data=form, headers={"X-Twilio-Signature": signature}).status_code == 403



def test_a_refused_signature_logs_the_url_checked_and_the_usual_cause(client, caplog):
    form = twilio_form("SAVE")
    with caplog.at_level(logging.WARNING, logger="bot.sms"):
        response = client.post(
            "/sms?From=%2B15551234567", data=form, headers={"X-Twilio-Signature": sign(form, url="http://localhost/sms")}
        )
        missing = client.post("/sms", data=form)
    assert response.status_code == missing.status_code == 403
    bad, absent = (r.getMessage() for r in caplog.records)
    assert bad.startswith("POST /sms: bad X-Twilio-Signature from 127.0.0.1, checked against https://bot.example.com/sms;")
    assert "PUBLIC_BASE_URL (https://bot.example.com) differs from the webhook URL configured in Twilio" in bad
    assert absent.startswith("POST /sms: missing X-Twilio-Signature")
    for message in (bad, absent):  # no query values (they could carry numbers), no secret
        assert "1555" not in message and AUTH_TOKEN not in message


def test_signature_is_checked_against_the_public_url_not_the_internal_one(client):
    # Behind a TLS-terminating proxy the app sees http://localhost/sms; Twilio
    # signed https://bot.example.com/sms. Only the public URL's signature passes.
    form = twilio_form("SAVE")
    internal = client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form, url="http://localhost/sms")})
    public = client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form, url=PUBLIC_BASE_URL + "/sms")})
    assert internal.status_code == 403
    assert reply(public) == first_reply(CODE_REPLY)


def test_query_string_is_part_of_the_signed_url(client):
    form = twilio_form("SAVE")
    url = PUBLIC_BASE_URL + "/sms?shop=o%27brien"
    response = client.post("/sms?shop=o%27brien", data=form, headers={"X-Twilio-Signature": sign(form, url=url)})
    assert reply(response) is not None


def test_unknown_fields_are_accepted_and_signed(text):
    addons = json.dumps({"status": "successful", "results": {}})
    assert reply(text("SAVE", AddOns=addons, MessagingServiceSid="MG" + "1" * 32)) is not None


@pytest.mark.parametrize("field", ["MessageSid", "AccountSid", "From", "To", "Body"])
def test_missing_required_field_is_a_clean_400(client, field, talon):
    form = twilio_form("SAVE")
    del form[field]
    response = client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
    assert response.status_code == 400
    assert talon.calls() == []


def test_other_account_is_refused(client):
    form = twilio_form("SAVE", AccountSid="AC" + "9" * 32)
    assert client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)}).status_code == 403


# -- Talon.One failures

POLITE = "Acme Rewards: sorry, we could not get your code right now. Please text again in a few minutes."
PENDING = "Acme Rewards: your code is on its way and will arrive by text shortly."


@pytest.mark.parametrize(
    "status,message", [(400, "No Deployment URL specified"), (401, "Missing Session Token"), (404, "Not Found")]
)
def test_permanent_talon_one_errors_get_a_polite_reply_after_one_call(text, talon, status, message, caplog):
    talon.script((status, error_body(status, message)))

    answer = reply(text("SAVE"))

    assert answer == first_reply(POLITE)
    assert len(talon.calls(COUPON)) == 1
    assert f"Talon.One {status}: {message}" in caplog.text
    assert "RequestUUID" in caplog.text


def test_a_rejected_key_raises_an_alert(text, talon, caplog):
    talon.script((401, error_body(401, "Missing Session Token")))
    assert reply(text("SAVE")) == first_reply(POLITE)
    [alert] = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert "check TALON_API_KEY" in alert.getMessage()


@pytest.mark.parametrize("status,message", [(429, "Too many requests"), (500, "Internal Server Error"), (503, "")])
def test_retryable_talon_one_errors_are_retried_with_the_same_identifier(text, talon, status, message):
    talon.script((status, error_body(status, message)))

    assert reply(text("SAVE")) == first_reply(CODE_REPLY)
    assert [c.param("identifier") for c in talon.calls(COUPON)] == ["+15551234567", "+15551234567"]


@pytest.mark.parametrize(
    "body",
    [b"<html>gateway</html>", b"[]", b'{"ID": 1}', b'{"Value": ""}', b'{"Value": null}', b""],
)
def test_talon_one_garbage_is_retried(text, talon, body):
    talon.script((200, body))
    assert reply(text("SAVE")) == first_reply(CODE_REPLY)
    assert len(talon.calls(COUPON)) == 2


def test_persistent_garbage_is_retried_then_answered_politely(text, talon):
    talon.script(*[(200, b"<html>proxy error</html>")] * 50)
    assert reply(text("SAVE")) == first_reply(PENDING)
    assert 2 <= len(talon.calls(COUPON)) < 50


def test_persistent_failure_answers_in_time_and_queues_the_code(text, talon, settings):
    talon.script(*[(500, error_body(500, "down"))] * 50)

    answer = reply(text("SAVE"))

    assert answer == first_reply(PENDING)
    assert 2 <= len(talon.calls(COUPON)) < 50  # retried inside the budget, not hammered


def test_persistent_failure_without_late_delivery_is_a_polite_failure(settings, talon):
    from bot import create_app

    app = create_app(dataclasses.replace(settings, twilio_account_sid=None))
    talon.script(*[(500, error_body(500, "down"))] * 50)
    form = twilio_form("SAVE")
    response = app.test_client().post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
    assert reply(response) == first_reply(POLITE)


def test_after_a_failure_the_next_text_is_served(text, talon):
    talon.script((404, error_body(404, "Not Found")))
    assert reply(text("SAVE")) == first_reply(POLITE)
    assert reply(text("SAVE")) == CODE_REPLY
    assert [c.param("identifier") for c in talon.calls(COUPON)] == ["+15551234567", "+15551234567"]


def test_talon_one_unreachable_is_answered_within_the_budget(settings, redis_url):
    import time

    from bot import create_app
    from tests.support.redis_server import free_port

    app = create_app(dataclasses.replace(settings, talon_base_url=f"http://127.0.0.1:{free_port()}"))
    form = twilio_form("SAVE")
    started = time.monotonic()
    response = app.test_client().post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
    assert reply(response) == first_reply(PENDING)
    assert time.monotonic() - started < settings.webhook_budget_s + 0.5


# -- other kinds through the same path


def test_loyalty_keyword_replies_with_the_balance(text, talon):
    assert reply(text("POINTS")) == first_reply("You have 120 points.")
    [call] = talon.calls("/customer_engagement/loyalty")
    assert call.query == {"profileIntegrationId": ["+15551234567"], "loyaltyProgramId": ["7"]}


def test_referral_keyword_replies_with_a_referral_code(text, talon):
    assert reply(text("REFER")) == first_reply("Share your code REF0001 with a friend.")
    assert reply(text("refer")) == "Share your code REF0001 with a friend."
    [call] = talon.calls("/customer_engagement/referral")
    assert call.query == {"campaignId": ["347"], "advocateProfileIntegrationId": ["+15551234567"]}
