"""Sending SMS through Twilio's REST API (late replies, the landing page's "text me my code").

Twilio's create-message call is not idempotent (error 20500: a retried POST can
send twice), so this module never retries a send; it maps failures to
`DeliveryError`s that say whether the message may have gone out, and can look
a sent message up for reconciliation. `bot doctor` reads the account and a
number's webhook through the same client (`account`, `incoming_number`), with
Twilio's errors translated here too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .errors import DeliveryRefused, DeliveryUncertain, RecipientOptedOut, WhatsAppBlocked, WhatsAppWindowClosed
from .phone import mask

log = logging.getLogger(__name__)

OPTED_OUT = 21610
#: WhatsApp's refusals (reference/next-capabilities.md §3): free-form outside the 24-hour window;
#: the person blocked the sender; Meta's "user is not accepting marketing" (Stop promotions).
WHATSAPP_WINDOW_CLOSED = 63016
WHATSAPP_REFUSALS = {63016: WhatsAppWindowClosed, 63014: WhatsAppBlocked, 131050: WhatsAppBlocked}


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
    """A Twilio REST client with an explicit HTTP timeout and a configurable base URL."""

    def __init__(
        self, account_sid: str, auth_token: str, *, api_url: str = "https://api.twilio.com", timeout: float = 10.0
    ):
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        # Twilio's domains take their base URL from this attribute; tests point it at a stand-in.
        self.client.api.base_url = api_url

    def send(
        self, *, to: str, from_: str, body: str = "", content_sid: str | None = None,
        content_variables: dict[str, str] | None = None,
    ) -> str:
        """Send one message and return its MessageSid: `body`, or with `content_sid` an approved template
        (WhatsApp outside its window; Twilio refuses a Body beside a ContentSid, so none is sent)."""
        if content_sid:
            fields = {"content_sid": content_sid, "content_variables": json.dumps(content_variables or {})}
        else:
            fields = {"body": body}
        try:
            message = self.client.messages.create(to=to, from_=from_, **fields)
        except TwilioRestException as exc:
            if exc.code == OPTED_OUT:
                raise RecipientOptedOut(
                    f"Twilio 21610: {mask(to)} has opted out", code=exc.code, status=exc.status
                ) from exc
            if exc.code in WHATSAPP_REFUSALS:
                raise WHATSAPP_REFUSALS[exc.code](
                    f"Twilio {exc.code}: WhatsApp refused the message to {mask(to)}: {exc.msg}",
                    code=exc.code, status=exc.status,
                ) from exc
            if exc.status is not None and exc.status < 500:
                raise DeliveryRefused(
                    f"Twilio {exc.status}/{exc.code}: {exc.msg}", code=exc.code, status=exc.status
                ) from exc
            raise DeliveryUncertain(f"Twilio {exc.status}: {exc.msg}", code=exc.code, status=exc.status) from exc
        except TwilioException as exc:
            raise DeliveryUncertain(f"Twilio unreachable or slow: {exc}") from exc
        except OSError as exc:  # requests' connection errors and timeouts
            raise DeliveryUncertain(f"Twilio unreachable or slow: {type(exc).__name__}: {exc}") from exc
        log.info("sent %s to %s", message.sid, mask(to))
        return message.sid

    def was_sent(self, *, to: str, from_: str, body: str, after: dt.datetime) -> bool:
        """Whether a message with this body went to `to` since `after` (reconciling an uncertain send)."""
        try:
            messages = self.client.messages.list(to=to, from_=from_, date_sent_after=after, limit=50)
        except (TwilioException, OSError) as exc:
            raise DeliveryUncertain(f"Twilio message lookup failed: {exc}") from exc
        return any(m.body == body for m in messages)

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
