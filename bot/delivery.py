"""Late replies: the worker that finishes an issuance after the webhook's deadline and texts the code.

Jobs live in Redis (`Store.enqueue`/`claim`), leased rather than popped, so a
worker killed mid-job leaves the job to come due again for the next worker.
Each job asks the issuer with the same identifier as the webhook did (so a
retry cannot mint a second coupon) and texts the code at most once: a
``sending`` marker is written before Twilio's create call, ``sent`` after it,
and a job that finds a stale ``sending`` marker asks Twilio whether the text
went out before sending again.

A job the upstream gate refuses with a time (the campaign's budget: its next
slot; the breaker: its cool-down) waits that long in place and tries again,
while its own time lasts: in a burst the queue drains at the budget's rate, in
order, each job claimed once, instead of jittered backoffs that leave slots unused.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .campaigns import Campaign, CampaignBook, reply_context
from .errors import (
    DeliveryRefused,
    DeliveryUncertain,
    NoChannelAllowed,
    RecipientOptedOut,
    RecipientUndeliverable,
    UpstreamPermanent,
    UpstreamRetryable,
)
from .issuing import Issuer, issue
from .jobs import LateJob
from .outbound import SmsSender
from .phone import mask
from .store import Store
from .upstream import Backoff, UpstreamGuard
from .whatsapp import late_reply_sent, send_late_reply
from .worker_loop import serve

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerPolicy:
    #: How long a claimed job is hidden from other workers; a dead worker's job returns after it.
    lease_s: float = 60.0
    #: Time for one job's upstream call(s).
    job_budget_s: float = 20.0
    #: Give up (and apologise by text) after this many tries: with the backoff below, about an hour.
    max_attempts: int = 30
    retry_backoff: Backoff = Backoff(base_s=2.0, cap_s=300.0)
    idle_poll_s: float = 0.2


class LateDelivery:
    def __init__(
        self,
        book: CampaignBook,
        store: Store,
        issuer: Issuer,
        guard: UpstreamGuard,
        sms: SmsSender,
        policy: WorkerPolicy = WorkerPolicy(),
        before_work: Callable[[], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.book = book
        self.store = store
        self.issuer = issuer
        self.guard = guard
        self.sms = sms
        self.policy = policy
        #: Run before each job (journal.ConsentKeeper.keep: Redis holds every opt-out before a send).
        self.before_work = before_work
        #: How a job waits for the upstream's next slot (tests record the waits).
        self.sleep = sleep

    # -- the loop

    def run(self, stop: threading.Event) -> None:
        serve(f"late-delivery worker (lease {self.policy.lease_s:.0f}s)", self.run_once, stop,
              idle_poll_s=self.policy.idle_poll_s)

    def run_once(self) -> bool:
        """Handle the next due job, if any. True when one was handled."""
        if self.before_work:
            self.before_work()
        claimed = self.store.claim(int(self.policy.lease_s * 1000))
        if claimed is None:
            return False
        job_id, payload, attempt = claimed
        try:
            job = LateJob.from_json(payload)
        except (TypeError, ValueError):
            log.error("late-delivery job %s is unreadable; dropped", job_id)
            self.store.complete(job_id)
            return True
        if self._deliver(job, attempt):
            self.store.complete(job_id)
        return True

    # -- one job

    def _deliver(self, job: LateJob, attempt: int) -> bool:
        """True when the job is finished (delivered, or given up for good)."""
        campaign = self.book.by_slug(job.slug)
        if campaign is None:
            log.error("late delivery for unknown campaign %r dropped", job.slug)
            return True
        if self.store.is_opted_out(job.sender):
            log.info("late delivery to %s dropped: opted out", mask(job.sender))
            return True
        if self.store.undeliverable(job.sender):
            log.info("late delivery to %s dropped: Twilio reported the number unreachable", mask(job.sender))
            return True
        context = reply_context(campaign, self.book.program)
        code = self.store.cached_code(job.sender, job.slug)
        if code is None:
            try:
                code = self._issue(campaign, job.sender)
            except UpstreamRetryable as exc:
                if attempt >= self.policy.max_attempts:
                    log.error("late delivery for %s gave up after %d tries: %s", job.slug, attempt, exc)
                    return self._send_once(job, self.book.program.text("error_reply"))
                # The gate said when: come due exactly then; an upstream failure backs off.
                delay = exc.retry_in if exc.retry_in is not None else self.policy.retry_backoff.delay(attempt)
                log.warning("late delivery for %s: %s; retry %d in %.1fs", job.slug, exc, attempt, delay)
                self.store.retry_later(job.id, int(delay * 1000))
                return False
            except UpstreamPermanent as exc:
                log.error("late delivery for %s failed for good: %s", job.slug, exc)
                return self._send_once(job, self.book.program.text("error_reply"))
            self.store.cache_code(job.sender, job.slug, code)
        return self._send_once(job, campaign.reply.render(**context, code=code))

    def _issue(self, campaign: Campaign, sender: str) -> str:
        """The code, waiting in place for each slot the gate names while the job's budget lasts."""
        deadline = time.monotonic() + self.policy.job_budget_s
        while True:
            try:
                return issue(self.issuer, self.guard, self.book.program, campaign, sender, deadline=deadline)
            except UpstreamRetryable as exc:
                if exc.retry_in is None or time.monotonic() + exc.retry_in + self.guard.min_attempt_s > deadline:
                    raise
                self.sleep(exc.retry_in)

    def _send_once(self, job: LateJob, text: str) -> bool:
        marker = self.store.mark_sending(job.sender, job.slug)
        if marker == "sent":
            return True
        if marker is not None:
            # A previous try died between "sending" and "sent": did the text go out?
            since = dt.datetime.fromisoformat(marker.removeprefix("sending:").replace("Z", "+00:00"))
            try:
                if late_reply_sent(self.sms, self.book, job, text, after=since - dt.timedelta(minutes=1)):
                    self.store.mark_sent(job.sender, job.slug)
                    return True
            except DeliveryUncertain as exc:
                log.warning("cannot reconcile the late text to %s yet: %s", mask(job.sender), exc)
                return False
        try:
            send_late_reply(self.sms, self.store, self.book, job, text)  # the channel: whatsapp.py
        except RecipientOptedOut:
            self.store.record_opt_out(job.sender, "21610")
            self.store.mark_sent(job.sender, job.slug)  # final: never try again
            return True
        except (NoChannelAllowed, RecipientUndeliverable) as exc:  # never asked of Twilio
            log.warning("late text to %s: %s", mask(job.sender), exc)
            self.store.mark_sent(job.sender, job.slug)
            return True
        except DeliveryRefused as exc:
            log.error("late text to %s refused by Twilio: %s", mask(job.sender), exc)
            self.store.mark_sent(job.sender, job.slug)
            return True
        except DeliveryUncertain as exc:
            # Maybe sent: leave the "sending" marker; the next try reconciles before resending.
            log.warning("late text to %s uncertain: %s", mask(job.sender), exc)
            self.store.retry_later(job.id, int(self.policy.lease_s * 1000))
            return False
        self.store.mark_sent(job.sender, job.slug)
        log.info("late code for %s texted to %s", job.slug, mask(job.sender))
        return True


def start_in_thread(delivery: LateDelivery) -> threading.Event:
    """Run a worker inside this process (the embedded store is not shared with other processes)."""
    stop = threading.Event()
    threading.Thread(target=delivery.run, args=(stop,), name="late-delivery", daemon=True).start()
    return stop
