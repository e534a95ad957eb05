"""The built-in sandbox issuer, used when TALON_API_KEY is unset.

It keeps Talon.One's create-or-retrieve promise without any state: a code is
derived from the request's identifier, so the same identifier gets the same
code in every process, and a new identifier gets a new one.
"""

from __future__ import annotations

import base64
import hashlib
import logging

from .issuing import Coupon, LoyaltyBalance, Referral

log = logging.getLogger(__name__)


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()


def _code(prefix: str, *parts: object) -> str:
    # Base32 without padding, and without the letters people confuse (0/O, 1/I).
    text = base64.b32encode(_digest(*parts)).decode().rstrip("=")
    text = text.translate(str.maketrans("01OI", "XYZW"))
    return f"{prefix}-{text[:6]}"


class SandboxIssuer:
    """Same methods and results as `TalonClient`, no account needed."""

    def __init__(self) -> None:
        log.warning("TALON_API_KEY is unset: codes come from the built-in sandbox issuer, not Talon.One.")

    def coupon(
        self,
        *,
        application_id: int,
        campaign_id: int,
        external_campaign_id: str,
        identifier: str,
        timeout: float | None = None,
    ) -> Coupon:
        return Coupon(code=_code("DEMO", application_id, campaign_id, identifier))

    def referral(
        self, *, campaign_id: int, advocate: str, timeout: float | None = None
    ) -> Referral:
        return Referral(code=_code("REF", campaign_id, advocate))

    def loyalty(self, *, loyalty_program_id: int, profile: str, timeout: float | None = None) -> LoyaltyBalance:
        points = int.from_bytes(_digest(loyalty_program_id, profile)[:2], "big") % 500
        return LoyaltyBalance(balance=points, tier="member", points_to_next_tier=500 - points)

    def close(self) -> None:
        pass
