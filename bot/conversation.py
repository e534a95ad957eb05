"""The one place that decides what a customer's text gets, whatever channel it came by.

Channel adapters (the Twilio webhook, the QR landing form, `bot simulate`)
build an `InboundMessage`, call `Conversation.handle`, and translate the
`Reply` back (TwiML, HTML, stdout). Order of decisions:

0. keep Redis holding every journalled opt-out (journal.py's `ConsentKeeper`);
1. claim the MessageSid (a replayed delivery gets the first reply, byte for byte);
2. compliance words (STOP/START/HELP, and revocations only the bot hears, as
   bot.compliance `recognise`s them), before anything else: journalled on disk,
   then written to Redis; with Redis unreachable, journalled for replay;
3. opt-out (Redis's record, and this host's journal), then the sender's rate limit;
4. the keyword, the campaign's window, and the code: cached, or issued once
   through a single-flight lock so simultaneous texts make one upstream call;
   no keyword: "did you mean …?" when one edit from exactly one open keyword,
   else the fallback.

A repeat texter's reply is cached with its code (`CachedReply`, keyed by the
campaign's template version): `Store.begin` answers it and stores it for
replays in the same round trip, after the opt-out and the limit.

Opt-outs, opt-ins and each campaign's first serve (the opt-in source) go into
the consent log with the reply's own `Store.finish` call; a serve to a number
typed on the landing form is a `request_unverified`, not an opt-in. The first
reply a number gets carries the opt-in confirmation (program name, "Reply STOP
to opt out", HELP) unless it already says so.

Channel adapters hand over `sender` already normalised to E.164 (bot.phone).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import logging
import os
import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from .birthday_texts import BirthdayAnswer, BirthdayTexts
from .campaigns import Campaign, CampaignBook, Program, reply_context
from .competitions import entrant, entry_reply
from .compliance import Compliance, ComplianceWord, recognise
from .errors import StoreUnavailable, UpstreamError, UpstreamPermanent, UpstreamRetryable
from .issuing import Issuer, budget_of, issue, read_balance
from .jobs import LateJob
from .journal import ComplianceRecord, ConsentKeeper, Journal, replay
from .logs import log_event
from .metrics import ENTRIES, UpstreamClock, count_text, start_upstream_clock
from .phone import hash_sender, mask
from .results import Funnel
from .scans import NO_POSTER, attribute_text
from .store import CachedReply, ConsentEvent, Decision, GateCheck, Issuance, Store
from .upstream import UpstreamGuard

log = logging.getLogger(__name__)

Outcome = Literal[
    "issued", "repeat", "replayed", "limited", "unknown", "opted_out", "opt_out", "opt_in", "help",
    "not_started", "ended", "upstream_error", "busy", "in_flight", "loyalty", "near_miss", "pending",
    "birthday_saved", "birthday_asked", "entered", "entry_repeat",
]


class InboundMessage(NamedTuple):
    """One customer text, as every channel sees it (a NamedTuple, like `Reply`: built for every text,
    for half a frozen dataclass's instructions)."""

    sid: str
    sender: str
    to: str
    body: str
    channel: str = "sms"
    #: Twilio's OptOutType (Advanced Opt-Out): Twilio already answered the word.
    opt_out_type: str | None = None


class Reply(NamedTuple):
    """What to answer: `text` None means answer nothing."""

    text: str | None
    outcome: Outcome
    campaign: str | None = None
    code: str | None = None
    #: The poster the text came from ("SAVE P7"): a [[posters]] slug, "unlisted", or None.
    poster: str | None = None

    def __repr__(self) -> str:  # never the code: a repr may reach a log line
        return (f"Reply(text={self.text!r}, outcome={self.outcome!r}, campaign={self.campaign!r},"
                f" poster={self.poster!r})")


#: Kinds whose reply is their template rendered with the cached code: a repeat texter's is cached with it.
_CACHED_REPLY_KINDS = frozenset({"coupon", "referral"})
#: Outcomes whose reply is itself the compliance answer: no opt-in confirmation is added.
_COMPLIANCE_OUTCOMES = frozenset({"opt_out", "opt_in", "help", "replayed", "in_flight"})
#: Whether the number of the text being handled still needs the opt-in confirmation.
_needs_notice: ContextVar[bool] = ContextVar("needs_notice", default=False)


#: Lock tokens (`lock_token`): a random prefix per process and a counter (itertools.count is thread-safe).
_token_prefix = secrets.token_hex(6)
_token_numbers = itertools.count()


def lock_token() -> str:
    """A token for the single-flight issuance lock, one per keyword text.

    It only has to differ from every other holder's (the lock is released by
    compare-and-delete), not be unguessable: no call to the OS's random source
    per text. A forked child (a gunicorn worker) draws its own prefix.
    """
    return f"{_token_prefix}-{next(_token_numbers)}"


def _new_token_prefix() -> None:
    global _token_prefix
    _token_prefix = secrets.token_hex(6)


os.register_at_fork(after_in_child=_new_token_prefix)


@dataclass(frozen=True)
class Timing:
    """The webhook's deadline budget, and how often a waiting text looks for another's code."""

    #: Twilio waits 15 s in all, TCP connect included; answer well before.
    budget_s: float = 8.0
    poll_s: float = 0.05

    @property
    def lock_ttl_ms(self) -> int:
        # Outlives the holder's whole budget so a waiter never takes over a live call.
        return int(self.budget_s * 1000) + 2000


class _Prepared(NamedTuple):
    """What `begin` is given for every text of one campaign object (`Conversation._prepared`)."""

    #: The reply's template version (`reply_version`), for the cached reply.
    reply_version: str
    #: The upstream gate of a first code's call, passed in begin's round trip (None on a cluster).
    gate: GateCheck | None


class Conversation:
    def __init__(
        self,
        book: CampaignBook,
        store: Store,
        issuer: Issuer,
        *,
        secret: str = "",
        timing: Timing = Timing(),
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        guard: UpstreamGuard | None = None,
        late_delivery: bool = False,
        funnel: Funnel | None = None,
        journal: Journal | None = None,
    ):
        self.book = book
        self.store = store
        self.issuer = issuer
        self.secret = secret
        self.timing = timing
        self.clock = clock
        self.guard = guard or UpstreamGuard(store)
        #: Whether a code that misses the deadline can be texted later (Twilio REST + worker).
        self.late_delivery = late_delivery
        #: The results page's counts (results.py): one per handled text, written off the reply's path.
        self.funnel = funnel or Funnel(store)
        #: kind = "birthday" campaigns: BDAY texts and the answers to their question (birthday_texts.py).
        self.birthdays = BirthdayTexts(book, store, clock)
        #: This host's STOP journal; None only where nothing is kept (`bot simulate`).
        self.journal = journal
        retention = book.program.consent_retention_days
        self.keeper = ConsentKeeper(journal, store, retention) if journal else None
        #: slug -> (campaign, program, what begin is given for it), computed once per campaign object.
        self._prepared_for: dict[str, tuple[Campaign, Program, _Prepared]] = {}

    # -- entry point

    def handle(self, message: InboundMessage) -> Reply:
        started = time.perf_counter()
        upstream = start_upstream_clock()
        now = self.clock()  # the text's arrival: its window, its consent cutoff, its hour in the funnel
        try:
            reply = self._handle(message, now)
        except Exception:
            # Nothing was answered: free the claim so Twilio's retry can run, and
            # still give the customer a polite answer rather than an HTTP 500.
            log.exception("handling %s from %s failed", message.sid, mask(message.sender))
            try:
                self.store.release(message.sid, message.sender)
            except StoreUnavailable:
                pass
            reply = Reply(self.book.program.text("error_reply"), "upstream_error")
        self._log(message, reply, time.perf_counter() - started, upstream, now)
        return reply

    def _handle(self, message: InboundMessage, now: dt.datetime) -> Reply:
        deadline = time.monotonic() + self.timing.budget_s
        _needs_notice.set(False)
        heard = recognise(message.body, message.opt_out_type)
        arrived_us = self.journal.arrival() if heard and self.journal else 0  # Twilio's order, at arrival
        word = heard.word if heard else None
        if self.keeper:
            self.keeper.keep()
        match = None if word else self.book.match(message.body, message.to)
        campaign = match.target if match else None
        window = campaign.window(now) if campaign else None
        program = self.book.program
        # Coupons and referral codes are cached per sender and issued once under
        # a lock taken in the same round trip (with the upstream gate for the call,
        # on one Redis node); a balance is read fresh.
        issuance = gate = None
        if campaign and window == "open" and campaign.kind not in ("loyalty", "birthday"):
            issuance = Issuance(campaign.slug, lock_token(), self.timing.lock_ttl_ms,
                                *self._cached_reply_args(message, campaign, now))
            if campaign.kind != "competition":  # an entry is recorded before its call, and may end there
                gate = self._prepared(campaign).gate
        limit = None if word else (campaign and campaign.sender_limit) or program.sender_limit
        journalled_stop = self._journalled_stop(message.sender) if word is None else None

        def begin() -> Decision:
            return self.store.begin(
                message.sid,
                message.sender,
                check_optout=word is None,
                limit=limit,
                limit_scope=campaign.slug if campaign and campaign.sender_limit else None,
                issuance=issuance,
                journalled_stop_us=journalled_stop.arrived_us if journalled_stop else 0,
                gate=gate,
            )

        try:
            decision = begin()
            if decision.status == "journal_ahead":  # Redis lost a STOP this host heard: write it, then decide
                replay(self.store, journalled_stop, self.book.program.consent_retention_days)
                decision = begin()
                if decision.status == "journal_ahead":  # Redis would not take it: this host's journal decides
                    log.error("%s from %s: Redis does not hold the STOP journalled here; nothing sent",
                              message.sid, mask(message.sender))
                    return Reply(None, "opted_out")
            if message.channel == "whatsapp":  # WhatsApp's 24-hour window (whatsapp.py): one more round trip
                self.store.open_whatsapp_window(message.sender, now)
        except StoreUnavailable as exc:
            if self.keeper:
                self.keeper.store_failed()
            return self._without_store(message, heard, campaign, exc, arrived_us)

        _needs_notice.set(not decision.noticed)
        if decision.status == "replay":
            if decision.opted_out and word is None:
                return Reply(None, "replayed")  # a retried keyword from before a STOP: nothing now
            return Reply(decision.reply or None, "replayed")
        if decision.status == "in_flight":
            return self._await_first_delivery(message)
        if decision.status == "opted_out":
            return self._finish(message, Reply(None, "opted_out"))
        if decision.status == "limited":
            text = self.book.program.text("limited_reply") if decision.notice else None
            return self._finish(message, Reply(text, "limited", campaign.slug if campaign else None))

        if heard is not None:
            return self._compliance(message, heard, decision.opted_out, arrived_us)
        if campaign is None:
            answer = self.birthdays.answer(message.sender, message.body, message.channel) if decision.asking else None
            return self._birthday(message, answer) if answer else self._unknown(message)
        if campaign.kind == "birthday" and window == "open":
            answer = self.birthdays.keyword(message.sender, message.body, message.channel, campaign)
            return self._birthday(message, answer)
        if campaign.kind == "competition":
            return self._enter(message, campaign, decision, issuance, deadline, match.rest)
        # A poster's reference after the keyword is recorded; it never changes the answer.
        poster = attribute_text(self.book, campaign, match.rest)
        if decision.status == "served":  # begin answered and stored it: nothing left to write
            return Reply(decision.reply, "repeat", campaign.slug, decision.code, poster)
        reply = self._campaign(message, campaign, window, decision, issuance, deadline)
        return reply._replace(poster=poster) if poster else reply

    # -- compliance words

    def _compliance(self, message: InboundMessage, heard: Compliance, opted_out: bool, arrived_us: int) -> Reply:
        word = heard.word
        raw = message.body.strip()[:32] or (message.opt_out_type or "")
        if word is ComplianceWord.HELP:
            return self._finish(message, Reply(None if message.opt_out_type else self.book.program.help, "help"))
        reply = self._compliance_reply(message, heard, already_out=opted_out)
        state = "out" if word is ComplianceWord.STOP else "in"
        self._journal(message, state, raw, reply, arrived_us, pending=False)
        return self._finish(message, reply, optout=state, word=raw, arrived_us=arrived_us,
                            **self._consent(message, reply.outcome, raw))

    def _compliance_reply(self, message: InboundMessage, heard: Compliance, *, already_out: bool) -> Reply:
        """The one confirmation, when the bot is the one to send it.

        With OptOutType, Twilio (Advanced Opt-Out) has already sent it. For
        Twilio's own single words its default handling answers on long codes
        (and the carrier on toll-free): the program says who confirms. A phrase
        only the bot heard ("stop texting me") nobody else confirmed: the bot
        does. Never twice: a STOP from a number already out gets nothing.
        """
        answered_by_twilio = bool(message.opt_out_type)
        program = self.book.program
        confirm = not answered_by_twilio and (not heard.twilio_matched or program.confirms_opt_out(message.to))
        if heard.word is ComplianceWord.STOP:
            return Reply(program.text("opt_out_reply") if confirm and not already_out else None, "opt_out")
        return Reply(program.text("opt_in_reply") if confirm else None, "opt_in")

    def _journal(self, message: InboundMessage, state: str, word: str, reply: Reply, arrived_us: int, *,
                 pending: bool) -> bool:
        """Write the compliance word to this host's journal first: False when its MessageSid is there already."""
        if self.journal is None:
            return True
        record = ComplianceRecord(arrived_us, message.sid, message.sender, state, word,  # type: ignore[arg-type]
                                  message.channel, reply.text or "")
        return self.journal.record(record, pending=pending)

    def _journalled_stop(self, sender: str) -> ComplianceRecord | None:
        """The STOP this host journalled as the number's latest event, if any. `begin` checks that Redis
        holds it (or a newer event: a START from another host still wins) in its own round trip, and
        says `journal_ahead` when Redis lost it."""
        latest = self.journal.latest(sender) if self.journal else None
        return latest if latest is not None and latest.state == "out" else None

    def _consent(self, message: InboundMessage, event: str, word: str, campaign: str = "") -> dict[str, Any]:
        """`Store.finish` arguments that add one event to the sender's consent log."""
        record = ConsentEvent(event, self.clock(), word, campaign, message.channel)  # type: ignore[arg-type]
        return {"consent": record, "consent_retention_days": self.book.program.consent_retention_days}

    def _served(self, message: InboundMessage, campaign: Campaign) -> dict[str, Any]:
        """The opt-in source: kept the first time this number is served this campaign. A number typed
        on the landing form is only a request: anyone can type anyone's number; the phone texting
        the program itself is what verifies it (Store.has_verified_consent)."""
        event = "request_unverified" if message.channel == "web" else "opt_in_source"
        return self._consent(message, event, message.body.strip()[:32], campaign.slug)

    def _birthday(self, message: InboundMessage, answer: BirthdayAnswer) -> Reply:
        reply = Reply(answer.text, answer.outcome, answer.campaign)  # type: ignore[arg-type]
        return self._finish(message, reply, **answer.finish_args)

    def _cached_reply_args(self, message: InboundMessage, campaign: Campaign, now: dt.datetime) -> tuple[str, int]:
        """Issuance's `reply_version` and `served_since_ms`, which let `begin` answer from the cached reply;
        none where finish would write more than the replay record every time (a landing-form serve is a
        consent event each time)."""
        if campaign.kind not in _CACHED_REPLY_KINDS or message.channel == "web":
            return "", 0
        retention_ms = self.book.program.consent_retention_days * 24 * 3600 * 1000
        return self._prepared(campaign).reply_version, int(now.timestamp() * 1000) - retention_ms

    def _prepared(self, campaign: Campaign) -> _Prepared:
        """What `begin` is given for every text of `campaign`, computed once per campaign object (a
        reloaded book brings new ones)."""
        program = self.book.program
        known = self._prepared_for.get(campaign.slug)
        if known and known[0] is campaign and known[1] is program:
            return known[2]
        # The gate is passed at once: within the webhook's budget, the call follows begin.
        gate = self.guard.check(campaign.slug, budget_of(program, campaign), within_s=self.timing.budget_s)
        prepared = _Prepared(reply_version(campaign, program), gate)
        self._prepared_for[campaign.slug] = (campaign, program, prepared)
        return prepared

    def _cached(self, campaign: Campaign, code: str, text: str) -> dict[str, Any]:
        """`Store.finish` arguments that keep `text` (the reply for `code`) for the campaign's repeat texts."""
        if campaign.kind not in _CACHED_REPLY_KINDS:
            return {}
        return {"slug": campaign.slug, "cached_reply": CachedReply(self._prepared(campaign).reply_version, code, text)}

    # -- no keyword

    def _unknown(self, message: InboundMessage) -> Reply:
        """A typo of one open keyword gets "did you mean …?" (never a coupon); anything else the fallback."""
        near = self.book.near_miss(message.body, message.to, self.clock())
        if near is None:
            return self._finish(message, Reply(self.book.program.fallback, "unknown"))
        campaign, keyword = near
        text = self.book.program.text("near_miss_reply", keyword=keyword)
        return self._finish(message, Reply(text, "near_miss", campaign.slug))

    # -- campaigns

    def _campaign(
        self,
        message: InboundMessage,
        campaign: Campaign,
        window: str,
        decision: Decision,
        issuance: Issuance | None,
        deadline: float,
    ) -> Reply:
        context = reply_context(campaign, self.book.program)
        if window != "open":
            template = campaign.not_started_reply if window == "not_started" else campaign.ended_reply
            return self._finish(message, Reply(template.render(**context), window, campaign.slug))
        if decision.code:
            text = campaign.reply.render(**context, code=decision.code)
            return self._finish(
                message, Reply(text, "repeat", campaign.slug, decision.code), **self._served(message, campaign),
                **self._cached(campaign, decision.code, text),
            )
        if decision.status == "wait":
            # Another text from this sender is asking Talon.One right now: wait for its code.
            code = self._poll(lambda: self.store.cached_code(message.sender, campaign.slug), deadline)
            if code is None:
                return self._finish(message, Reply(self.book.program.text("busy_reply"), "busy", campaign.slug))
            text = campaign.reply.render(**context, code=code)
            return self._finish(message, Reply(text, "repeat", campaign.slug, code), **self._served(message, campaign),
                                **self._cached(campaign, code, text))

        token = issuance.lock_token if issuance else None
        program = self.book.program
        try:
            if campaign.kind == "loyalty":
                balance = read_balance(self.issuer, self.guard, program, campaign, message.sender, deadline=deadline)
                text = campaign.reply.render(
                    **context, balance=_points(balance.balance), tier=balance.tier,
                    points_to_next_tier=_points(balance.points_to_next_tier),
                )
                return self._finish(
                    message, Reply(text, "loyalty", campaign.slug), **self._served(message, campaign)
                )
            code = issue(self.issuer, self.guard, program, campaign, message.sender, deadline=deadline,
                         gated=decision.gate)
        except UpstreamError as exc:
            if token:
                self.store.unlock(message.sender, campaign.slug, token)
            if isinstance(exc, UpstreamRetryable) and campaign.kind != "loyalty" and self.late_delivery:
                return self._defer(message, campaign, exc)
            return self._upstream_failed(message, campaign, exc)
        except BaseException:
            if token:
                self.store.unlock(message.sender, campaign.slug, token)
            raise
        text = campaign.reply.render(**context, code=code)
        return self._finish(
            message, Reply(text, "issued", campaign.slug, code), code=code, lock_token=token,
            **self._served(message, campaign), **self._cached(campaign, code, text),
        )

    def _defer(self, message: InboundMessage, campaign: Campaign, exc: UpstreamRetryable) -> Reply:
        """Out of time (or the breaker/budget says wait): answer now, text the code later, once."""
        job = LateJob(slug=campaign.slug, sender=message.sender, to=message.to, sid=message.sid,
                      channel=message.channel)
        try:
            self.store.enqueue(job.id, job.to_json(), delay_ms=int((exc.retry_in or 0) * 1000))
        except StoreUnavailable as store_exc:
            log.error("late delivery for %s not queued: %s", campaign.slug, store_exc)
            return self._upstream_failed(message, campaign, exc)
        log.warning("campaign %s: %s; the code will be texted later", campaign.slug, exc)
        return self._finish(message, Reply(self.book.program.text("pending_reply"), "pending", campaign.slug))

    def _upstream_failed(self, message: InboundMessage, campaign: Campaign, exc: UpstreamError) -> Reply:
        level = logging.ERROR if isinstance(exc, UpstreamPermanent) else logging.WARNING
        log.log(level, "campaign %s: %s", campaign.slug, exc)
        return self._finish(message, Reply(self.book.program.text("error_reply"), "upstream_error", campaign.slug))

    # -- competitions (competitions.py)

    def _enter(self, message: InboundMessage, campaign: Campaign, decision: Decision, issuance: Issuance | None,
               deadline: float, rest: tuple[str, ...]) -> Reply:
        """A competition entry: recorded on Redis's clock (the window, once per person), then its coupon.

        The entry counts from the moment it is recorded: when Talon.One fails after it, the
        entrant is told so, and texting again gives the same entry (and then its code)."""
        poster = attribute_text(self.book, campaign, rest)
        token = issuance.lock_token if issuance and decision.status == "issue" else None
        e164, channel = entrant(message.sender, message.channel)
        if e164 is None:  # only a person's number enters
            if token:
                self.store.unlock(message.sender, campaign.slug, token)
            return self._finish(message, Reply(self.book.program.fallback, "unknown", campaign.slug, poster=poster))
        assert campaign.starts_at and campaign.ends_at  # the loader requires both of a competition
        try:
            entry = self.store.enter(
                campaign.slug, e164, channel=channel, poster=poster or NO_POSTER,
                starts_at=campaign.starts_at, ends_at=campaign.ends_at, most=campaign.max_entries_per_person,
            )
        except BaseException:
            if token:
                self.store.unlock(message.sender, campaign.slug, token)
            raise
        ENTRIES.labels(campaign.slug, channel, entry.status).inc()
        if entry.status in ("not_started", "ended"):
            if token:
                self.store.unlock(message.sender, campaign.slug, token)
            template = campaign.not_started_reply if entry.status == "not_started" else campaign.ended_reply
            context = reply_context(campaign, self.book.program)
            return self._finish(message, Reply(template.render(**context), entry.status, campaign.slug, poster=poster))
        code = decision.code
        if code is None and decision.status == "wait":
            code = self._poll(lambda: self.store.cached_code(message.sender, campaign.slug), deadline)
        if code is None:
            try:
                code = issue(self.issuer, self.guard, self.book.program, campaign, message.sender, deadline=deadline)
            except UpstreamError as exc:
                if token:
                    self.store.unlock(message.sender, campaign.slug, token)
                return self._upstream_failed(message, campaign, exc)._replace(poster=poster)
            except BaseException:
                if token:
                    self.store.unlock(message.sender, campaign.slug, token)
                raise
        text = entry_reply(campaign, self.book.program, code=code, entry=entry.number)
        outcome = "entered" if entry.status == "entered" else "entry_repeat"
        return self._finish(
            message, Reply(text, outcome, campaign.slug, code, poster), slug=campaign.slug, code=code,
            lock_token=token, **self._served(message, campaign),
        )

    # -- waiting on another request

    def _poll(self, read: Callable[[], str | None], deadline: float | None = None) -> str | None:
        deadline = deadline or time.monotonic() + self.timing.budget_s
        while time.monotonic() < deadline:
            value = read()
            if value is not None:
                return value
            time.sleep(self.timing.poll_s)
        return None

    def _await_first_delivery(self, message: InboundMessage) -> Reply:
        """The same MessageSid is being handled right now (a Twilio retry): answer what it answers."""
        stored = self._poll(lambda: self.store.stored_reply(message.sender, message.sid))
        return Reply(stored or None, "replayed" if stored is not None else "in_flight")

    # -- ends

    def _finish(self, message: InboundMessage, reply: Reply, **store_args: Any) -> Reply:
        if reply.text and reply.outcome not in _COMPLIANCE_OUTCOMES and _needs_notice.get():
            reply = reply._replace(text=self.book.program.with_opt_in_notice(reply.text))
            store_args["noticed"] = True
            _needs_notice.set(False)
        self.store.finish(message.sid, message.sender, reply.text or "", **store_args)
        return reply

    def _without_store(
        self, message: InboundMessage, heard: Compliance | None, campaign: Campaign | None, exc: StoreUnavailable,
        arrived_us: int,
    ) -> Reply:
        """Redis is down: answer what needs no shared state; never issue blind (uniqueness fails closed).
        STOP and START go to the journal and reach Redis as soon as it answers."""
        log.error("store unavailable for %s: %s", message.sid, exc)
        word = heard.word if heard else None
        if word is ComplianceWord.HELP:
            return Reply(None if message.opt_out_type else self.book.program.help, "help")
        latest = self.journal.latest(message.sender) if self.journal else None
        if heard is not None:
            state = "out" if word is ComplianceWord.STOP else "in"
            reply = self._compliance_reply(message, heard, already_out=latest is not None and latest.state == "out")
            raw = message.body.strip()[:32] or (message.opt_out_type or "")
            if self.journal is None:
                log.critical("%s from %s NOT recorded: store unavailable and no journal", word.value, message.sid)
                return Reply(None, "busy")
            if not self._journal(message, state, raw, reply, arrived_us, pending=True):
                return Reply(None, "replayed")  # Twilio's retry of a journalled word: answered the first time
            log.warning("%s %s journalled while the store is unavailable; replayed when it answers",
                        word.value, message.sid)
            return reply
        if latest is not None and latest.state == "out":
            return Reply(None, "opted_out")
        if campaign is None:
            return Reply(self.book.program.fallback, "unknown")
        return Reply(self.book.program.text("busy_reply"), "busy", campaign.slug)

    def _log(self, message: InboundMessage, reply: Reply, seconds: float, upstream: UpstreamClock,
             arrived: dt.datetime) -> None:
        """The one line and the one count per text (metrics.py documents the counter)."""
        count_text(message.channel, reply.campaign, reply.outcome)
        timings = {}
        if upstream.calls:
            timings = {"upstream_ms": round(upstream.seconds * 1000, 2), "upstream_calls": upstream.calls}
        log_event(log, "text handled", {
            "event": "text",
            "message_sid": message.sid,
            "channel": message.channel,
            "sender_hash": hash_sender(self.secret, message.sender),
            "campaign": reply.campaign,
            "outcome": reply.outcome,
            "poster": reply.poster,
            "duration_ms": round(seconds * 1000, 2),
            **timings,
        })
        self.funnel.add_text(arrived, reply.campaign, reply.poster, reply.outcome)


def reply_version(campaign: Campaign, program: Program) -> str:
    """What `campaign`'s reply is rendered from, but the code, as a short hash: a changed campaign file
    (template, fields, program name) gives a new version, and the cached replies of the old one go unused."""
    made_of = repr((campaign.reply.source, sorted(campaign.template_context().items()), program.name))
    return hashlib.blake2b(made_of.encode(), digest_size=8).hexdigest()


def _points(value: float | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"
