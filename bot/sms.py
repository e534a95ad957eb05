"""The Twilio channel: POST /sms in, TwiML out. It translates; the conversation decides."""

from __future__ import annotations

import hmac
import logging
from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, request
from twilio.request_validator import RequestValidator

from .conversation import InboundMessage
from .phone import mask
from .services import services_of
from .whatsapp import inbound_addresses

log = logging.getLogger(__name__)

bp = Blueprint("sms", __name__)

REQUIRED_FIELDS = ("MessageSid", "AccountSid", "From", "To", "Body")


def signed_url() -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL plus the raw path and query, when configured.

    Behind a proxy, Flask sees http://internal-host; Twilio signed the public
    https URL. The raw query string keeps Twilio's own percent-encoding.
    """
    base = services_of().settings.public_base_url
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return base + request.path + (f"?{query}" if query else "")


class _FormLists(dict):
    """A form as {name: [values]}, with the `getall` twilio's RequestValidator asks for first.

    Handed werkzeug's MultiDict, it raises and catches an AttributeError per field
    before finding `getlist`: a third of the webhook's own CPU time in `make bench`.
    """

    def getall(self, name: str) -> list[str]:
        return self[name]


def signature_valid(token: str, url: str, form, signature: str) -> bool:
    """Twilio's X-Twilio-Signature check, with the usual case in one HMAC.

    Twilio signed exactly `url` and the form: one computation by twilio's own
    RequestValidator. Anything else (a port Twilio added or left out, a
    bodySHA256 URL) goes through its full `validate`, which tries every variant.
    """
    validator = RequestValidator(token)
    if "bodySHA256" not in url:
        expected = validator.compute_signature(url, _FormLists(form.lists()))
        if hmac.compare_digest(expected.encode(), signature.encode()):
            return True
    return validator.validate(url, form, signature)


_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


def twiml(text: str | None) -> Response:
    """The TwiML twilio's MessagingResponse writes (tests compare the bytes), without building a tree."""
    if text:
        body = f"{_XML_DECLARATION}<Response><Message>{escape(text)}</Message></Response>"
    else:
        body = f"{_XML_DECLARATION}<Response />"
    return Response(body, status=200, mimetype="text/xml")


@bp.post("/sms")
def inbound_sms() -> Response:
    services = services_of()
    settings = services.settings
    if settings.twilio_auth_token:
        signature = request.headers.get("X-Twilio-Signature", "")
        # All form fields, untouched: Twilio adds fields without notice and signs them all.
        url = signed_url()
        if not signature or not signature_valid(settings.twilio_auth_token, url, request.form, signature):
            # The URL without its query (whose values are Twilio's to choose), never the token.
            log.warning(
                "POST /sms: %s X-Twilio-Signature from %s, checked against %s; most often PUBLIC_BASE_URL "
                "(%s) differs from the webhook URL configured in Twilio",
                "bad" if signature else "missing", request.remote_addr, url.split("?", 1)[0],
                settings.public_base_url or "unset: the URL this server sees",
            )
            abort(403)
    form = request.form
    missing = [name for name in REQUIRED_FIELDS if name not in form]
    if missing:
        abort(400, description=f"missing field(s): {', '.join(missing)}")
    if settings.twilio_account_sid and form["AccountSid"] != settings.twilio_account_sid:
        log.warning("POST /sms: AccountSid %s is not ours", form["AccountSid"])
        abort(403)
    sender, to, channel = inbound_addresses(form["From"], form["To"])
    message = InboundMessage(
        sid=form["MessageSid"],
        sender=sender,
        to=to,
        body=form["Body"],
        channel=channel,
        opt_out_type=form.get("OptOutType") or None,
    )
    log.debug("inbound %s from %s", message.sid, mask(message.sender))
    reply = services.conversation.handle(message)
    return twiml(reply.text)
