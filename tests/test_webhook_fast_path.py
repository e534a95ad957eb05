"""The webhook's two shortcuts (found by `make bench`) give exactly what twilio's own library gives."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.datastructures import MultiDict

from bot.sms import twiml
from bot.twilio_signature import signature_valid
from tests.support.webhooks import AUTH_TOKEN, twilio_form


@pytest.mark.parametrize(
    "text",
    [None, "", "Your Acme code: T1-00001. Show it at the till.", "a & b <c> \"d\" 'e' ]]>",
     "Ünïcode ✓ 😀", "line1\nline2\r\n\ttab", "x" * 1600],
)
def test_twiml_is_byte_for_byte_what_messaging_response_writes(text):
    expected = MessagingResponse()
    if text:
        expected.message(text)
    response = twiml(text)
    assert response.get_data(as_text=True) == str(expected)
    assert response.mimetype == "text/xml"


def forms() -> list[MultiDict]:
    repeated = MultiDict(twilio_form("SAVE"))
    repeated.add("MediaUrl0", "https://example.com/b.jpg")
    repeated.add("MediaUrl0", "https://example.com/a.jpg")
    return [MultiDict(twilio_form("SAVE")), MultiDict(twilio_form("ＳＡＶＥ & <more>")), repeated, MultiDict()]


URLS = ["https://bot.example.com/sms", "https://bot.example.com:443/sms", "https://bot.example.com/sms?shop=o%27brien",
        "http://127.0.0.1:8000/sms", "https://bot.example.com/sms?bodySHA256=abc"]


@pytest.mark.parametrize("form", forms(), ids=["plain", "escapes", "repeated", "empty"])
@pytest.mark.parametrize("signed_url", URLS)
@pytest.mark.parametrize("checked_url", URLS)
def test_signature_check_agrees_with_twilio(form, signed_url, checked_url):
    validator = RequestValidator(AUTH_TOKEN)
    for signature in [validator.compute_signature(signed_url, form),
                      RequestValidator("another-token").compute_signature(signed_url, form), "forged", "ünï"]:
        expected = validator.validate(checked_url, form, signature)
        assert signature_valid(AUTH_TOKEN, checked_url, form, signature) == expected
