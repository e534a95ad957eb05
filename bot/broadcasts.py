"""Broadcasts: one campaign's coupon texted to an audience (`bot send`), planned first, sent by the engine.

    plan = plan_broadcast(book, store, campaign, audience, at=moment, now=now, messaging_service=False)
    plan.refusals                      # why Twilio or the carriers would refuse or drop it: then it is not sent
    record = start(store, plan)        # the record and the audience snapshot (or the unfinished one found again)
    enqueue(store, engine, record)     # one Outbound per recipient, occasion "broadcast:<id>", in batches
    progress(store, record_id)         # sent / skipped / failed from the engine's counts, the state, the ETA

The plan asks Talon.One nothing (the engine asks it when it sends each text) and reads
the store in pipelined batches: each number's opt-out, consent (`Recipient.consented`,
the engine's own rule), Twilio's undeliverable mark, its region against the program's
countries and the allowed hours at the send time in its zone (a number in quiet hours
is sent to, held by the engine until its next allowed moment: there is no deadline).

Exactly once and resumable: the record's snapshot is written whole before the record;
`enqueue` goes on from the record's cursor and every text is claimed per recipient and
occasion by the engine, so an enqueue killed midway, run again, or run from another host
at the same time queues each text once. The same `bot send` command (campaign, audience,
--at) finds its broadcast again rather than starting a second one.

`--at` gives every Outbound `not_before`: the texts wait in the engine's queue and
`bot worker` sends them from then on. A cancelled broadcast's remaining texts are skipped
by the engine at the moment of sending (sending.py reads the state there).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .audience_file import AudienceMember, AudienceReader
from .audiences import program_regions
from .campaigns import Campaign, CampaignBook
from .errors import Problem
from .form_policy import home_countries
from .quiet_hours import is_allowed, next_allowed, zones_for
from .sending import Outbound, SendEngine
from .store import BroadcastRecord, Store, broadcast_occasion

#: Numbers read from the store per pipelined round trip, and queued per `enqueue_many`.
BATCH = 1000
#: Twilio keeps a sender's queue at most this long (Validity Period's maximum); a long code's overflow fails (21611).
TWILIO_QUEUE_S = 36_000
#: No text of a running broadcast settled for this long: it is shown paused (Twilio or Talon.One unreachable).
STALLED_S = 60.0
#: Why a number of the audience is not texted, in the plan's words.
EXCLUSIONS = {
    "opted_out": "opted out",
    "unverified": "no verified consent",
    "undeliverable": "undeliverable (Twilio: not a mobile, unreachable)",
    "country": "outside the program's countries",
}
#: The engine's final counts (sending.py), grouped as the progress bar shows them.
SKIPPED = ("opted_out", "no_consent", "quiet_hours", "upstream", "cancelled")


@dataclass(frozen=True)
class Audience:
    """The numbers a broadcast is for: `label` ("all" or the file's name), `origin` what makes it the same one."""

    label: str
    origin: str
    numbers: tuple[str, ...]
    #: A file's lines refused (`FILE:LINE: phone: problem`); a broadcast with any is not sent without --skip-bad.
    problems: tuple[Problem, ...] = ()
    #: A file's numbers -> their line (for `FILE:LINE: phone: no verified consent`).
    lines: dict[str, int] = field(default_factory=dict)


@dataclass
class Plan:
    campaign: Campaign
    audience: Audience
    #: The send time (UTC); the moment of planning when it is sent now.
    at: dt.datetime
    send_rate: float
    #: Sent at a time given (--at), not now.
    scheduled: bool = False
    recipients: list[str] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    #: Recipients in quiet hours at the send time: held by the engine to their next allowed moment.
    held: int = 0
    first_allowed: dt.datetime | None = None
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    #: The audience file's lines refused (bad numbers, no verified consent), each `FILE:LINE: phone: problem`.
    refused_lines: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.recipients) / self.send_rate

    @property
    def origin(self) -> str:
        return f"{self.campaign.slug}|{self.audience.origin}|{_iso(self.at) if self.scheduled else ''}"

    def lines(self) -> Iterator[str]:
        """The plan as `bot send` prints it."""
        when = f"at {_iso(self.at)}" if self.scheduled else "now"
        yield f"broadcast of {self.campaign.slug} to {self.audience.label}, {when}"
        yield f"  audience:    {len(self.audience.numbers)} number(s)"
        yield f"  recipients:  {len(self.recipients)}"
        for reason, words in EXCLUSIONS.items():
            if self.excluded.get(reason):
                yield f"  excluded:    {self.excluded[reason]} {words}"
        if self.held:
            first = f" (the first at {_iso(self.first_allowed)})" if self.first_allowed else ""
            yield (f"  quiet hours: {self.held} in quiet hours at the send time in their zone: "
                   f"held to their next allowed moment{first}, not skipped")
        yield f"  duration:    {_duration(self.duration_s)} at send_rate {self.send_rate:g} text(s)/s"
        for warning in self.warnings:
            yield f"  warning:     {warning}"
        for refusal in self.refusals:
            yield f"  refused:     {refusal}"


