"""The Twilio channel: POST /sms in, TwiML out. It translates; the conversation decides."""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort, request

from .conversation import InboundMessage
from .phone import mask
from .services import services_of
from .twilio_signature import signature_valid, signed_url

log = logging.getLogger(__name__)

bp = Blueprint("sms", __name__)

REQUIRED_FIELDS = ("MessageSid", "AccountSid", "From", "To", "Body")


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
        if not signature or not signature_valid(settings.twilio_auth_token, signed_url(), request.form, signature):
            log.warning("POST /sms: bad or missing X-Twilio-Signature from %s", request.remote_addr)
            abort(403)
    form = request.form
    missing = [name for name in REQUIRED_FIELDS if name not in form]
    if missing:
        abort(400, description=f"missing field(s): {', '.join(missing)}")
    if settings.twilio_account_sid and form["AccountSid"] != settings.twilio_account_sid:
        log.warning("POST /sms: AccountSid %s is not ours", form["AccountSid"])
        abort(403)
    message = InboundMessage(
        sid=form["MessageSid"],
        sender=form["From"],
        to=form["To"],
        body=form["Body"],
        opt_out_type=form.get("OptOutType") or None,
    )
    log.debug("inbound %s from %s", message.sid, mask(message.sender))
    reply = services.conversation.handle(message)
    return twiml(reply.text)
