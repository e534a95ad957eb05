"""Delivery receipts: POST /twilio/status, Twilio's signed status callbacks for the texts we sent.

Every outbound text is created by `outbound.SmsSender.send` with a
StatusCallback to this route and recorded with its campaign and occasion. Each
callback is checked like POST /sms (X-Twilio-Signature over PUBLIC_BASE_URL's
URL: 403 when wrong or missing) and applied by `apply` in one store script,
one round trip: statuses only move forward (store/receipts.py), so Twilio's
retries and out-of-order callbacks end at the same last status.

What a final status's ErrorCode does:

- 21610 (the recipient texted STOP to Twilio): the number's opt-out is recorded, as a STOP would be;
- 21614 (not a mobile number), 30006 (landline or unreachable): the number is marked "do not send"
  (`Store.undeliverable`, checked by `SmsSender.send` for every outbound path);
- 30007 (carrier filtering): counted (``kcb_outbound_filtered_total``) and logged as a warning: the
  content itself is being blocked, which no retry fixes;
- on a WhatsApp text (``To=whatsapp:+1…``) that failed or went undelivered, WhatsApp's refusals do what
  they do when the create call returns them (`whatsapp.record_refusal`): 63016 closes the number's
  24-hour window record, 63014 / 131050 stop templates to it. Only when the callback is stored (the
  text's first final status), so a repeated or late callback records nothing again.

A callback for a message we did not send (or whose record expired) is answered
200 and logged, so Twilio stops retrying; nothing is stored. A callback without
MessageSid or MessageStatus is answered 400; one Redis could not take, 503.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort

from . import metrics
from .errors import StoreUnavailable
from .phone import address_of, bare_address, mask
from .results_outbound import ERROR_EVENT, OutboundFunnel
from .services import services_of
from .store import FINAL_STATUSES, STATUS_RANK, Receipt, Store
from .store.receipts import Mark
from .twilio_signature import FormFields, current_request, signed_by_twilio
from .whatsapp import record_refusal

log = logging.getLogger(__name__)

bp = Blueprint("receipts", __name__)

REQUIRED_FIELDS = ("MessageSid", "MessageStatus")
OPTED_OUT = "21610"
UNREACHABLE = frozenset({"21614", "30006"})
CARRIER_FILTERED = "30007"
#: The final statuses of a text that did not arrive: their ErrorCode says why.
NOT_ARRIVED = frozenset({"failed", "undelivered"})


def mark_for(error_code: str) -> Mark:
    """What a final status's ErrorCode says about the recipient."""
    if error_code == OPTED_OUT:
        return "optout"
    if error_code in UNREACHABLE:
        return "undeliverable"
    return ""


def apply(store: Store, counts: OutboundFunnel | None, sid: str, to: str, status: str, error_code: str = "",
          *, channel: str = "sms") -> Receipt:
    """Apply one status callback (`to`: the bare number; `channel`: the one its To names): the message's new
    last status, the recipient's mark, WhatsApp's refusals, the counts."""
    error_code = error_code if status in FINAL_STATUSES else ""
    receipt = store.record_receipt(sid, to, status, error_code, mark=mark_for(error_code))
    if receipt.result != "stored":
        return receipt
    metrics.OUTBOUND_STATUS.labels(status=status).inc()
    if status not in FINAL_STATUSES:
        return receipt
    if counts is not None and receipt.sent_at is not None:
        counts.add(receipt.sent_at, receipt.campaign, receipt.occasion, status)
        if error_code:
            counts.add(receipt.sent_at, receipt.campaign, receipt.occasion, ERROR_EVENT + error_code)
    if error_code:
        metrics.OUTBOUND_ERRORS.labels(code=error_code).inc()
    if error_code == CARRIER_FILTERED:
        metrics.OUTBOUND_FILTERED.labels(campaign=receipt.campaign).inc()
        log.warning("carrier filtering (30007) blocked %s for campaign %r (%s): the content is being blocked",
                    sid, receipt.campaign, receipt.occasion,
                    extra={"event": "carrier_filtered", "campaign": receipt.campaign})
    elif error_code:
        log.info("text %s to %s %s with error %s", sid, mask(to), status, error_code)
    if channel == "whatsapp" and status in NOT_ARRIVED and error_code.isdigit():
        record_refusal(store, to, int(error_code), sent_at=receipt.sent_at)
    return receipt


@bp.post("/twilio/status")
def status_callback() -> Response:
    services = services_of()
    settings = services.settings
    req = current_request()
    form = FormFields.posted(req)
    if not signed_by_twilio(req, form):
        log.warning("POST /twilio/status: bad or missing X-Twilio-Signature from %s", req.remote_addr)
        metrics.RECEIPTS.labels(result="forbidden").inc()
        abort(403)
    missing = [name for name in REQUIRED_FIELDS if not form.value(name)]
    if missing:
        metrics.RECEIPTS.labels(result="malformed").inc()
        abort(400, description=f"missing field(s): {', '.join(missing)}")
    # The recipient's bare number (the record's tag), whatever channel the text went by: "whatsapp:+1…" too.
    sid, status, to = form.value("MessageSid"), form.value("MessageStatus"), bare_address(form.value("To"))
    channel = address_of(form.value("To")).channel
    if settings.twilio_account_sid and form.value("AccountSid") != settings.twilio_account_sid:
        log.warning("POST /twilio/status: AccountSid %s is not ours", form.value("AccountSid"))
        metrics.RECEIPTS.labels(result="forbidden").inc()
        abort(403)
    if status not in STATUS_RANK or not to:
        log.info("status callback for %s ignored: status %r%s", sid, status, "" if to else ", no To")
        metrics.RECEIPTS.labels(result="ignored").inc()
        return Response("", 200, mimetype="text/plain")
    counts = services.sms.counts if services.sms is not None else None
    try:
        receipt = apply(services.store, counts, sid, to, status, form.value("ErrorCode"), channel=channel)
    except StoreUnavailable as exc:  # not applied: Twilio retries a callback that failed
        log.error("status callback for %s not applied: %s", sid, exc)
        metrics.RECEIPTS.labels(result="unavailable").inc()
        abort(503)
    if receipt.result == "unknown":
        log.info("status callback for unknown message %s (%s): not sent by us, or its record expired", sid, status,
                 extra={"event": "receipt_unknown"})
    metrics.RECEIPTS.labels(result=receipt.result).inc()
    return Response("", 200, mimetype="text/plain")
