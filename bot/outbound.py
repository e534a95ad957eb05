"""Sending SMS through Twilio's REST API: every outbound text goes through `SmsSender.send`.

Twilio's create-message call is not idempotent (error 20500: a retried POST can
send twice), so this module never retries a send; it maps failures to
`DeliveryError`s that say whether the message may have gone out, and can look
a sent message up for reconciliation. `bot doctor` reads the account and a
number's webhook through the same client (`account`, `incoming_number`), with
Twilio's errors translated here too.

Delivery receipts (bot/receipts.py) hang on this one place: a number Twilio
reported unreachable is not texted (`RecipientUndeliverable`); each create
call asks for status callbacks at ``PUBLIC_BASE_URL/twilio/status`` (when
PUBLIC_BASE_URL is set: the URL Twilio signs must be the public one); and each
text Twilio accepts is recorded with its campaign and occasion (late reply,
landing form, a broadcast's id, ...) so its receipts are matched and counted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from . import metrics
from .config import Settings
from .errors import (
    DeliveryRefused,
    DeliveryUncertain,
    RecipientOptedOut,
    RecipientUndeliverable,
    StoreUnavailable,
    WhatsAppBlocked,
    WhatsAppWindowClosed,
)
from .phone import bare_address, mask, mask_numbers

log = logging.getLogger(__name__)

OPTED_OUT = 21610
#: WhatsApp's refusals (reference/next-capabilities.md §3): free-form outside the 24-hour window;
#: the person blocked the sender; Meta's "user is not accepting marketing" (Stop promotions).
WHATSAPP_WINDOW_CLOSED = 63016
WHATSAPP_REFUSALS = {63016: WhatsAppWindowClosed, 63014: WhatsAppBlocked, 131050: WhatsAppBlocked}
#: Where Twilio posts a text's status callbacks, under PUBLIC_BASE_URL.
STATUS_CALLBACK_PATH = "/twilio/status"


class Ledger(Protocol):
    """Where sent texts are recorded for their receipts, and unreachable numbers known: the `Store`."""

    def undeliverable(self, to: str) -> bool: ...

    def sent_for(self, sid: str, to: str) -> tuple[str, str] | None: ...

    def record_outbound(self, sid: str, to: str, *, campaign: str, occasion: str, status: str,
                        sent_at: dt.datetime, retention_days: int) -> None: ...


class OutboundCounts(Protocol):
    """The results page's outbound counts (`results_outbound.OutboundFunnel`)."""

    def add(self, sent_hour: dt.datetime, campaign: str, occasion: str, event: str) -> None: ...

    def flush(self) -> None: ...


@dataclass(frozen=True)
class IncomingNumber:
    """Where Twilio sends a number's incoming texts: its own SMS URL, or a TwiML app's."""

    sms_url: str | None
    sms_method: str | None
    sms_application_sid: str | None


@contextlib.contextmanager
def _read_errors(what: str) -> Iterator[None]:
    """A read that Twilio refused (4xx: `DeliveryRefused`, with its status and code) or could not answer."""
    try:
        yield
    except TwilioRestException as exc:
        error = DeliveryRefused if exc.status is not None and exc.status < 500 else DeliveryUncertain
        raise error(f"Twilio {exc.status}/{exc.code}: {exc.msg}", code=exc.code, status=exc.status) from exc
    except (TwilioException, OSError) as exc:
        raise DeliveryUncertain(f"{what}: Twilio unreachable or slow: {exc}") from exc


