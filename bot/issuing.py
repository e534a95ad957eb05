"""Issuing a customer's code, or reading their balance: the one path the webhook and the worker share.

An `Issuer` is Talon.One's client (talon.py) or the sandbox (sandbox.py); both
return the types below. `issue` and `read_balance` call it for one sender
through the `UpstreamGuard` (breaker, the campaign's budget, the deadline), with
the same profile and identifier every time, so a retry after a timeout
retrieves the coupon the first call created instead of minting a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .phone import to_e164

if TYPE_CHECKING:
    from .campaigns import Campaign, Program
    from .limits import RateLimit
    from .store import Gate
    from .upstream import UpstreamGuard


@dataclass(frozen=True)
class Coupon:
    code: str


@dataclass(frozen=True)
class Referral:
    code: str


@dataclass(frozen=True)
class LoyaltyBalance:
    balance: float
    tier: str | None = None
    points_to_next_tier: float | None = None


class Issuer(Protocol):
    """Talon.One's client or the sandbox: the same three calls."""

    def coupon(self, *, application_id: int, campaign_id: int, external_campaign_id: str, identifier: str,
               timeout: float | None = None) -> Coupon: ...

    def referral(self, *, campaign_id: int, advocate: str, timeout: float | None = None) -> Referral: ...

    def loyalty(self, *, loyalty_program_id: int, profile: str, timeout: float | None = None) -> LoyaltyBalance: ...

    def close(self) -> None: ...


def issue(issuer: Issuer, guard: UpstreamGuard, program: Program, campaign: Campaign, sender: str, *,
          deadline: float, year: int | None = None, gated: Gate | None = None) -> str:
    """`sender`'s code of a coupon, referral or birthday campaign (create or retrieve), by `deadline`
    (monotonic); `year` fills a birthday identifier's {year}; `gated`: the upstream gate's answer,
    when `Store.begin` gave it (`UpstreamGuard.check`)."""
    profile = _profile(sender)

    def attempt(timeout: float) -> str:
        if campaign.kind == "referral":
            return issuer.referral(campaign_id=campaign.campaign_id, advocate=profile, timeout=timeout).code
        return issuer.coupon(
            application_id=campaign.application_id,
            campaign_id=campaign.campaign_id,
            external_campaign_id=campaign.external_campaign_id,
            identifier=campaign.identifier_for(profile, year=year),
            timeout=timeout,
        ).code

    return guard.call(campaign.slug, budget_of(program, campaign), attempt, deadline=deadline, gated=gated)


def budget_of(program: Program, campaign: Campaign) -> RateLimit | None:
    """The Talon.One call budget `campaign`'s calls are counted in: its own, else the program's."""
    return campaign.upstream_limit or program.upstream_limit


def read_balance(issuer: Issuer, guard: UpstreamGuard, program: Program, campaign: Campaign, sender: str, *,
                 deadline: float) -> LoyaltyBalance:
    """`sender`'s balance in a loyalty campaign's program, read fresh, by `deadline` (monotonic)."""
    profile = _profile(sender)

    def attempt(timeout: float) -> LoyaltyBalance:
        return issuer.loyalty(loyalty_program_id=campaign.loyalty_program_id, profile=profile, timeout=timeout)

    return guard.call(campaign.slug, budget_of(program, campaign), attempt, deadline=deadline)


def _profile(sender: str) -> str:
    """The customer profile a sender is known by upstream: E.164 when it is a phone number."""
    return to_e164(sender) or sender
