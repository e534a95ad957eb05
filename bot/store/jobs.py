"""The leased queues (jobs leased to a worker, retried, completed) and the late replies' sent markers.

Two queues share these calls: "jobs", the late replies (delivery.py), and
"outbound", the outreach texts (sending.py), so neither waits behind the other.

A claimed job is pushed one lease ahead, so a dead worker's job comes due
again; a sent marker makes a late reply go out at most once per sender and
campaign (see delivery.py).
"""

from __future__ import annotations

from .connection import Connection, text
from .senders import now_iso

SENT_TTL_MS = 30 * 24 * 3600 * 1000


class Jobs(Connection):
    def enqueue(self, job_id: str, payload: str, delay_ms: int = 0, *, queue: str = "jobs") -> bool:
        """Queue a job once: False when a job with this id is already waiting."""
        return bool(self._run("enqueue", list(self.job_keys(queue)), [job_id, payload, delay_ms]))

    def enqueue_many(self, jobs: list[tuple[str, str, int]], *, queue: str = "jobs") -> None:
        """`enqueue` for many (id, payload, delay_ms), in one pipelined round trip."""
        if not jobs:
            return
        keys = list(self.job_keys(queue))
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            for job_id, payload, delay_ms in jobs:
                self._scripts["enqueue"](keys=keys, args=[job_id, payload, delay_ms], client=pipe)
            pipe.execute()

    def claim(self, lease_ms: int, *, queue: str = "jobs") -> tuple[str, str, int] | None:
        """Lease the next due job for `lease_ms`: (id, payload, attempt) or None."""
        found = self._run("claim", list(self.job_keys(queue)), [lease_ms])
        if not found:
            return None
        return text(found[0]), text(found[1]), int(found[2])

    def retry_later(self, job_id: str, delay_ms: int, *, queue: str = "jobs") -> None:
        due, _, _ = self.job_keys(queue)
        self._run("retry", [due], [job_id, delay_ms])

    def complete(self, job_id: str, *, queue: str = "jobs") -> None:
        due, payloads, attempts = self.job_keys(queue)
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            pipe.zrem(due, job_id).hdel(payloads, job_id).hdel(attempts, job_id)
            pipe.execute()

    def queued(self, *, queue: str = "jobs") -> int:
        due, _, _ = self.job_keys(queue)
        return int(self._call("zcard", due))

    def mark_sending(self, sender: str, slug: str, *, ttl_ms: int = SENT_TTL_MS) -> str | None:
        """None: the caller may send now. Otherwise the marker found: 'sent' or 'sending:<iso time>'."""
        found = self._run("mark_sending", [self.sent_key(sender, slug)], [now_iso(), ttl_ms])
        return text(found) if found else None

    def mark_sent(self, sender: str, slug: str, *, ttl_ms: int = SENT_TTL_MS) -> None:
        self._call("set", self.sent_key(sender, slug), "sent", px=ttl_ms)
