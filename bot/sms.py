"""The Twilio channel: POST /sms in, TwiML out. It translates; the conversation decides.

Translating includes the sender: `From` is normalised to E.164 here, once
(bot.phone `address_of`; "whatsapp:+1..." is the WhatsApp channel and the bare
number), and everything after uses that number. A sender that is not a person's
number (alphanumeric, a short code, empty) and a text to a number the program
does not serve are logged and answered with empty TwiML: no coupon.
"""

from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from flask import Blueprint, Response, abort

from .conversation import InboundMessage
from .phone import address_of, bare_address, mask
from .services import services_of
from .twilio_signature import FormFields, current_request, signature_of, signature_valid, signed_url

log = logging.getLogger(__name__)

bp = Blueprint("sms", __name__)

REQUIRED_FIELDS = ("MessageSid", "AccountSid", "From", "To", "Body")


_XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
#: What `mimetype="text/xml"` makes of it, written out once.
_TWIML_TYPE = "text/xml; charset=utf-8"


def twiml(text: str | None) -> Response:
    """The TwiML twilio's MessagingResponse writes (tests compare the bytes), without building a tree."""
    if text:
        body = f"{_XML_DECLARATION}<Response><Message>{escape(text)}</Message></Response>"
    else:
        body = f"{_XML_DECLARATION}<Response />"
    return Response(body, status=200, content_type=_TWIML_TYPE)


def serves(book, number: str) -> bool:
    """Whether the program answers texts to `number` (the program's SMS and WhatsApp numbers, the campaigns')."""
    return number in book.program.served_numbers or any(number in c.numbers for c in book.campaigns)


@bp.post("/sms")
def inbound_sms() -> Response:
    services = services_of()
    settings = services.settings
    req = current_request()
    # All form fields, untouched: Twilio adds fields without notice and signs them all.
    form = FormFields.posted(req)
    if settings.twilio_auth_token:
        signature = signature_of(req)
        url = signed_url(req, settings.public_base_url)
        if not signature or not signature_valid(settings.twilio_auth_token, url, form, signature):
            # The URL without its query (whose values are Twilio's to choose), never the token.
            log.warning(
                "POST /sms: %s X-Twilio-Signature from %s, checked against %s; most often PUBLIC_BASE_URL "
                "(%s) differs from the webhook URL configured in Twilio",
                "bad" if signature else "missing", req.remote_addr, url.split("?", 1)[0],
                settings.public_base_url or "unset: the URL this server sees",
            )
            abort(403)
    missing = [name for name in REQUIRED_FIELDS if name not in form]
    if missing:
        abort(400, description=f"missing field(s): {', '.join(missing)}")
    sid, account, raw_from, raw_to, body = [form[name][0] for name in REQUIRED_FIELDS]
    if settings.twilio_account_sid and account != settings.twilio_account_sid:
        log.warning("POST /sms: AccountSid %s is not ours", account)
        abort(403)
    sender, shop = address_of(raw_from), bare_address(raw_to)  # a short code stays as it is
    if sender.number is None:
        log.warning("POST /sms %s: sender is not a person's number (%s): no reply", sid,
                    mask(sender.raw) if sender.raw else "empty")
        return twiml(None)
    if not serves(services.book, shop):
        log.warning("POST /sms %s: to %s, a number this program does not serve: refused", sid, shop)
        return twiml(None)
    opt_out_type = form.value("OptOutType") or None
    message = InboundMessage(sid, sender.number, shop, body, sender.channel, opt_out_type)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("inbound %s from %s", message.sid, mask(message.sender))
    reply = services.conversation.handle(message)
    return twiml(reply.text)