def audience_all(store: Store) -> Audience:
    """Every customer the store knows (the audience records and every number that texted the program)."""
    numbers = {record.phone for record in store.every_audience()}
    numbers.update(store.texted_numbers())
    return Audience("all", "all", tuple(sorted(numbers)))


def audience_file(path: str, book: CampaignBook, now: dt.datetime) -> Audience:
    """The numbers of a CSV with a `phone` column (other columns ignored); bad lines as problems."""
    region, _ = program_regions(book.program)
    data = Path(path).read_bytes()
    reader = AudienceReader(data.splitlines(keepends=True), name=path, region=region, now=now, required=("phone",))
    numbers: dict[str, int] = {}
    problems: list[Problem] = []
    for item in reader:
        if isinstance(item, AudienceMember):
            numbers.setdefault(item.phone, reader.line)
        else:
            problems.extend(item.problems)
    digest = hashlib.sha256(data).hexdigest()[:16]
    return Audience(path, f"file:{digest}", tuple(numbers), tuple(problems), numbers)


def plan_broadcast(book: CampaignBook, store: Store, campaign: Campaign, audience: Audience, *,
                   at: dt.datetime | None, now: dt.datetime, messaging_service: bool,
                   skip_bad: bool = False) -> Plan:
    program = book.program
    plan = Plan(campaign, audience, at or now, program.send_rate, at is not None)
    countries = frozenset(program.countries)
    numbers = list(audience.numbers)
    plan.refused_lines.extend(str(problem) for problem in audience.problems)
    for start in range(0, len(numbers), BATCH):
        batch = numbers[start:start + BATCH]
        recipients = store.recipients(batch, campaign.slug, "")
        for phone, recipient, undeliverable in zip(batch, recipients, store.undeliverables(batch), strict=True):
            reason = None
            if recipient.opted_out:
                reason = "opted_out"
            elif not recipient.consented:
                reason = "unverified"
                if phone in audience.lines:
                    plan.refused_lines.append(f"{audience.label}:{audience.lines[phone]}: phone: no verified consent")
            elif undeliverable:
                reason = "undeliverable"
            elif countries and not set(home_countries([phone])) & countries:
                reason = "country"
            if reason:
                plan.excluded[reason] = plan.excluded.get(reason, 0) + 1
                continue
            plan.recipients.append(phone)
            declared = recipient.audience.timezone if recipient.audience else None
            try:
                zones = zones_for(phone, declared or None, default=program.timezone)
            except ValueError:
                zones = zones_for(phone, None, default=program.timezone)
            if not is_allowed(plan.at, zones, program.allowed_hours):
                plan.held += 1
                later = next_allowed(plan.at, zones, program.allowed_hours)
                if later is not None and (plan.first_allowed is None or later < plan.first_allowed):
                    plan.first_allowed = later
    if plan.refused_lines and not skip_bad:
        plan.refusals.append(f"{len(plan.refused_lines)} line(s) of {audience.label} refused (listed above); "
                             "nothing is sent (fix them, or --skip-bad to leave them out)")
    _limits(plan, program.daily_cap, messaging_service)
    return plan


