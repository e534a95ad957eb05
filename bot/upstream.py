"""Calling the issuer under a deadline: retries with backoff, a shared circuit breaker, a budget.

`UpstreamGuard.call` is the one way the bot calls Talon.One. Each attempt
passes the upstream gate in Redis (the deployment-wide circuit breaker and
the campaign's token bucket, on Redis's clock), gets a timeout that fits the
time left, and on a retryable failure waits an exponential, fully jittered
backoff before trying again with the same identifier. A first code on one
Redis node has passed the gate already, in `begin`'s round trip (`check`,
then `call(..., gated=)`). When the time is up,
the breaker is open or the budget is spent, it raises `UpstreamRetryable`
so the caller can finish later (the late-delivery queue) instead of failing.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import StoreUnavailable, UpstreamPermanent, UpstreamRetryable
from .limits import BreakerPolicy, RateLimit
from .store import Gate, GateCheck, Store

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Statuses that say the deployment's key or access is broken, not this request.
SYSTEMIC_STATUSES = frozenset({401, 403})
DEFAULT_BREAKER = BreakerPolicy()  # frozen: one instance serves every guard


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter (AWS architecture blog's "full jitter")."""

    base_s: float = 0.2
    cap_s: float = 2.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


class UpstreamGuard:
    def __init__(
        self,
        store: Store,
        *,
        breaker: BreakerPolicy = DEFAULT_BREAKER,
        backoff: Backoff = Backoff(),
        read_timeout: float = 5.0,
        min_attempt_s: float = 0.25,
    ):
        self.store = store
        self.breaker = breaker
        self.backoff = backoff
        self.read_timeout = read_timeout
        self.min_attempt_s = min_attempt_s

    def check(self, slug: str, budget: RateLimit | None, *, within_s: float) -> GateCheck | None:
        """The gate of `slug`'s call, to be made within `within_s`, for `Store.begin` to answer ahead
        (None where it cannot: a cluster)."""
        if not self.store.one_node:
            return None
        return self.store.gate_check(slug, budget, probe_ttl_ms=self._probe_ttl_ms(within_s))

    def call(self, slug: str, budget: RateLimit | None, attempt: Callable[[float], T], *, deadline: float,
             gated: Gate | None = None) -> T:
        """Run `attempt(timeout)` until it succeeds, fails permanently, or `deadline` (monotonic) passes.
        `gated`: the gate's answer for the first attempt, when `begin` gave it (`check`)."""
        last: UpstreamRetryable | None = None
        tries = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining < self.min_attempt_s:
                raise last or UpstreamRetryable("no time left for a Talon.One call")
            if gated is not None:
                refusal, record_success = self._answer(slug, gated)
                gated = None
            else:
                refusal, record_success = self._gate(slug, budget, remaining)
            if refusal is not None:
                raise refusal
            try:
                result = attempt(min(self.read_timeout, remaining))
            except UpstreamRetryable as exc:
                self._record(ok=False)
                last = exc
                tries += 1
                pause = self.backoff.delay(tries - 1)
                if deadline - time.monotonic() - pause < self.min_attempt_s:
                    raise exc
                log.info("Talon.One attempt %d for %s failed (%s); retrying in %.2fs", tries, slug, exc, pause)
                time.sleep(pause)
                continue
            except UpstreamPermanent as exc:
                if exc.status in SYSTEMIC_STATUSES:
                    self._record(ok=False)
                    log.critical("Talon.One rejects the API key (%s): check TALON_API_KEY and its expiry", exc)
                raise
            if record_success:
                self._record(ok=True)
            return result

    # -- gate and record, failing open when Redis is away

    def _gate(self, slug: str, budget: RateLimit | None, remaining: float) -> tuple[UpstreamRetryable | None, bool]:
        """(a refusal to raise, or None; whether a success must be recorded)."""
        try:
            gate = self.store.upstream_gate(slug, budget, probe_ttl_ms=self._probe_ttl_ms(remaining))
        except StoreUnavailable as exc:
            log.warning("upstream gate not checked (failing open): %s", exc)
            return None, False
        return self._answer(slug, gate)

    @staticmethod
    def _probe_ttl_ms(remaining: float) -> int:
        """A half-open probe's claim outlives the call it stands for by a second."""
        return int((remaining + 1) * 1000)

    def _answer(self, slug: str, gate: Gate) -> tuple[UpstreamRetryable | None, bool]:
        """`_gate`'s answer, from the gate's."""
        if gate.state == "open":
            return UpstreamRetryable("Talon.One circuit breaker is open", retry_in=gate.retry_in_ms / 1000), False
        if gate.state == "over":
            log.warning("campaign %s is over its Talon.One budget", slug)
            message = f"campaign {slug} is over its Talon.One budget"
            return UpstreamRetryable(message, retry_in=gate.retry_in_ms / 1000), False
        # A success only needs recording when it closes the breaker or clears failures.
        return None, gate.probe or gate.failures > 0

    def _record(self, ok: bool) -> None:
        try:
            if self.store.record_upstream(ok, self.breaker) and not ok:
                log.error("Talon.One circuit breaker opened for %.0fs", self.breaker.cooldown_s)
        except StoreUnavailable as exc:
            log.warning("upstream outcome not recorded: %s", exc)
