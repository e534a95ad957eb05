"""Reading TwiML answers the way Twilio does: as XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def messages(response) -> list[str]:
    """The texts of the <Message> elements of a TwiML response (asserting it is valid TwiML)."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data())
    assert root.tag == "Response"
    assert all(child.tag == "Message" for child in root)
    return [child.text or "" for child in root]


def message_of(twiml: str | bytes) -> str | None:
    """The one message of a TwiML body already read, or None when it has none."""
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    texts = [child.text or "" for child in root]
    assert len(texts) <= 1, texts
    return texts[0] if texts else None


def reply(response) -> str | None:
    """The one message of a TwiML response, or None when it has none."""
    texts = messages(response)
    assert len(texts) <= 1, texts
    return texts[0] if texts else None