def _limits(plan: Plan, daily_cap: int | None, messaging_service: bool) -> None:
    """Where Twilio or the carriers would refuse or drop the texts (reference: next-capabilities §1)."""
    if not plan.recipients:
        plan.refusals.append("no recipients: nobody in the audience may be texted")
    if plan.duration_s > TWILIO_QUEUE_S:
        queue = (f"{_duration(plan.duration_s)} is more than Twilio's 10-hour queue")
        if messaging_service:
            plan.warnings.append(f"{queue}: the bot paces at send_rate, but a Messaging Service fails what overflows "
                                 "its senders' queue (30001): make sure its senders carry send_rate")
        else:
            plan.refusals.append(f"{queue} for one long code (Twilio fails the overflow, 21611): set "
                                 "TWILIO_MESSAGING_SERVICE_SID with more senders, raise send_rate, or send to fewer")
    if daily_cap is not None:
        if len(plan.recipients) > daily_cap:
            plan.refusals.append(f"larger than the day allows: {len(plan.recipients)} texts, daily_cap {daily_cap} "
                                 "(T-Mobile's daily brand cap drops the rest): send to fewer, or over several days")
        elif len(plan.recipients) > daily_cap // 2:
            plan.warnings.append(f"{len(plan.recipients)} of the day's {daily_cap} (daily_cap) texts: "
                                 "birthdays and replies that day share the cap")


def start(store: Store, plan: Plan, *, now: dt.datetime, sender: str, again: bool = False) -> tuple[BroadcastRecord,
                                                                                                      bool]:
    """The broadcast of `plan`: the unfinished (or finished) one of the same command, found again, unless
    `again`; else a new record with its audience snapshot. (record, True when new)."""
    if not again:
        for record in reversed(store.broadcasts()):
            if record.origin == plan.origin and record.state != "cancelled":
                return record, False
    record = BroadcastRecord(secrets.token_hex(4), plan.campaign.slug, plan.audience.label, plan.origin,
                             len(plan.recipients), at=_iso(plan.at) if plan.scheduled else "", created=_iso(now),
                             sender=sender)
    store.create_broadcast(record, plan.recipients, int(now.timestamp() * 1000))
    return record, True


def enqueue(store: Store, engine: SendEngine, record: BroadcastRecord, *, batch: int = BATCH,
            stop_after: int | None = None) -> int:
    """Queue the broadcast's texts from its cursor on: the texts newly queued. `stop_after` batches (tests)."""
    not_before = dt.datetime.fromisoformat(record.at) if record.at else None
    occasion = broadcast_occasion(record.id)
    position, queued, batches = record.enqueued, 0, 0
    if record.state == "scheduled":
        store.update_broadcast(record.id, state="running")
    while position < record.size:
        current = store.broadcast(record.id)
        if current is None or current.state == "cancelled":
            break
        numbers = store.broadcast_recipients(record.id, position, batch)
        queued += engine.enqueue_many(Outbound(n, record.campaign, occasion, "outreach", record.sender,
                                               not_before=not_before) for n in numbers)
        position += len(numbers)
        store.update_broadcast(record.id, enqueued=position)
        batches += 1
        if stop_after is not None and batches >= stop_after:
            break
    return queued


def cancel(store: Store, broadcast_id: str) -> BroadcastRecord | None:
    record = store.broadcast(broadcast_id)
    if record is not None and record.state not in ("cancelled", "done"):
        store.update_broadcast(broadcast_id, state="cancelled")
    return store.broadcast(broadcast_id)


@dataclass(frozen=True)
class Progress:
    record: BroadcastRecord
    sent: int
    skipped: int
    failed: int
    state: str
    eta_s: float

    @property
    def settled(self) -> int:
        return self.sent + self.skipped + self.failed


def progress(store: Store, broadcast_id: str, *, now: dt.datetime, send_rate: float,
             stalled_s: float = STALLED_S) -> Progress | None:
    """A broadcast's counts and state: done when every text settled, paused when none settled for `stalled_s`."""
    record = store.broadcast(broadcast_id)
    if record is None:
        return None
    counts = store.broadcast_counts(broadcast_id)
    number = lambda name: int(counts.get(name, 0))  # noqa: E731
    sent, skipped = number("sent"), sum(number(name) for name in SKIPPED)
    failed = number("failed")
    settled = sent + skipped + failed
    state = record.state
    if state != "cancelled" and record.enqueued >= record.size and settled >= record.size:
        state = "done"
        if record.state != "done":
            store.update_broadcast(broadcast_id, state="done")
    elif state == "running" and record.at and dt.datetime.fromisoformat(record.at) > now:
        state = "scheduled"
    elif state == "running":
        last = dt.datetime.fromisoformat(counts["last"].replace("Z", "+00:00")) if "last" in counts else None
        began = dt.datetime.fromisoformat(record.at or record.created)
        since = last or began
        if (now - since).total_seconds() >= stalled_s:
            state = "paused"
    return Progress(record, sent, skipped, failed, state, max(0, record.size - settled) / send_rate)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else f"{rest // 60}m{rest % 60:02d}s"
