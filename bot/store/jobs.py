"""The late-delivery queue (jobs leased to a worker, retried, completed) and the sent markers.

A claimed job is pushed one lease ahead, so a dead worker's job comes due
again; a sent marker makes a late reply go out at most once per sender and
campaign (see delivery.py).
"""

from __future__ import annotations

from .connection import Connection, text
from .senders import now_iso

SENT_TTL_MS = 30 * 24 * 3600 * 1000


class Jobs(Connection):
    def enqueue(self, job_id: str, payload: str, delay_ms: int = 0) -> bool:
        """Queue a job once: False when a job with this id is already waiting."""
        return bool(self._run("enqueue", list(self.job_keys()), [job_id, payload, delay_ms]))

    def claim(self, lease_ms: int) -> tuple[str, str, int] | None:
        """Lease the next due job for `lease_ms`: (id, payload, attempt) or None."""
        found = self._run("claim", list(self.job_keys()), [lease_ms])
        if not found:
            return None
        return text(found[0]), text(found[1]), int(found[2])

    def retry_later(self, job_id: str, delay_ms: int) -> None:
        due, _, _ = self.job_keys()
        self._run("retry", [due], [job_id, delay_ms])

    def complete(self, job_id: str) -> None:
        due, payloads, attempts = self.job_keys()
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            pipe.zrem(due, job_id).hdel(payloads, job_id).hdel(attempts, job_id)
            pipe.execute()

    def queued(self) -> int:
        due, _, _ = self.job_keys()
        return int(self._call("zcard", due))

    def mark_sending(self, sender: str, slug: str, *, ttl_ms: int = SENT_TTL_MS) -> str | None:
        """None: the caller may send now. Otherwise the marker found: 'sent' or 'sending:<iso time>'."""
        found = self._run("mark_sending", [self.sent_key(sender, slug)], [now_iso(), ttl_ms])
        return text(found) if found else None

    def mark_sent(self, sender: str, slug: str, *, ttl_ms: int = SENT_TTL_MS) -> None:
        self._call("set", self.sent_key(sender, slug), "sent", px=ttl_ms)