class SmsSender:
    """A Twilio REST client with an explicit HTTP timeout and a configurable base URL; with a `store`
    (and `counts`), every text it sends gets delivery receipts (see the module docstring)."""

    def __init__(
        self, account_sid: str, auth_token: str, *, api_url: str = "https://api.twilio.com", timeout: float = 10.0,
        store: Ledger | None = None, counts: OutboundCounts | None = None, public_base_url: str | None = None,
        receipt_retention_days: int = Settings.receipt_retention_days,
    ):
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        # Twilio's domains take their base URL from this attribute; tests point it at a stand-in.
        self.client.api.base_url = api_url
        self.store = store
        self.status_callback = public_base_url.rstrip("/") + STATUS_CALLBACK_PATH if public_base_url else None
        self.receipt_retention_days = receipt_retention_days
        self.counts = counts

    def send(
        self, *, to: str, from_: str | None, body: str = "", campaign: str, occasion: str,
        content_sid: str | None = None, content_variables: dict[str, str] | None = None,
        messaging_service_sid: str | None = None,
    ) -> str:
        """Send one message for `campaign` on `occasion` and return its MessageSid: `body`, or with `content_sid`
        an approved template (WhatsApp outside its window; Twilio refuses a Body beside a ContentSid, so none is
        sent). `to` and `from_` are Twilio addresses (``whatsapp:+1…`` on WhatsApp); receipts are kept under the
        recipient's bare number, the one identity whatever the channel. With `messaging_service_sid`, the
        Messaging Service picks the sender from its pool instead of `from_`."""
        recipient = bare_address(to)
        if self._undeliverable(recipient):
            raise RecipientUndeliverable(f"{mask(recipient)} cannot get texts (an earlier receipt said so): not sent")
        fields: dict[str, Any] = {"status_callback": self.status_callback} if self.status_callback else {}
        if content_sid:
            fields.update(content_sid=content_sid, content_variables=json.dumps(content_variables or {}))
        else:
            fields["body"] = body
        if messaging_service_sid:
            fields["messaging_service_sid"] = messaging_service_sid
        else:
            fields["from_"] = from_
        try:
            message = self.client.messages.create(to=to, **fields)
        except TwilioRestException as exc:
            if exc.code == OPTED_OUT:
                raise RecipientOptedOut(
                    f"Twilio 21610: {mask(recipient)} has opted out", code=exc.code, status=exc.status
                ) from exc
            if exc.code in WHATSAPP_REFUSALS:
                raise WHATSAPP_REFUSALS[exc.code](
                    f"Twilio {exc.code}: WhatsApp refused the message to {mask(recipient)}: {mask_numbers(exc.msg)}",
                    code=exc.code, status=exc.status,
                ) from exc
            if exc.status is not None and exc.status < 500:
                raise DeliveryRefused(f"Twilio {exc.status}/{exc.code}: {mask_numbers(exc.msg)}", code=exc.code,
                                      status=exc.status) from exc
            raise DeliveryUncertain(f"Twilio {exc.status}: {mask_numbers(exc.msg)}", code=exc.code,
                                    status=exc.status) from exc
        except TwilioException as exc:
            raise DeliveryUncertain(f"Twilio unreachable or slow: {mask_numbers(str(exc))}") from exc
        except OSError as exc:  # requests' connection errors and timeouts
            raise DeliveryUncertain(f"Twilio unreachable or slow: {type(exc).__name__}: {exc}") from exc
        log.info("sent %s to %s", message.sid, mask(recipient))
        self._record(message.sid, recipient, campaign, occasion, str(message.status or "queued"))
        return message.sid

    def _undeliverable(self, to: str) -> bool:
        if self.store is None:
            return False
        try:
            return self.store.undeliverable(to)
        except StoreUnavailable as exc:  # a courtesy check: the text matters more
            log.warning("cannot check whether %s is reachable: %s", mask(to), exc)
            return False

    def _record(self, sid: str, to: str, campaign: str, occasion: str, status: str) -> None:
        """Record a sent text for its receipts. Never raises: the text went out whatever happens here."""
        metrics.OUTBOUND_SENT.labels(campaign=campaign).inc()
        now = dt.datetime.now(dt.UTC)
        if self.counts is not None:
            self.counts.add(now, campaign, occasion, "sent")
        if self.store is None:
            return
        try:
            self.store.record_outbound(sid, to, campaign=campaign, occasion=occasion, status=status, sent_at=now,
                                       retention_days=self.receipt_retention_days)
        except StoreUnavailable as exc:
            log.error("sent %s, but its receipts will not be matched: %s", sid, exc)

    def was_sent(
        self, *, to: str, from_: str | None, body: str, after: dt.datetime, campaign: str, occasion: str,
        content_sid: str | None = None,
    ) -> bool:
        """Whether this text went from `from_` to `to` (Twilio addresses, as `send` took them; `from_` None:
        from any sender of a Messaging Service's pool) since `after`, reconciling an uncertain send so it
        never goes twice.

        A text is known by its Body, or by its MessageSid recorded for `campaign` and `occasion` (the ledger).
        A template (`content_sid`) cannot be known by its Body: Twilio renders that from the template, and its
        message list does not name the ContentSid; so besides a recorded MessageSid, any message created
        through the API (not a TwiML reply) that the ledger has no record of counts: the send died before its
        record was written. Counting a stranger's message as ours costs one late text; the opposite, two.
        """
        sender = {"from_": from_} if from_ else {}
        try:
            messages = self.client.messages.list(to=to, date_sent_after=after, limit=50, **sender)
        except (TwilioException, OSError) as exc:
            raise DeliveryUncertain(f"Twilio message lookup failed: {mask_numbers(str(exc))}") from exc
        recipient = bare_address(to)
        for message in messages:
            if message.body == body:
                return True
            if message.direction != "outbound-api" or not message.sid:
                continue
            recorded = self._sent_for(message.sid, recipient)
            if recorded == (campaign, occasion) or (content_sid and recorded is None):
                return True
        return False

    def _sent_for(self, sid: str, to: str) -> tuple[str, str] | None:
        if self.store is None:
            return None
        try:
            return self.store.sent_for(sid, to)
        except StoreUnavailable as exc:
            raise DeliveryUncertain(f"cannot read what {sid} was sent for: {exc}") from exc

    def account(self) -> tuple[str, str]:
        """The (status, friendly name) of the account the credentials are for; 401 when they are wrong."""
        with _read_errors("account"):
            found = self.client.api.v2010.accounts(self.client.username).fetch()
        return found.status, found.friendly_name

    def incoming_number(self, number: str) -> IncomingNumber | None:
        """How the account's number `number` (E.164) is wired for incoming texts; None if not the account's."""
        with _read_errors("incoming phone numbers"):
            found = self.client.incoming_phone_numbers.list(phone_number=number, limit=1)
        if not found:
            return None
        return IncomingNumber(found[0].sms_url or None, found[0].sms_method, found[0].sms_application_sid)
