"""The webhook's shortcuts (found by `make bench`) give exactly what twilio's and werkzeug's own code gives."""

from __future__ import annotations

import io
from urllib.parse import parse_qsl, urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request

from bot.sms import twiml
from bot.twilio_signature import FormFields, signature_valid
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


def werkzeug_form(body: str) -> dict[str, list[str]]:
    """What `request.form` makes of a url-encoded `body`."""
    data = body.encode()
    request = Request({"REQUEST_METHOD": "POST", "CONTENT_TYPE": "application/x-www-form-urlencoded",
                       "CONTENT_LENGTH": str(len(data)), "wsgi.input": io.BytesIO(data)})
    return dict(request.form.lists())


def qsl_lists(body: str) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        fields.setdefault(name, []).append(value)
    return fields


#: The characters that mean something in a url-encoded body, and a few that need encoding.
_FORM_TEXT = st.text(alphabet=st.sampled_from("aZ09+%&=;#2BFf ü😀\n"), max_size=24)


@pytest.mark.parametrize("body", [
    urlencode(twilio_form("SAVE")), urlencode(twilio_form("ＳＡＶＥ & <more> 100% + tax=0", sender="+447700900123")),
    urlencode(twilio_form("SAVE", sender="whatsapp:+15551234567")),
    "From=%2B1555&From=%2B1666&To=", "a&=b&&c=d=e&%2B=%2B12x&f=%2B", "x=%zz&z=%2b1&w=%2B%2B1", "",
])
def test_the_form_is_what_werkzeug_reads(body):
    assert FormFields.parse(body) == werkzeug_form(body) == qsl_lists(body)


def test_an_escape_that_is_not_utf_8_reads_as_a_replacement_character():
    # werkzeug keeps such bytes %-quoted; Twilio never sends them, and either way the signature fails.
    assert FormFields.parse("Body=%E2%9C&From=%2B1555") == {"Body": ["\ufffd"], "From": ["+1555"]}


@given(st.lists(st.tuples(_FORM_TEXT, _FORM_TEXT), max_size=6))
def test_any_encoded_form_parses_back_to_its_fields(pairs):
    body = urlencode(pairs)
    assert FormFields.parse(body) == qsl_lists(body)


@given(_FORM_TEXT)
def test_any_raw_body_parses_as_parse_qsl_reads_it(body):
    assert FormFields.parse(body) == qsl_lists(body)
