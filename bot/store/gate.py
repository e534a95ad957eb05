"""The upstream gate (Talon.One's circuit breaker and each campaign's budget) and GCRA buckets.

Limits run on Redis's clock (``TIME`` inside the scripts), never the app's,
so every worker and host agrees. `Gate` lives here: it is the gate's answer
and nothing else makes one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from ..limits import BreakerPolicy, RateLimit
from .connection import Connection, text


@dataclass(frozen=True)
class Gate:
    """The upstream gate's answer: go (maybe as the half-open probe), or wait."""

    state: Literal["go", "open", "over"]
    probe: bool = False
    failures: int = 0
    retry_in_ms: int = 0


class GateCheck(NamedTuple):
    """The upstream gate for campaign `slug`'s Talon.One call, asked ahead: `begin` answers it with the
    issuance's lock on one Redis node (`Connection.one_node`), and the call then needs no round trip.
    The fields after `slug` are the gate's ARGV (gate.lua)."""

    slug: str
    #: The campaign's budget (`RateLimit.interval_ms`, `.burst`); 0, 0 = no budget.
    interval_ms: int
    burst: int
    probe_ttl_ms: int

    @classmethod
    def of(cls, slug: str, budget: RateLimit | None, probe_ttl_ms: int) -> GateCheck:
        return cls(slug, budget.interval_ms if budget else 0, budget.burst if budget else 0, probe_ttl_ms)


def gate_of(result: Any) -> Gate:
    """A Gate from upstream_gate.lua's answer."""
    state = text(result[0])
    if state == "go":
        return Gate("go", probe=bool(result[1]), failures=int(result[2]))
    return Gate(state, retry_in_ms=int(result[1]))  # type: ignore[arg-type]


class UpstreamGate(Connection):
    def allow(self, key: str, limit: RateLimit) -> bool:
        """Take one event from the GCRA bucket at `key` (see `upstream_key`, `bucket_key`)."""
        return bool(self._run("allow", [key], [limit.interval_ms, limit.burst]))

    def upstream_gate(self, slug: str, budget: RateLimit | None, *, probe_ttl_ms: int) -> Gate:
        check = GateCheck.of(slug, budget, probe_ttl_ms)
        return gate_of(self._run("gate", self.gate_keys(slug), list(check[1:])))

    def record_upstream(self, ok: bool, breaker: BreakerPolicy) -> bool:
        """Record one call's outcome; True when this failure opened the breaker."""
        keys = [self.breaker_key(), self.probe_key()]
        args = ["1" if ok else "0", breaker.failures, int(breaker.cooldown_s * 1000), int(breaker.window_s * 1000)]
        return text(self._run("record", keys, args)) == "open"

    def breaker_state(self) -> str:
        state, _ = self._run("breaker_state", [self.breaker_key()], [])
        return text(state)
