"""The landing form's and the marketer login's state: single-use form nonces, the hour's global
budget of form texts, one alert per limit and window, and the login's failure buckets.

Every key here is bounded: a nonce lives `ttl` and is made only for a page view
a client's scan limit allowed; the budget is one integer an hour; the alerts one
key per limit kind; the login's buckets one per client that failed, gone once
its bucket refills (see keys.py's table).
"""

from __future__ import annotations

import datetime as dt
import secrets

from ..limits import RateLimit
from .connection import Connection

#: The `login_attempt` answers.
LOGIN_OK, LOGIN_LOCKED, LOGIN_ALL_LOCKED = 1, 0, -1


class Forms(Connection):
    def issue_form_nonce(self, slug: str, ttl_ms: int) -> str:
        """A fresh nonce for one served page of `slug`, kept `ttl_ms`."""
        nonce = secrets.token_urlsafe(18)
        self._call("set", self.form_nonce_key(nonce), slug, px=ttl_ms)
        return nonce

    def take_form_nonce(self, nonce: str, slug: str) -> bool:
        """Use `nonce` once: True only the first time, and only for the page (slug) it was served with."""
        if not nonce or len(nonce) > 64:
            return False
        return bool(self._run("take_nonce", [self.form_nonce_key(nonce)], [slug]))

    def take_form_budget(self, budget: int, at: dt.datetime | None = None) -> bool:
        """One text from the UTC hour's global budget of form texts; False once `budget` are used."""
        hour = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        expiry = int(hour.timestamp()) + 2 * 3600
        return bool(self._run("take_budget", [self.form_budget_key(hour)], [budget, expiry]))

    def first_alert(self, kind: str, window_ms: int) -> bool:
        """True once per `window_ms` for limit `kind` (across every process): the one log alert of a window."""
        return bool(self._call("set", self.form_alert_key(kind), "1", nx=True, px=window_ms))

    def login_attempt(self, client: str, per_client: RateLimit, overall: RateLimit) -> int:
        """Take one attempt from the client's and the global login buckets: `LOGIN_OK`, `LOGIN_LOCKED`
        (this client) or `LOGIN_ALL_LOCKED` (the global failure budget is spent)."""
        return int(self._run("login", list(self.login_keys(client)), ["take", *_login_args(per_client, overall)]))

    def refund_login(self, client: str, per_client: RateLimit, overall: RateLimit) -> None:
        """Give an attempt back: a right password costs nothing."""
        self._run("login", list(self.login_keys(client)), ["refund", *_login_args(per_client, overall)])


def _login_args(per_client: RateLimit, overall: RateLimit) -> list[int]:
    return [per_client.interval_ms, per_client.burst, overall.interval_ms, overall.burst]
