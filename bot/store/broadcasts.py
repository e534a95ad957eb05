"""Broadcasts (`bot send`): the record, the audience snapshot, the progress counts.

A broadcast lives under its own hash tag (``{broadcast:<id>}``): the record (a
hash: campaign, audience, state, the enqueue cursor ``enqueued``), the audience
snapshot (a list of numbers, written whole before the record exists, so a record
always has its snapshot) and the counts the send engine keeps of its texts'
final states. Every text of a broadcast has the occasion ``broadcast:<id>``:
its exactly-once claim is the engine's, per recipient and occasion, so
enqueueing a batch again (a resumed or racing `bot send`) texts no one twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

from .connection import Connection, text
from .senders import now_iso

OCCASION_PREFIX = "broadcast:"
#: The states kept in the record; "paused" and "done" are read from the counts (broadcasts.py).
STATES = ("scheduled", "running", "cancelled", "done")


def broadcast_occasion(broadcast_id: str) -> str:
    return OCCASION_PREFIX + broadcast_id


def broadcast_of(occasion: str) -> str | None:
    """The broadcast id of an occasion, None when it is not a broadcast's."""
    return occasion[len(OCCASION_PREFIX):] if occasion.startswith(OCCASION_PREFIX) else None


@dataclass(frozen=True)
class BroadcastRecord:
    id: str
    campaign: str
    #: "all", or the audience file's name
    audience: str
    #: What makes the same `bot send` command the same broadcast (campaign, audience, --at): resumed, not repeated.
    origin: str
    size: int
    state: str = "scheduled"
    #: The send time (ISO 8601, UTC), "" for now.
    at: str = ""
    #: How many of the snapshot are enqueued: where an interrupted enqueue goes on.
    enqueued: int = 0
    created: str = ""
    sender: str = ""

    def fields(self) -> dict[str, str]:
        return {name: str(value) for name, value in dataclasses.asdict(self).items()}

    @classmethod
    def of(cls, raw: dict | None) -> BroadcastRecord | None:
        if not raw:
            return None
        values = {text(k): text(v) for k, v in raw.items()}
        return cls(**{**values, "size": int(values["size"]), "enqueued": int(values.get("enqueued", 0))})


class Broadcasts(Connection):
    def create_broadcast(self, record: BroadcastRecord, recipients: list[str], created_ms: int) -> None:
        """Write the snapshot, then the record, then index it: a record always has its whole snapshot."""
        record_key, recipients_key, _ = self.broadcast_keys(record.id)
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(recipients_key)
            for start in range(0, len(recipients), 10_000):
                pipe.rpush(recipients_key, *recipients[start:start + 10_000])
            pipe.execute()
            self.client.hset(record_key, mapping={**record.fields(), "created": record.created or now_iso()})
            self.client.zadd(self.broadcasts_key(), {record.id: created_ms})

    def broadcast(self, broadcast_id: str) -> BroadcastRecord | None:
        return BroadcastRecord.of(self._call("hgetall", self.broadcast_keys(broadcast_id)[0]))

    def broadcasts(self) -> list[BroadcastRecord]:
        """Every broadcast, oldest first."""
        ids = [text(i) for i in self._call("zrange", self.broadcasts_key(), 0, -1)]
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            for broadcast_id in ids:
                pipe.hgetall(self.broadcast_keys(broadcast_id)[0])
            return [r for r in (BroadcastRecord.of(raw) for raw in pipe.execute()) if r is not None]

    def broadcast_recipients(self, broadcast_id: str, start: int, count: int) -> list[str]:
        return [text(n) for n in self._call("lrange", self.broadcast_keys(broadcast_id)[1], start, start + count - 1)]

    def update_broadcast(self, broadcast_id: str, **values: str | int) -> None:
        self._call("hset", self.broadcast_keys(broadcast_id)[0], mapping={k: str(v) for k, v in values.items()})

    def broadcast_cancelled(self, occasion: str) -> bool:
        """Whether `occasion` is a cancelled broadcast's (no round trip for any other occasion)."""
        broadcast_id = broadcast_of(occasion)
        if broadcast_id is None:
            return False
        return text(self._call("hget", self.broadcast_keys(broadcast_id)[0], "state") or "") == "cancelled"

    def count_broadcast(self, occasion: str, count: str) -> None:
        """Count one of a broadcast's texts settled as `count` (the engine's names), and when."""
        broadcast_id = broadcast_of(occasion)
        if broadcast_id is None:
            return
        counts_key = self.broadcast_keys(broadcast_id)[2]
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            pipe.hincrby(counts_key, count, 1)
            pipe.hset(counts_key, "last", now_iso())
            pipe.execute()

    def broadcast_counts(self, broadcast_id: str) -> dict[str, str]:
        raw = self._call("hgetall", self.broadcast_keys(broadcast_id)[2]) or {}
        return {text(k): text(v) for k, v in raw.items()}

    def undeliverables(self, phones: list[str]) -> list[bool]:
        """`undeliverable` for many, in order, in one pipelined round trip."""
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            for phone in phones:
                pipe.exists(self.undeliverable_key(phone))
            return [bool(found) for found in pipe.execute()]

    def texted_numbers(self, batch: int = 1000) -> Iterator[str]:
        """Every number with a consent log (it texted the program, or was texted for it): SCAN, for plans."""
        with self._unavailable():
            for key in self.client.scan_iter(match=self.consent_pattern(), count=batch):
                yield self.sender_of_consent_key(text(key))
