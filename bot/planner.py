"""The birthday planner inside `bot worker`: which customers get their birthday text, and when.

Several workers may run; one plans at a time: each tick (at least once a minute) a
worker takes or renews the planner's lease in Redis (SET NX PX with its token, renewed
while it holds it); the others only send. Planning is also idempotent on its own (every
text is claimed once per customer, campaign and year in sending.py), so a lease lost
mid-plan costs time, never a second text.

A tick looks at every local date that is "today" somewhere on Earth (UTC-12 to UTC+14):
for each birthday campaign and each such date not planned in the last `replan_s`, it
reads the birthday index's sets for that date (29 February's too on 28 February of a
non-leap year) and the customers' records in pipelined batches: O(customers born on
those days), never a scan of everyone. Each customer's moment is `send_at` local time on
their birthday, moved into the allowed hours (`birthdays.birthday_send_moment`: the
audience's zone, else the number's, else the program's), queued with that moment as
`not_before` and the end of that local day's allowed hours as the deadline. A day missed
while every worker was down is caught up when a worker comes back, but only while it
is still inside that day's allowed hours; never a birthday text on the wrong day.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
from collections.abc import Callable

from .birthdays import MonthDay, birthday_send_moment, birthdays_on
from .campaigns import Campaign, CampaignBook
from .errors import StoreUnavailable
from .phone import mask
from .quiet_hours import LocalZones, local_dates_anywhere, zones_for
from .sending import Outbound, SendEngine
from .store import Store

log = logging.getLogger(__name__)

#: How many customers' records one pipelined read fetches.
BATCH = 1000


def birthday_occasion(year: int) -> str:
    return f"birthday:{year}"


class BirthdayPlanner:
    def __init__(
        self,
        book: CampaignBook,
        store: Store,
        engine: SendEngine,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        tick_s: float = 30.0,
        replan_s: float = 600.0,
        token: str | None = None,
    ):
        self.book = book
        self.store = store
        self.engine = engine
        self.clock = clock
        self.tick_s = tick_s
        self.replan_s = replan_s
        self.token = token or secrets.token_hex(8)
        self.campaigns = tuple(c for c in book.campaigns if c.kind == "birthday")

    def run(self, stop: threading.Event) -> None:
        if not self.campaigns:
            return
        log.info("birthday planner started (%d campaign(s))", len(self.campaigns))
        while not stop.is_set():
            try:
                self.tick()
            except StoreUnavailable as exc:
                log.warning("birthday planner: store unavailable, waiting: %s", exc)
            stop.wait(self.tick_s)

    def tick(self) -> int | None:
        """Plan if this worker holds the lease: the texts newly queued, or None when another plans."""
        # The lease outlives two ticks, so a live holder keeps it and a dead one's lapses soon.
        if not self.store.take_lease(self.token, int(self.tick_s * 2500)):
            return None
        return self.plan(self.clock())

    def plan(self, now: dt.datetime) -> int:
        queued = 0
        for campaign in self.campaigns:
            for day in local_dates_anywhere(now):
                if self.store.was_planned(campaign.slug, day):
                    continue
                started = time.perf_counter()
                planned = self.plan_day(campaign, day, now)
                self.store.mark_planned(campaign.slug, day, int(self.replan_s * 1000))
                queued += planned
                if planned:
                    log.info("birthday planner: %s, %s: %d text(s) queued in %.2fs", campaign.slug, day, planned,
                             time.perf_counter() - started)
        return queued

    def plan_day(self, campaign: Campaign, day: dt.date, now: dt.datetime) -> int:
        """Queue the birthday texts of the customers whose birthday falls on local date `day`."""
        queued = 0
        for birthday in birthdays_on(day):
            phones = self.store.born_on(str(birthday))
            for start in range(0, len(phones), BATCH):
                batch = phones[start:start + BATCH]
                outbounds = []
                for phone, record in zip(batch, self.store.audiences(batch), strict=True):
                    zones = self._zones(phone, record.timezone if record else "")
                    outbound = self._outbound(campaign, birthday, day, zones, phone, now)
                    if outbound is not None:
                        outbounds.append(outbound)
                queued += self.engine.enqueue_many(outbounds)
        return queued

    def _zones(self, phone: str, declared: str) -> LocalZones:
        try:
            return zones_for(phone, declared or None, default=self.book.program.timezone)
        except ValueError:
            log.warning("audience of %s names an unknown zone %r; using the number's", mask(phone), declared)
            return zones_for(phone, None, default=self.book.program.timezone)

    def _outbound(self, campaign: Campaign, birthday: MonthDay, day: dt.date, zones: LocalZones, phone: str,
                  now: dt.datetime) -> Outbound | None:
        hours = self.book.program.allowed_hours
        moment = birthday_send_moment(birthday, day.year, send_at=campaign.send_at, zones=zones, hours=hours, now=now)
        if moment is None or day not in zones.dates_at(moment):
            return None  # the day is over (or not allowed anywhere): never a text on the wrong day
        deadline = min(dt.datetime.combine(day, hours.end, tzinfo=zone) for zone in zones.zones).astimezone(dt.UTC)
        sender = campaign.numbers[0] if campaign.numbers else self.book.default_number()
        return Outbound(phone, campaign.slug, birthday_occasion(day.year), "outreach", sender, year=day.year,
                        not_before=moment, deadline=deadline)
