"""The send engine: every text the bot sends on its own (birthdays, broadcasts, competition winners).

API, for every outbound path:

    outbound = Outbound(recipient="+15551234567", campaign="bday", occasion="birthday:2026",
                        purpose="outreach", sender="+15005550006", year=2026,
                        not_before=<aware moment>, deadline=<aware moment>)
    engine.enqueue(outbound)      # True the first time; the same (recipient, campaign, occasion) again: no-op
    engine.enqueue_many([...])    # the same, pipelined (the planner's batches)
    engine.run_once()             # a worker's step: lease one due job and see it through
    engine.run(stop)              # `bot worker`'s loop

An `Outbound`'s body is the campaign's coupon (issued through issuing.py with the
campaign's identifier, `year` filling a birthday's "{phone}:{year}") rendered into its
`reply` (or the campaign template `template` names, e.g. "winner_reply", with `values`
beside the code, e.g. the entry's number), or a fixed `text`. `purpose` says which rules
it keeps:

- "outreach" (birthdays, broadcasts, winners): verified consent (`Recipient.consented`: a
  number that texted the program itself since its last opt-out, or an imported audience's),
  quiet hours in the recipient's zone (held until the next allowed moment while that is
  before `deadline`, else skipped and counted), the program's `send_rate`;
- "answer" (a late code, a landing-form text: the customer asked): goes out at once, whatever
  the hour, but still never to a number that opted out;
- "notice" (a competition's winners and consolation texts: the entry is the consent, and a
  landing-form entrant, the free alternative method of entry, unverified, must be told as a
  texter is or the draw is unfair): quiet hours and the send rate as for outreach, the opt-out
  and the undeliverable mark refuse it, no consent check beyond the entry.

Exactly once. `enqueue` claims (recipient, campaign, occasion) in Redis under the
recipient's hash tag, then queues a leased job ("outbound" queue, apart from the late
replies'). The claim moves through states, each step only from the state expected
(store/outreach.py), and never out of a final one:

    queued -> issuing:<token> -> sending:<iso>:<token> -> sent:<sid>
                                                       \\-> skipped:<why> | failed:<Twilio code>

"issuing" is written before Talon.One is asked (a retry asks again with the same
identifier, so it retrieves the same coupon) and "sending" before Twilio's create call. A
worker that dies leaves its job to come due again after the lease; the next worker finding
"sending" asks Twilio's message list whether the text went out (once the send it may be
racing has surely timed out) and sends only if it did not: never twice. Twilio's 21610
records the opt-out; any other refusal is recorded on the claim (failed:<code>) and never
retried blindly. Talon.One failing is retried with backoff, then skipped with a log line
and a count. At the moment of sending the opt-out, consent and the hour are read again,
so a STOP between planning and sending is honoured, and so is a cancelled broadcast (bot/broadcasts.py).

The clock (`clock=`) is injected: quiet hours, deadlines and holds follow it; the lease,
the queue's due times and the send rate run on Redis's clock, shared by every worker.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from .campaigns import CampaignBook, reply_context
from .delivery import WorkerPolicy
from .errors import (
    DeliveryRefused,
    DeliveryUncertain,
    RecipientOptedOut,
    RecipientUndeliverable,
    UpstreamPermanent,
    UpstreamRetryable,
)
from .issuing import Issuer, issue
from .outbound import SmsSender
from .phone import mask
from .quiet_hours import is_allowed, next_allowed, zones_for
from .store import AudienceRecord, Store, is_final
from .upstream import UpstreamGuard
from .worker_loop import serve

log = logging.getLogger(__name__)

QUEUE = "outbound"
Purpose = Literal["outreach", "answer", "notice"]
#: The purposes held to the recipient's allowed hours.
KEEPS_QUIET_HOURS = ("outreach", "notice")


@dataclass(frozen=True)
class Outbound:
    """One text to send once: to `recipient`, for `campaign`, on `occasion`."""

    recipient: str
    campaign: str
    #: With recipient and campaign, the exactly-once key: "birthday:2026", "broadcast:<id>", "winner:<draw>".
    occasion: str
    purpose: Purpose
    #: The program's number it is sent from (a Messaging Service, when configured, replaces it).
    sender: str
    #: A fixed body; None: the campaign's coupon rendered into its reply.
    text: str | None = None
    #: Fills the campaign identifier's {year} (birthdays).
    year: int | None = None
    not_before: dt.datetime | None = None
    #: After it the text is dropped, counted as skipped for quiet hours (a birthday: the day's allowed end).
    deadline: dt.datetime | None = None
    #: The campaign's template the coupon is rendered into: "reply", "winner_reply", "consolation_reply".
    template: str = "reply"
    #: What the template gets beside the code and the campaign's own values (a competition's "entry").
    values: dict[str, str | int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.campaign}|{self.recipient}|{self.occasion}"

    def to_json(self) -> str:
        values = dataclasses.asdict(self)
        for name in ("not_before", "deadline"):
            if values[name] is not None:
                values[name] = values[name].isoformat()
        return json.dumps(values)

    @classmethod
    def from_json(cls, payload: str) -> Outbound:
        values = json.loads(payload)
        for name in ("not_before", "deadline"):
            if values.get(name):
                values[name] = dt.datetime.fromisoformat(values[name])
        return cls(**values)


@dataclass(frozen=True)
class SendPolicy(WorkerPolicy):
    """The late-delivery worker's lease, budget and retries (after `max_attempts` Talon.One failures,
    about an hour, the text is skipped), and the engine's own timings."""

    #: A "sending" marker younger than this may belong to a live send: wait before reconciling.
    #: Longer than Twilio's HTTP timeout, so the send it could race has surely ended.
    reconcile_after_s: float = 25.0
    #: A held job (quiet hours, not_before) is looked at again after at most this long.
    max_hold_s: float = 3600.0


