"""The limits the bot keeps, as values: what a GCRA bucket allows and when the circuit breaker opens.

They are domain types, read from the campaign file and used by the store's
scripts; they know nothing of Redis.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """A GCRA limit: `burst` events at once, then `rate` per `per_seconds` on average."""

    rate: int
    per_seconds: float
    burst: int

    @property
    def interval_ms(self) -> int:
        return max(1, int(self.per_seconds * 1000 / self.rate))

    @property
    def window_ms(self) -> int:
        return max(1, int(self.per_seconds * 1000))


@dataclass(frozen=True)
class BreakerPolicy:
    """Open after `failures` failed calls within `window_s`; stay open `cooldown_s`; then probe."""

    failures: int = 5
    window_s: float = 60.0
    cooldown_s: float = 30.0


@dataclass(frozen=True)
class FormLimits:
    """The landing form's limits (``[program]`` ``form_*`` settings): each refusal looks the same to a visitor.

    Per client (an IPv4 address, or an IPv6 /64), per typed number, per country
    of that number, and a global budget of form texts per UTC hour.
    """

    client: RateLimit = RateLimit(rate=10, per_seconds=3600, burst=5)
    number: RateLimit = RateLimit(rate=3, per_seconds=3600, burst=2)
    country: RateLimit = RateLimit(rate=60, per_seconds=3600, burst=30)
    hourly_budget: int = 200
