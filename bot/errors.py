"""The bot's exceptions, one small hierarchy callers can catch at the depth they need.

    BotError
    ├── ConfigError            bad environment or campaign file: start-up stops
    │   └── CampaignFileError  carries every problem with its place
    ├── StoreUnavailable       Redis (or the embedded store) could not be used
    ├── SendFailed             Twilio's REST API did not accept an outbound SMS
    └── UpstreamError          an issuer (Talon.One or the sandbox) failed
        ├── UpstreamRetryable  429, 5xx, timeouts, connection errors, garbage
        └── UpstreamPermanent  400, 401, 403, 404: retrying cannot help
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


class SendFailed(BotError):
    """An outbound SMS was not accepted by Twilio. `status`/`code` are Twilio's when it answered."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class UpstreamError(BotError):
    """An issuer call failed. `status` and `request_uuid` come from Talon.One when it sent them."""

    def __init__(self, message: str, *, status: int | None = None, request_uuid: str | None = None):
        super().__init__(message)
        self.status = status
        self.request_uuid = request_uuid


class UpstreamRetryable(UpstreamError):
    """Worth another try with the same identifier: 429, 5xx, timeouts, a 200 without a code."""


class UpstreamPermanent(UpstreamError):
    """The request itself is wrong (400), not allowed (401/403) or names nothing (404)."""
