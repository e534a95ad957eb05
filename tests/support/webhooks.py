"""Twilio's side of a webhook: the test account, the shop's number, and the signed form Twilio posts."""

from __future__ import annotations

import uuid

import httpx
from twilio.request_validator import RequestValidator

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
SHOP_NUMBER = "+15005550006"
PUBLIC_BASE_URL = "https://bot.example.com"
DEPLOYMENT = "acme.europe-west1.talon.one"


def new_sid() -> str:
    return f"SM{uuid.uuid4().hex}"


def twilio_form(body: str, *, sender: str = "+15551234567", sid: str | None = None, **extra: str) -> dict[str, str]:
    """The form Twilio posts for an inbound SMS (with the fields real payloads carry)."""
    sid = sid or new_sid()
    return {
        "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "",
        "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "",
        "Body": body, "FromCountry": "US", "To": SHOP_NUMBER, "ToZip": "", "NumSegments": "1",
        "MessageSid": sid, "AccountSid": ACCOUNT_SID, "From": sender, "ApiVersion": "2010-04-01",
        **extra,
    }


def sign(form: dict[str, str], url: str = PUBLIC_BASE_URL + "/sms", token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


def send_signed(url: str, body: str, sender: str) -> httpx.Response:
    form = twilio_form(body, sender=sender)
    return httpx.post(url + "/sms", data=form, headers={"X-Twilio-Signature": sign(form)}, timeout=30)


def twiml_message(response: httpx.Response) -> str | None:
    import xml.etree.ElementTree as ET

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    texts = [m.text for m in root.findall("Message")]
    assert len(texts) <= 1
    return texts[0] if texts else None
