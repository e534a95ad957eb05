"""Delivery receipts: each outbound text's last status, and the numbers not to text again.

A text we create is recorded under its recipient's hash tag
(``P:{+15551234567}:out:<MessageSid>``), so a status callback (which names
the recipient in ``To``) is applied with the recipient's opt-out or
do-not-send mark in one script, one round trip, on one cluster slot. The
record keeps the campaign and occasion the text was sent for, so receipts are
counted per campaign; it lives the receipt retention from its send, and then
a late callback for it is an unknown message.

Statuses are applied by rank (`STATUS_RANK`): a callback only ever moves a
message forward, so Twilio's retries and out-of-order callbacks end at the
same last status whatever order they came in (a late ``sent`` never
overwrites ``delivered``; ``undelivered`` after ``sent`` is a move forward).
The final statuses share the top rank: the first one stored is kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from .connection import Connection, text
from .senders import now_iso

#: Twilio's message statuses (outbound), in the order a message moves through them.
STATUS_RANK = {
    "accepted": 1, "scheduled": 1, "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4, "undelivered": 4, "failed": 4, "read": 4, "canceled": 4,
}
#: The statuses after which a message never changes.
FINAL_STATUSES = frozenset(status for status, rank in STATUS_RANK.items() if rank == max(STATUS_RANK.values()))
#: A number Twilio reports unreachable (not a mobile, a landline) is not texted again for this long:
#: numbers are reassigned and ported, so the mark does not last for ever.
UNDELIVERABLE_TTL_MS = 180 * 24 * 3600 * 1000

Mark = Literal["", "optout", "undeliverable"]


@dataclass(frozen=True)
class Receipt:
    """What one status callback did: `result` is "unknown", "stale" or "stored"."""

    result: Literal["unknown", "stale", "stored"]
    campaign: str = ""
    occasion: str = ""
    #: the message's last status before this callback
    previous: str = ""
    #: when the text was sent
    sent_at: dt.datetime | None = None


class Receipts(Connection):
    def record_outbound(self, sid: str, to: str, *, campaign: str, occasion: str, status: str, sent_at: dt.datetime,
                        retention_days: int) -> None:
        """Record a text we just created (Twilio answered `status`), for its callbacks, for `retention_days`."""
        args = [campaign, occasion, status, STATUS_RANK.get(status, 0), now_iso(), retention_days * 24 * 3600 * 1000,
                int(sent_at.timestamp())]
        self._run("outbound", [self.outbound_key(to, sid)], args)

    def record_receipt(self, sid: str, to: str, status: str, error_code: str = "", *, mark: Mark = "") -> Receipt:
        """Apply one status callback (see the module docstring); `mark` the recipient when it is stored."""
        keys = [self.outbound_key(to, sid), self.optout_key(to), self.undeliverable_key(to)]
        args = [status, STATUS_RANK[status], error_code, now_iso(), mark, UNDELIVERABLE_TTL_MS]
        found = self._run("receipt", keys, args)
        if text(found[0]) == "unknown":
            return Receipt("unknown")
        result, campaign, occasion, previous = (text(part) for part in found[:4])
        sent_at = dt.datetime.fromtimestamp(int(found[4]), dt.UTC) if len(found) > 4 and found[4] else None
        return Receipt(result, campaign, occasion, previous, sent_at)  # type: ignore[arg-type]

    def last_status(self, sid: str, to: str) -> tuple[str, str] | None:
        """(status, error code) of a text we sent, while its record is kept."""
        found = self._call("hmget", self.outbound_key(to, sid), "status", "error")
        if found[0] is None:
            return None
        return text(found[0]), text(found[1] or "")

    def sent_for(self, sid: str, to: str) -> tuple[str, str] | None:
        """(campaign, occasion) a text we sent was for, while its record is kept; None for a text we did not."""
        found = self._call("hmget", self.outbound_key(to, sid), "campaign", "occasion")
        if found[0] is None:
            return None
        return text(found[0]), text(found[1] or "")

    def undeliverable(self, to: str) -> bool:
        """Whether Twilio reported `to` unreachable by SMS (21614, 30006): do not text it."""
        return bool(self._call("exists", self.undeliverable_key(to)))
