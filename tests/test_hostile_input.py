"""Hostile or broken webhook input never gets an HTTP 500: valid TwiML or a clean 4xx."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot import create_app
from tests.support.webhooks import sign, twilio_form

REQUIRED = ("MessageSid", "AccountSid", "From", "To", "Body")
# Any text, including control characters, lone surrogates are not sendable in a form.
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
FIELD_NAMES = st.one_of(st.sampled_from(REQUIRED + ("OptOutType", "NumMedia", "AddOns", "MediaUrl0")), TEXT)

examples = hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def assert_valid_twiml_or_4xx(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code == 200:
        assert response.mimetype == "text/xml"
        root = ET.fromstring(response.get_data())
        assert root.tag == "Response"
        assert all(child.tag == "Message" for child in root)
    else:
        assert 400 <= response.status_code < 500


@examples
@given(body=TEXT, extra=st.dictionaries(FIELD_NAMES, TEXT, max_size=8), drop=st.sets(st.sampled_from(REQUIRED)))
def test_any_signed_form_gets_valid_twiml_or_a_4xx(client, body, extra, drop):
    form = {**twilio_form(body), **extra}
    for name in drop:
        form.pop(name, None)
    response = client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
    assert_valid_twiml_or_4xx(response)
    if not drop and all(form.get(k) for k in ("MessageSid", "From")):
        assert response.status_code in (200, 403)  # 403 only when AccountSid was replaced by junk


@examples
@given(raw=st.binary(max_size=2000), content_type=st.sampled_from([
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
    "multipart/form-data; boundary=xyz", "application/json", "text/plain", "",
]))
def test_any_raw_body_is_answered_cleanly(client, raw, content_type):
    response = client.post("/sms", data=raw, headers={"Content-Type": content_type, "X-Twilio-Signature": "x"})
    assert response.status_code == 403  # unsigned junk is refused before it is read


@examples
@given(raw=st.binary(max_size=2000), content_type=st.sampled_from([
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=xyz", "application/json", "text/plain",
]))
def test_any_raw_body_in_the_unsigned_demo_is_answered_cleanly(settings, raw, content_type):
    demo = create_app(dataclasses.replace(settings, twilio_auth_token=None, redis_url=None, talon_api_key=None,
                                          twilio_account_sid=None, bot_secret="", public_base_url=None))
    response = demo.test_client().post("/sms", data=raw, headers={"Content-Type": content_type})
    assert_valid_twiml_or_4xx(response)


def test_a_huge_body_is_refused_with_413(client):
    form = twilio_form("SAVE" + "x" * 200_000)
    response = client.post("/sms", data=form, headers={"X-Twilio-Signature": sign(form)})
    assert response.status_code == 413


def test_a_body_full_of_control_characters_gets_valid_twiml(text):
    response = text("\x00\x01SAVE\x1b[31m\ufffe")
    assert_valid_twiml_or_4xx(response)
    assert response.status_code == 200


def test_repeated_fields_are_signed_and_accepted(client):
    from werkzeug.datastructures import MultiDict

    form = MultiDict(twilio_form("SAVE"))
    form.add("MediaUrl0", "https://example.com/a.png")
    form.add("MediaUrl0", "https://example.com/b.png")
    from twilio.request_validator import RequestValidator

    from tests.support.webhooks import AUTH_TOKEN, PUBLIC_BASE_URL

    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE_URL + "/sms", form)
    response = client.post("/sms", data=form, headers={"X-Twilio-Signature": signature})
    assert_valid_twiml_or_4xx(response)
    assert response.status_code == 200
