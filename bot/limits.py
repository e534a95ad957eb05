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