class SendEngine:
    def __init__(
        self,
        book: CampaignBook,
        store: Store,
        issuer: Issuer,
        guard: UpstreamGuard,
        sms: SmsSender,
        policy: SendPolicy = SendPolicy(),
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        messaging_service_sid: str | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ):
        self.book = book
        self.store = store
        self.issuer = issuer
        self.guard = guard
        self.sms = sms
        self.policy = policy
        self.clock = clock
        self.messaging_service_sid = messaging_service_sid
        self.sleep = sleep

    # -- queueing

    def enqueue(self, outbound: Outbound) -> bool:
        """Claim and queue `outbound` once: False when its (recipient, campaign, occasion) is already claimed."""
        return self.enqueue_many([outbound]) == 1

    def enqueue_many(self, outbounds: Iterable[Outbound]) -> int:
        """`enqueue` for many, pipelined; the number newly claimed. A claim still 'queued' is queued
        again (a no-op while its job waits), so a crash between claim and queue loses nothing."""
        outbounds = list(outbounds)
        if not outbounds:
            return 0
        states = self.store.claim_outbounds([(o.recipient, o.campaign, o.occasion) for o in outbounds])
        now = self.clock()
        jobs = []
        claimed: dict[str, int] = {}
        for outbound, (new, state) in zip(outbounds, states, strict=True):
            if new:
                claimed[outbound.campaign] = claimed.get(outbound.campaign, 0) + 1
            if new or state == "queued":
                jobs.append((outbound.id, outbound.to_json(), self._hold_ms(outbound.not_before, now)))
        self.store.enqueue_many(jobs, queue=QUEUE)
        for slug, n in claimed.items():
            self.store.count_outreach(slug, {"planned": n})
        return sum(claimed.values())

    def queued(self) -> int:
        return self.store.queued(queue=QUEUE)

    # -- the loop

    def run(self, stop: threading.Event) -> None:
        serve(f"send engine (lease {self.policy.lease_s:.0f}s, {self.book.program.send_rate:g} texts/s)",
              self.run_once, stop, idle_poll_s=self.policy.idle_poll_s)

    def run_once(self) -> bool:
        """See the next due job through, if any. True when one was looked at."""
        claimed = self.store.claim(int(self.policy.lease_s * 1000), queue=QUEUE)
        if claimed is None:
            return False
        job_id, payload, attempt = claimed
        try:
            outbound = Outbound.from_json(payload)
        except (TypeError, ValueError, KeyError):
            log.error("outbound job %s is unreadable; dropped", job_id)
            self.store.complete(job_id, queue=QUEUE)
            return True
        if self._handle(outbound, attempt):
            self.store.complete(job_id, queue=QUEUE)
        return True

    # -- one job: True when it is finished for good

    def _handle(self, out: Outbound, attempt: int) -> bool:
        recipient = self.store.recipient(out.recipient, out.campaign, out.occasion)
        state = recipient.state
        if state is None or is_final(state):
            return True  # decided already (or the claim expired: nothing to send)
        if recipient.opted_out:
            return self._final(out, "skipped:opted_out", "opted_out")
        if out.purpose == "outreach" and not recipient.consented:
            return self._final(out, "skipped:no_consent", "no_consent")
        if state.startswith("sending:"):
            settled = self._reconcile(out, state)
            if settled is not None:
                return settled
            state = "queued"
        if self.store.broadcast_cancelled(out.occasion):  # after the reconcile: a text that went out is "sent"
            return self._final(out, "skipped:cancelled", "cancelled")
        if out.purpose in KEEPS_QUIET_HOURS:
            waited = self._wait_for_hours(out, recipient.audience)
            if waited is not None:
                return waited
        self._pace()
        token = secrets.token_hex(6)
        moved, _ = self.store.outbound_step(out.recipient, out.campaign, out.occasion, expected=state,
                                            new=f"issuing:{token}")
        if not moved:
            return False  # another worker took it over: its lease, its job
        body = self._body(out, attempt)
        if body is None:  # skipped (finished), or to be retried later
            return is_final(self.store.outbound_state(out.recipient, out.campaign, out.occasion))
        sending = f"sending:{_iso(self.clock())}:{token}"
        moved, _ = self.store.outbound_step(out.recipient, out.campaign, out.occasion,
                                            expected=f"issuing:{token}", new=sending)
        if not moved:
            return False
        return self._send(out, body)

    def _final(self, out: Outbound, state: str, count: str, level: int = logging.INFO, why: str = "") -> bool:
        moved, _ = self.store.outbound_step(out.recipient, out.campaign, out.occasion, expected="", new=state)
        if moved:
            self.store.count_outreach(out.campaign, {count: 1})
            self.store.count_broadcast(out.occasion, count)
            log.log(level, "%s text to %s: %s%s", out.campaign, mask(out.recipient), state, why)
        return True

    def _hold_ms(self, until: dt.datetime | None, now: dt.datetime) -> int:
        if until is None or until <= now:
            return 0
        return int(min((until - now).total_seconds(), self.policy.max_hold_s) * 1000)

    def _hold(self, out: Outbound, until: dt.datetime) -> bool:
        self.store.retry_later(out.id, self._hold_ms(until, self.clock()), queue=QUEUE)
        return False

    def _wait_for_hours(self, out: Outbound, audience: AudienceRecord | None) -> bool | None:
        """Hold or skip an outreach text outside its time; None when it may go now."""
        now = self.clock()
        program = self.book.program
        if out.deadline is not None and now >= out.deadline:
            return self._final(out, "skipped:quiet_hours", "quiet_hours", why=" (its day's allowed hours are over)")
        if out.not_before is not None and now < out.not_before:
            return self._hold(out, out.not_before)
        try:
            zones = zones_for(out.recipient, audience.timezone if audience else None, default=program.timezone)
        except ValueError:
            zones = zones_for(out.recipient, None, default=program.timezone)
        if is_allowed(now, zones, program.allowed_hours):
            return None
        later = next_allowed(now, zones, program.allowed_hours)
        if later is None or (out.deadline is not None and later >= out.deadline):
            return self._final(out, "skipped:quiet_hours", "quiet_hours", why=" (none allowed before the deadline)")
        log.info("%s text to %s held until %s (quiet hours)", out.campaign, mask(out.recipient), _iso(later))
        return self._hold(out, later)

    def _pace(self) -> None:
        """Wait for this text's place in the program's send rate (shared by every worker, on Redis's clock)."""
        interval_ms = max(1, round(1000 / self.book.program.send_rate))
        while (wait_ms := self.store.pace(interval_ms)) > 0:
            self.sleep(wait_ms / 1000)

    def _body(self, out: Outbound, attempt: int) -> str | None:
        """The text to send; None when the job is to wait (retry later) or was skipped."""
        if out.text is not None:
            return out.text
        campaign = self.book.by_slug(out.campaign)
        template = getattr(campaign, out.template, None) if campaign is not None else None
        if template is None:
            self._final(out, "skipped:unknown_campaign" if campaign is None else f"skipped:no_{out.template}",
                        "failed", logging.ERROR)
            return None
        code_slug = f"{out.campaign}:{out.occasion}"
        code = self.store.cached_code(out.recipient, code_slug)
        if code is None:
            try:
                code = issue(self.issuer, self.guard, self.book.program, campaign, out.recipient,
                             deadline=time.monotonic() + self.policy.job_budget_s, year=out.year)
            except UpstreamRetryable as exc:
                # A wait Talon.One's gate names (the breaker open, the campaign's budget spent) is not this
                # text's failure: it waits as long as it is told, bounded by its deadline; failures back off.
                told = exc.retry_in is not None
                delay = exc.retry_in if told else self.policy.retry_backoff.delay(attempt)
                too_late = out.deadline is not None and self.clock() + dt.timedelta(seconds=delay) >= out.deadline
                if (attempt >= self.policy.max_attempts and not told) or too_late:
                    self._final(out, "skipped:upstream", "upstream", logging.ERROR,
                                f" (Talon.One failed {attempt} time(s): {exc}; skipped for the day)")
                    return None
                log.warning("%s coupon for %s: %s; retry %d in %.1fs", out.campaign, mask(out.recipient), exc,
                            attempt, delay)
                self.store.retry_later(out.id, int(delay * 1000), queue=QUEUE)
                return None
            except UpstreamPermanent as exc:
                self._final(out, "skipped:upstream", "upstream", logging.ERROR, f" (Talon.One refused: {exc})")
                return None
            self.store.cache_code(out.recipient, code_slug, code)
        return template.render(**reply_context(campaign, self.book.program, **out.values, code=code))

    def _reconcile(self, out: Outbound, state: str) -> bool | None:
        """A "sending" marker left behind: True when the text went out (now recorded), False to wait,
        None when it surely did not go out and may be sent."""
        since = dt.datetime.fromisoformat(state.split(":", 1)[1].rsplit(":", 1)[0])
        age = (self.clock() - since).total_seconds()
        if age < self.policy.reconcile_after_s:
            self.store.retry_later(out.id, int((self.policy.reconcile_after_s - age) * 1000) + 1, queue=QUEUE)
            return False
        body = self._body(out, attempt=1)
        if body is None:
            return False
        try:
            went = self.sms.was_sent(to=out.recipient, from_=None if self.messaging_service_sid else out.sender,
                                     body=body, after=since - dt.timedelta(minutes=1),
                                     campaign=out.campaign, occasion=out.occasion)
        except DeliveryUncertain as exc:
            log.warning("cannot reconcile the %s text to %s yet: %s", out.campaign, mask(out.recipient), exc)
            self.store.retry_later(out.id, int(self.policy.reconcile_after_s * 1000), queue=QUEUE)
            return False
        if went:
            return self._final(out, "sent:reconciled", "sent")
        self.store.outbound_step(out.recipient, out.campaign, out.occasion, expected=state, new="queued")
        return None

    def _send(self, out: Outbound, body: str) -> bool:
        try:
            sid = self.sms.send(to=out.recipient, from_=out.sender, body=body, campaign=out.campaign,
                                occasion=out.occasion, messaging_service_sid=self.messaging_service_sid)
        except RecipientOptedOut:
            self.store.record_opt_out(out.recipient, "21610")
            return self._final(out, "skipped:opted_out", "opted_out", why=" (Twilio 21610)")
        except RecipientUndeliverable as exc:
            return self._final(out, "skipped:undeliverable", "failed", why=f" ({exc})")
        except DeliveryRefused as exc:
            return self._final(out, f"failed:{exc.code or exc.status}", "failed", logging.ERROR, f" ({exc})")
        except DeliveryUncertain as exc:
            # Maybe sent: the "sending" marker stays; the next try reconciles before sending again.
            log.warning("%s text to %s uncertain: %s", out.campaign, mask(out.recipient), exc)
            self.store.retry_later(out.id, int(self.policy.reconcile_after_s * 1000), queue=QUEUE)
            return False
        return self._final(out, f"sent:{sid}", "sent")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")
