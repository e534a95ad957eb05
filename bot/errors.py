"""The bot's exceptions, one small hierarchy callers can catch at the depth they need.

    BotError
    ├── ConfigError            bad environment or campaign file: start-up stops
    │   └── CampaignFileError  carries every problem with its place
    ├── StoreUnavailable       Redis (or the embedded store) could not be used
    ├── UpstreamError          an issuer (Talon.One or the sandbox) failed
    │   ├── UpstreamRetryable  429, 5xx, timeouts, connection errors, garbage
    │   └── UpstreamPermanent  400, 401, 403, 404: retrying cannot help
    ├── DeliveryError          sending an SMS through Twilio's REST API failed
    │   ├── RecipientOptedOut  21610: final
    │   ├── DeliveryRefused    not sent (bad number, other 4xx)
    │   │   ├── RecipientUndeliverable  Twilio reported the number unreachable (21614, 30006)
    │   │   ├── NoChannelAllowed  no channel may carry it now (WhatsApp's window closed, no template, no consent)
    │   │   ├── WhatsAppWindowClosed  63016: free text outside the 24-hour window
    │   │   └── WhatsAppBlocked  63014 blocked, 131050 marketing stopped
    │   └── DeliveryUncertain  5xx or timeout: maybe sent, never resend blindly
    └── DrawError              a competition's draw step refused, or a draw file that does not hold
"""

from __future__ import annotations

from dataclasses import dataclass


class BotError(Exception):
    """Base of every error the bot raises on purpose."""


class ConfigError(BotError):
    """A setting or the campaign file is unusable; the message names it."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a campaign file, with where it is."""

    place: str
    message: str

    def __str__(self) -> str:
        return f"{self.place}: {self.message}"


class CampaignFileError(ConfigError):
    def __init__(self, path: str, problems: list[Problem]):
        self.path = path
        self.problems = problems
        first = problems[0] if problems else Problem(path, "unusable")
        more = f" (and {len(problems) - 1} more: run `bot check {path}`)" if len(problems) > 1 else ""
        super().__init__(f"{path}: {first}{more}")


class StoreUnavailable(BotError):
    """The shared store did not answer; callers fail open or closed as their rule says."""


class UpstreamError(BotError):
    """An issuer call failed. `status` and `request_uuid` come from Talon.One when it sent them."""

    def __init__(self, message: str, *, status: int | None = None, request_uuid: str | None = None):
        super().__init__(message)
        self.status = status
        self.request_uuid = request_uuid


class UpstreamRetryable(UpstreamError):
    """Worth another try with the same identifier: 429, 5xx, timeouts, a 200 without a code,
    an open circuit breaker or a spent budget. `retry_in` (seconds) says when, if known."""

    def __init__(self, message: str, *, status: int | None = None, request_uuid: str | None = None,
                 retry_in: float | None = None):
        super().__init__(message, status=status, request_uuid=request_uuid)
        self.retry_in = retry_in


class UpstreamPermanent(UpstreamError):
    """The request itself is wrong (400), not allowed (401/403) or names nothing (404)."""


class DeliveryError(BotError):
    """Sending an SMS through Twilio's REST API failed. `code` is Twilio's error code."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class RecipientOptedOut(DeliveryError):
    """Twilio 21610: the number replied STOP. Final: never send to it again."""


class DeliveryRefused(DeliveryError):
    """Twilio refused the message (bad number, 4xx): it was not sent, retrying will not help."""


class RecipientUndeliverable(DeliveryRefused):
    """Not sent: an earlier receipt said the number cannot get texts (21614 not a mobile, 30006 unreachable)."""


class NoChannelAllowed(DeliveryRefused):
    """Not sent, not asked of Twilio: no channel may carry the text now (whatsapp.outbound_route's reason)."""


class WhatsAppWindowClosed(DeliveryRefused):
    """Twilio 63016: free-form WhatsApp text outside the 24-hour window; only an approved template may go."""


class WhatsAppBlocked(DeliveryRefused):
    """Twilio 63014 (the person blocked the sender) or Meta's 131050 (they stopped marketing messages)."""


class DeliveryUncertain(DeliveryError):
    """A 5xx or a timeout: the message may or may not have been sent. Never blindly resend."""


class DrawError(BotError):
    """A draw step refused (before ends_at, twice, no entries, a seed or list not the committed one),
    or a draw file that does not hold: the message says what."""
