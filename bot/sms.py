"""The Twilio channel: POST /sms in, TwiML out. It translates; the conversation decides."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from .app import services_of
from .conversation import InboundMessage
from .phone import mask

log = logging.getLogger(__name__)

bp = Blueprint("sms", __name__)

REQUIRED_FIELDS = ("MessageSid", "AccountSid", "From", "To", "Body")


def signed_url() -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL plus the raw path and query, when configured.

    Behind a proxy, Flask sees http://internal-host; Twilio signed the public
    https URL. The raw query string keeps Twilio's own percent-encoding.
    """
    base = services_of(current_app).settings.public_base_url
    if not base:
        return request.url
    query = request.query_string.decode("latin-1")
    return base + request.path + (f"?{query}" if query else "")


def twiml(text: str | None) -> Response:
    response = MessagingResponse()
    if text:
        response.message(text)
    return Response(str(response), status=200, mimetype="text/xml")


@bp.post("/sms")
def inbound_sms() -> Response:
    services = services_of(current_app)
    settings = services.settings
    if settings.twilio_auth_token:
        signature = request.headers.get("X-Twilio-Signature", "")
        # All form fields, untouched: Twilio adds fields without notice and signs them all.
        if not signature or not RequestValidator(settings.twilio_auth_token).validate(signed_url(), request.form, signature):
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
