"""Sending SMS through Twilio's REST API (Messages resource), for replies outside a webhook.

Used by the QR landing form ("text me my code") and reusable for late replies.
The twilio client gets an explicit-timeout HTTP client, and its API base URL
comes from TWILIO_API_URL so tests can point it at a loopback stand-in.
"""

from __future__ import annotations

import logging

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .config import Settings
from .errors import SendFailed
from .phone import mask

log = logging.getLogger(__name__)

#: Seconds for one call to Twilio (connect and read): a web request is waiting on it.
DEFAULT_TIMEOUT_S = 10.0


class SmsSender:
    """One Twilio account's outbound SMS."""

    def __init__(self, account_sid: str, auth_token: str, *, api_url: str = "https://api.twilio.com",
                 timeout: float = DEFAULT_TIMEOUT_S):
        self.account_sid = account_sid
        self.client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        self.client.api.base_url = api_url.rstrip("/")

    @classmethod
    def from_settings(cls, settings: Settings) -> "SmsSender | None":
        """A sender when TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are both set, else None."""
        if not (settings.twilio_account_sid and settings.twilio_auth_token):
            return None
        return cls(settings.twilio_account_sid, settings.twilio_auth_token, api_url=settings.twilio_api_url)

    def send(self, *, to: str, from_: str, body: str) -> str:
        """Send `body` to `to` from one of our numbers; returns Twilio's Message SID."""
        try:
            message = self.client.messages.create(to=to, from_=from_, body=body)
        except TwilioRestException as exc:
            log.warning("SMS to %s refused by Twilio: HTTP %s, code %s", mask(to), exc.status, exc.code)
            raise SendFailed(f"Twilio refused the SMS: HTTP {exc.status}, code {exc.code}",
                             status=exc.status, code=exc.code) from exc
        except (TwilioException, OSError) as exc:
            log.warning("SMS to %s not sent: %s", mask(to), type(exc).__name__)
            raise SendFailed(f"Twilio could not be reached: {type(exc).__name__}") from exc
        except Exception as exc:  # requests' own errors (timeouts, connection resets)
            if type(exc).__module__.startswith(("requests", "urllib3")):
                log.warning("SMS to %s not sent: %s", mask(to), type(exc).__name__)
                raise SendFailed(f"Twilio could not be reached: {type(exc).__name__}") from exc
            raise
        log.info("SMS sent", extra={"event": "sms_sent", "message_sid": message.sid, "to": mask(to)})
        return message.sid
