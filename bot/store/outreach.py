"""Reaching out: audiences and the birthday index, outreach claims, the send pace, the planner's lease.

An audience record is a hash under the customer's hash tag (birthday `MM-DD`,
time zone, consent); the birthday index is one set per `MM-DD` (its own slot),
so planning a day reads only the customers born on it. Imports write in
pipelined batches: one round trip reads the batch's old birthdays (a changed
birthday leaves its old set), one writes the records and the index.

An outreach claim (`P:{sender}:claim:<slug>:<occasion>`) is the exactly-once
promise of sending.py: claimed once (`claim_outbound`), then moved from state
to state only from the state expected (`outbound_step`), never out of a final
one. The pace is a GCRA bucket on Redis's clock that every worker shares.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .connection import Connection, text
from .senders import says_out, verified_by_log

#: An outreach claim (and its coupon) is kept this long: past next year's occasion.
OUTBOUND_TTL_MS = 400 * 24 * 3600 * 1000
#: "BDAY" alone: the sender's next text within this is read as the answer.
ASK_TTL_MS = 15 * 60 * 1000
#: Outreach counts kept per campaign (the results page's row).
OUTREACH_COUNTS = ("planned", "sent", "quiet_hours", "opted_out", "no_consent", "upstream", "failed")
FINAL_PREFIXES = ("sent:", "skipped:", "failed:")


@dataclass(frozen=True)
class AudienceRecord:
    """One customer's audience record, as stored (strings; empty when not known)."""

    phone: str
    birthday: str = ""
    timezone: str = ""
    consent_at: str = ""
    consent_source: str = ""
    verified: bool = False

    def fields(self) -> dict[str, str]:
        return {"birthday": self.birthday, "timezone": self.timezone, "consent_at": self.consent_at,
                "consent_source": self.consent_source, "verified": "1" if self.verified else "0"}

    @classmethod
    def of(cls, phone: str, raw: dict[Any, Any] | None) -> AudienceRecord | None:
        if not raw:
            return None
        values = {text(k): text(v) for k, v in raw.items()}
        return cls(phone, values.get("birthday", ""), values.get("timezone", ""), values.get("consent_at", ""),
                   values.get("consent_source", ""), values.get("verified") == "1")


@dataclass(frozen=True)
class Recipient:
    """What a send needs to know about its recipient at the moment of sending, read in one round trip."""

    opted_out: bool
    audience: AudienceRecord | None
    state: str | None
    #: The number itself texted the program since its last opt-out (its consent log says so).
    texted: bool = False

    @property
    def consented(self) -> bool:
        """Verified consent, the one rule of every outreach text: the number texted the program
        (`Store.has_verified_consent`'s rule), or an imported audience's verified consent (the shop
        vouches with its source and time); never while opted out."""
        if self.opted_out:
            return False
        imported = self.audience is not None and self.audience.verified and bool(self.audience.consent_at)
        return self.texted or imported


def is_final(state: str | None) -> bool:
    return bool(state) and state.startswith(FINAL_PREFIXES)


