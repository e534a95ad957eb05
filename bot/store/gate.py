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
    """The upstream gate of one campaign's Talon.One call, asked ahead: its KEYS and ARGV (gate.lua),
    built once (`UpstreamGate.gate_check`). `begin` appends them to its own on one Redis node
    (`Connection.one_node`) and answers the gate with the issuance's lock, so the call then needs
    no round trip of its own."""

    #: breaker, probe, the campaign's budget
    keys: tuple[str, str, str]
    #: the budget's interval_ms and burst (0, 0 = no budget), probe_ttl_ms
    args: tuple[int, int, int]


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

    def gate_check(self, slug: str, budget: RateLimit | None, *, probe_ttl_ms: int) -> GateCheck:
        """The gate of campaign `slug`'s call, counted in `budget` (None: no budget)."""
        return GateCheck(
            (self.breaker_key(), self.probe_key(), self.upstream_key(slug)),
            (budget.interval_ms if budget else 0, budget.burst if budget else 0, probe_ttl_ms),
        )

    def upstream_gate(self, slug: str, budget: RateLimit | None, *, probe_ttl_ms: int) -> Gate:
        check = self.gate_check(slug, budget, probe_ttl_ms=probe_ttl_ms)
        return gate_of(self._run("gate", list(check.keys), list(check.args)))

    def record_upstream(self, ok: bool, breaker: BreakerPolicy) -> bool:
        """Record one call's outcome; True when this failure opened the breaker."""
        keys = [self.breaker_key(), self.probe_key()]
        args = ["1" if ok else "0", breaker.failures, int(breaker.cooldown_s * 1000), int(breaker.window_s * 1000)]
        return text(self._run("record", keys, args)) == "open"

    def breaker_state(self) -> str:
        state, _ = self._run("breaker_state", [self.breaker_key()], [])
        return text(state)
