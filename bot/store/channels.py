"""One customer's WhatsApp state: the 24-hour customer-service window and WhatsApp's refusals.

The window is one key per number holding the time of their last inbound
WhatsApp message, expiring 24 hours after it was written: its existence is
the open window (whatsapp.py also compares its time with the caller's clock).
Writing it is one round trip on WhatsApp texts only, beside `begin`; it can
be folded into `finish` later. `has_sms_consent` reads the consent log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .connection import Connection, text
from .senders import ConsentEvent, ms, now_iso

#: WhatsApp's customer-service window: free-form messages within 24 h of the person's last message.
WINDOW_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class WhatsAppState:
    """`last_inbound`: the person's last WhatsApp message within the window (None: none);
    `refused`: the WhatsApp error code recorded for them (63014 blocked, 131050 no marketing), if any."""

    last_inbound: dt.datetime | None
    refused: int | None


class ChannelState(Connection):
    def open_whatsapp_window(self, sender: str, at: dt.datetime) -> None:
        """A WhatsApp text from `sender` at `at`: the window runs 24 hours from it."""
        self._run("whatsapp_inbound", [self.whatsapp_window_key(sender), self.whatsapp_refused_key(sender)],
                  [ms(at), WINDOW_MS])

    def close_whatsapp_window(self, sender: str) -> None:
        """Twilio said 63016 (outside the window): believe it over our own record."""
        self._call("delete", self.whatsapp_window_key(sender))

    def record_whatsapp_refusal(self, sender: str, code: int) -> None:
        """63014 (blocked) or 131050 (marketing stopped): no more WhatsApp templates to this number."""
        self._call("hset", self.whatsapp_refused_key(sender), mapping={"code": code, "at": now_iso()})

    def whatsapp_state(self, sender: str) -> WhatsAppState:
        with self._unavailable():
            pipe = self.client.pipeline(transaction=False)
            pipe.get(self.whatsapp_window_key(sender)).hget(self.whatsapp_refused_key(sender), "code")
            at_ms, code = pipe.execute()
        last = dt.datetime.fromtimestamp(int(text(at_ms)) / 1000, dt.UTC) if at_ms is not None else None
        return WhatsAppState(last, int(text(code)) if code is not None else None)

    def has_sms_consent(self, sender: str) -> bool:
        """Whether the consent log holds an opt-in by SMS (a text or START) for `sender`."""
        entries = self._call("lrange", self.consent_key(sender), 0, -1)
        for raw in entries:
            event = ConsentEvent.parse(sender, text(raw))
            if event.channel == "sms" and event.event in ("opt_in_source", "opt_in"):
                return True
        return False