class Outreach(Connection):
    # -- audiences

    def save_audience(self, records: Iterable[AudienceRecord]) -> int:
        """Upsert a batch of records and keep the birthday index right, in two pipelined round trips."""
        records = list({r.phone: r for r in records}.values())  # the later line wins, as in the file
        if not records:
            return 0
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            for record in records:
                pipe.hget(self.audience_key(record.phone), "birthday")
            old = [text(v) if v is not None else "" for v in pipe.execute()]
            pipe = self.client.pipeline(transaction=False)
            for record, previous in zip(records, old, strict=True):
                pipe.hset(self.audience_key(record.phone), mapping=record.fields())
                if previous and previous != record.birthday:
                    pipe.srem(self.birthday_index_key(previous), record.phone)
                if record.birthday:
                    pipe.sadd(self.birthday_index_key(record.birthday), record.phone)
            pipe.execute()
        return len(records)

    def audience(self, phone: str) -> AudienceRecord | None:
        return AudienceRecord.of(phone, self._call("hgetall", self.audience_key(phone)))

    def audiences(self, phones: list[str]) -> list[AudienceRecord | None]:
        """The records of `phones`, in order, in one pipelined round trip."""
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            for phone in phones:
                pipe.hgetall(self.audience_key(phone))
            return [AudienceRecord.of(phone, raw) for phone, raw in zip(phones, pipe.execute(), strict=True)]

    def every_audience(self, batch: int = 1000) -> Iterator[AudienceRecord]:
        """Every audience record (SCAN, on every primary of a cluster): for exports and stats, not requests."""
        prefix_length = len(self.prefix) + 2
        with self._unavailable():
            phones: list[str] = []
            for key in self.client.scan_iter(match=self.audience_pattern(), count=batch):
                key = text(key)
                phones.append(key[prefix_length: key.rindex("}")])
                if len(phones) >= batch:
                    yield from (r for r in self.audiences(phones) if r is not None)
                    phones = []
            yield from (r for r in self.audiences(phones) if r is not None)

    def born_on(self, month_day: str) -> list[str]:
        """The numbers whose birthday is `month_day` (MM-DD): the index's set, read whole."""
        return sorted(text(m) for m in self._call("smembers", self.birthday_index_key(month_day)))

    # -- "BDAY" alone: a pending question

    def ask_birthday(self, phone: str, slug: str) -> None:
        self._call("set", self.ask_key(phone), slug, px=ASK_TTL_MS)

    def asked_birthday(self, phone: str) -> str | None:
        value = self._call("get", self.ask_key(phone))
        return text(value) if value is not None else None

    def answered_birthday(self, phone: str) -> None:
        self._call("delete", self.ask_key(phone))

    # -- outreach claims

    def claim_outbound(self, phone: str, slug: str, occasion: str) -> tuple[bool, str]:
        """(True, 'queued') when this call claimed the text; else (False, the state found)."""
        claimed, state = self._run("out_claim", [self.claim_key(phone, slug, occasion)], [OUTBOUND_TTL_MS])
        return bool(claimed), text(state)

    def claim_outbounds(self, claims: list[tuple[str, str, str]]) -> list[tuple[bool, str]]:
        """`claim_outbound` for many (phone, slug, occasion), in one pipelined round trip."""
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            for phone, slug, occasion in claims:
                self._scripts["out_claim"](keys=[self.claim_key(phone, slug, occasion)], args=[OUTBOUND_TTL_MS],
                                           client=pipe)
            return [(bool(claimed), text(state)) for claimed, state in pipe.execute()]

    def outbound_step(
        self, phone: str, slug: str, occasion: str, *, expected: str, new: str
    ) -> tuple[bool, str | None]:
        """Move the claim to `new`, only from `expected` ('' = any state not final): (moved, state now)."""
        key = self.claim_key(phone, slug, occasion)
        moved, state = self._run("out_step", [key], [expected, new, OUTBOUND_TTL_MS])
        return bool(moved), text(state) if state else None

    def outbound_state(self, phone: str, slug: str, occasion: str) -> str | None:
        value = self._call("get", self.claim_key(phone, slug, occasion))
        return text(value) if value is not None else None

    def recipient(self, phone: str, slug: str, occasion: str) -> Recipient:
        """Opt-out, audience record, the claim's state and the consent log, in one round trip (one slot)."""
        return self.recipients([phone], slug, occasion)[0]

    def recipients(self, phones: list[str], slug: str, occasion: str) -> list[Recipient]:
        """`recipient` for many, in order, in one pipelined round trip (a broadcast's plan)."""
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            for phone in phones:
                pipe.hgetall(self.optout_key(phone))
                pipe.hgetall(self.audience_key(phone))
                pipe.get(self.claim_key(phone, slug, occasion))
                pipe.lrange(self.consent_key(phone), 0, -1)
            found = pipe.execute()
        return [Recipient(says_out(opted_out), AudienceRecord.of(phone, audience), text(state) if state else None,
                          texted=verified_by_log(phone, consent_log))
                for phone, (opted_out, audience, state, consent_log)
                in zip(phones, (found[n:n + 4] for n in range(0, len(found), 4)), strict=True)]

    def pace(self, interval_ms: int, burst: int = 1) -> int:
        """0: send now (a place in the shared send rate is taken); else the ms to wait before asking again."""
        return int(self._run("pace", [self.pace_key()], [interval_ms, burst]))

    # -- the planner

    def take_lease(self, token: str, ttl_ms: int) -> bool:
        """Take or renew the planner's lease: True while `token` holds it."""
        return bool(self._run("lease", [self.planner_lease_key()], [token, ttl_ms]))

    def was_planned(self, slug: str, day: dt.date) -> bool:
        return bool(self._call("exists", self.planned_key(slug, day.isoformat())))

    def mark_planned(self, slug: str, day: dt.date, ttl_ms: int) -> None:
        self._call("set", self.planned_key(slug, day.isoformat()), "1", px=ttl_ms)

    # -- the results page's outreach row

    def count_outreach(self, slug: str, counts: dict[str, int]) -> None:
        counts = {name: n for name, n in counts.items() if n}
        if not counts:
            return
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            for name, n in counts.items():
                pipe.hincrby(self.outreach_stats_key(slug), name, n)
            pipe.execute()

    def outreach_counts(self, slug: str) -> dict[str, int]:
        raw = self._call("hgetall", self.outreach_stats_key(slug)) or {}
        found = {text(k): int(v) for k, v in raw.items()}
        return {name: found.get(name, 0) for name in OUTREACH_COUNTS}
