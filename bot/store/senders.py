"""One customer's state: a text's decision (`begin`), its reply and consent (`finish`), opt-outs, codes.

Round trips per webhook: a repeat texter's whole answer (claim the
MessageSid, opt-out, rate limit, the cached code's reply, stored for replays)
is one `begin`, which answers `served` when the reply cached with the code
(`CachedReply`, written by an earlier `finish`) still matches the campaign's
template version and code, the number already had its opt-in confirmation,
and the campaign's opt-in source is in the consent log within the retention:
then `finish` would have had nothing to write but the replay record. Any other
text's reply is stored by one `finish`. A first-time texter's `begin` also takes the
single-flight lock; the caller then asks the upstream gate (gate.py, another
slot) and `finish` writes the code. The consent log's event, when there is
one (an opt-out, an opt-in, or the opt-in source the first time a number is
served a campaign), is written by that same `finish`: consent costs no extra
round trip. `consent_log` reads the log back for `bot consent export`.

Opt-outs: the record keeps the latest STOP or START with its arrival time
(optout.lua), so events replayed late from the journal (journal.py) apply only
when newer; `replay_compliance` is that replay, `generation` the marker whose
absence says Redis lost its data. `begin` also takes the arrival time of a STOP
this host journalled as the number's latest event and answers `journal_ahead`
(claiming nothing) when Redis's record is older: Redis lost it. `has_verified_consent` is what outbound
features ask: only a number that texted the program itself counts.

`ConsentEvent`, `Decision`, `Issuance` and `CachedReply` live here: they are what these
calls take and give, and nothing else makes them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

from ..limits import RateLimit
from .connection import Connection, text
from .gate import Gate, GateCheck, gate_of

PENDING_TTL_MS = 30_000
REPLY_TTL_MS = 24 * 3600 * 1000
DEFAULT_CODE_TTL_MS = 400 * 24 * 3600 * 1000
#: A number's consent log keeps at most this many events (STOP/START are not
#: rate limited, so a flood must not grow one key without bound).
CONSENT_MAX_EVENTS = 500

Status = Literal["journal_ahead", "replay", "in_flight", "opted_out", "limited", "served", "ok", "issue", "wait"]


def ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class ConsentEvent:
    """One event of a number's consent log.

    `opt_in_source` is written the first time a number is served a campaign
    (which keyword, which campaign, when, by which channel); `opt_out` and
    `opt_in` on the compliance words, with the word as received; `birthday` when a
    number texts its birthday (the word is the saved `MM-DD`, the campaign its source);
    `request_unverified` when a number typed on the landing form was served:
    somebody asked, but not (yet) provably the phone's owner.
    """

    event: Literal["opt_in_source", "opt_out", "opt_in", "birthday", "request_unverified"]
    at: dt.datetime
    word: str
    campaign: str = ""
    channel: str = ""
    sender: str = ""  # filled in when read back

    def entry(self) -> str:
        fields = (self.event, self.channel, self.campaign)
        if any("|" in f for f in fields):
            raise ValueError(f"'|' in consent fields {fields!r}")
        return "|".join((str(ms(self.at)), *fields, self.word))

    @classmethod
    def parse(cls, sender: str, entry: str) -> ConsentEvent:
        at_ms, event, channel, campaign, word = entry.split("|", 4)
        at = dt.datetime.fromtimestamp(int(at_ms) / 1000, dt.UTC)
        return cls(event, at, word, campaign, channel, sender)  # type: ignore[arg-type]


#: Consent events that prove the phone's owner asked: a text from the number itself (a keyword,
#: START, its birthday).
VERIFYING_EVENTS = frozenset({"opt_in_source", "opt_in", "birthday"})


def verified_by_log(e164: str, entries: Iterable[bytes | str]) -> bool:
    """Whether a consent log (its raw entries, oldest first) holds a text from the number itself since
    its last opt-out; the landing form ("web") and `bot simulate` ("cli") never verify."""
    verified = False
    for raw in entries:
        event = ConsentEvent.parse(e164, text(raw))
        if event.event == "opt_out":
            verified = False
        elif event.event in VERIFYING_EVENTS and event.channel not in ("web", "cli"):
            verified = True
    return verified


class Decision(NamedTuple):
    """What `begin` decided. A NamedTuple, as the other values made for every text: a frozen dataclass
    costs twice the instructions to build (one `object.__setattr__` per field)."""

    status: Status
    reply: str | None = None
    code: str | None = None
    notice: bool = False
    #: The number's opt-out record says out (a compliance word's begin does not stop on it).
    opted_out: bool = False
    #: The number has had the opt-in confirmation ("Reply STOP to opt out", HELP).
    noticed: bool = False
    #: A question is pending for this sender (a birthday asked for): the text may be its answer.
    asking: bool = False
    #: With status "issue" and a `GateCheck`: the upstream gate's answer for the call.
    gate: Gate | None = None


class Issuance(NamedTuple):
    """Ask `begin` to look up (and if missing, lock for) the code of campaign `slug`."""

    slug: str
    lock_token: str
    lock_ttl_ms: int
    #: The campaign reply's template version (`CachedReply.version`); "" = never answer from the cache.
    reply_version: str = ""
    #: The consent retention's cutoff: an opt-in source recorded before it is due again (finish writes it).
    served_since_ms: int = 0


@dataclass(frozen=True)
class CachedReply:
    """A campaign reply as rendered for one code, kept so `begin` can answer a repeat texter alone.

    `version` names everything the text was rendered from but the code (the
    template, the campaign's fields, the program's name): a changed campaign
    file changes it, and `begin` then answers `ok` for a fresh rendering."""

    version: str
    code: str
    text: str

    def value(self) -> str:
        return f"{self.version}\n{self.code}\n{self.text}"


def finish_args(
    *, reply: str, reply_ttl_ms: int, code: str, code_ttl_ms: int, lock_token: str, optout: str,
    optout_word: str, now_iso: str, consent_event: str, consent_at_ms: int, consent_retention_ms: int,
    consent_entry: str, consent_campaign: str, consent_max_events: int, optout_at_us: int, optout_sid: str,
    noticed: bool, cached_reply: CachedReply | None,
) -> list[str | int]:
    """finish.lua's ARGV, in the order of the names at the top of the script."""
    return [reply, reply_ttl_ms, code, code_ttl_ms, lock_token, optout, optout_word, now_iso,
            consent_event, consent_at_ms, consent_retention_ms, consent_entry, consent_campaign, consent_max_events,
            optout_at_us, optout_sid, "1" if noticed else "", cached_reply.value() if cached_reply else ""]


def now_us() -> int:
    return time.time_ns() // 1000


def says_out(record: dict | None) -> bool:
    """Whether an opt-out record (its hash, as read) says out: one with state 'in' is a START kept for
    its arrival time."""
    return bool(record) and text(record.get(b"state", record.get("state", b"out"))) != "in"


class SenderState(Connection):
    def begin(
        self,
        sid: str,
        sender: str,
        *,
        check_optout: bool,
        limit: RateLimit | None,
        limit_scope: str | None = None,
        issuance: Issuance | None = None,
        journalled_stop_us: int = 0,
        gate: GateCheck | None = None,
    ) -> Decision:
        """Claim `sid` and decide, in one round trip. See the module docstring.

        `journalled_stop_us`: the arrival of a STOP this host journalled as the number's latest event;
        when Redis's opt-out record is older (or gone), nothing is claimed and the status is
        `journal_ahead`: write that STOP again (`replay_compliance`) and begin again.

        `gate` (with `issuance`, on one node only): when this text is to issue, the upstream gate
        is passed in the same round trip and its answer is the decision's `gate`."""
        sid_key = self.sid_key(sender, sid)
        slug = issuance.slug if issuance else None
        keys = [
            sid_key,
            self.optout_key(sender),
            self.sender_rate_key(sender, limit_scope),
            self.notice_key(sender),
            self.code_key(sender, slug) if slug else sid_key,
            self.lock_key(sender, slug) if slug else sid_key,
            self.noticed_key(sender),
            self.ask_key(sender),
            self.reply_key(sender, slug) if slug else sid_key,
            self.consent_served_key(sender),
        ]
        args = [
            PENDING_TTL_MS,
            "1" if check_optout else "0",
            limit.interval_ms if limit else 0,
            limit.burst if limit else 0,
            limit.window_ms if limit else 0,
            issuance.lock_token if issuance else "",
            issuance.lock_ttl_ms if issuance else 0,
            issuance.reply_version if issuance else "",
            issuance.served_since_ms if issuance else 0,
            REPLY_TTL_MS,
            slug or "",
            journalled_stop_us,
        ]
        if gate is not None:
            if not self.one_node:
                raise ValueError("begin: the upstream gate's keys are not in the sender's cluster slot")
            keys += gate.keys
            args += gate.args
        status, value, opted_out, noticed, asking, *rest = self._run("begin", keys, args)
        status, out, known = text(status), bool(opted_out), bool(noticed)
        if status == "served":
            return Decision("served", reply=text(value), code=text(rest[0]), opted_out=out, noticed=known)
        if status == "replay":
            return Decision("replay", reply=text(value), opted_out=out)
        if status == "limited":
            return Decision("limited", notice=bool(value), opted_out=out, noticed=known)
        if status == "ok":
            return Decision("ok", code=text(value) if value else None, asking=bool(asking), opted_out=out,
                            noticed=known)
        if status == "issue" and rest:
            return Decision("issue", opted_out=out, noticed=known, gate=gate_of(rest))
        return Decision(status, opted_out=out, noticed=known)  # type: ignore[arg-type]

    def finish(
        self,
        sid: str,
        sender: str,
        reply: str,
        *,
        slug: str | None = None,
        code: str | None = None,
        code_ttl_ms: int = DEFAULT_CODE_TTL_MS,
        lock_token: str | None = None,
        optout: Literal["out", "in"] | None = None,
        word: str = "",
        arrived_us: int = 0,
        consent: ConsentEvent | None = None,
        consent_retention_days: int = 1826,
        noticed: bool = False,
        cached_reply: CachedReply | None = None,
    ) -> None:
        """Store the reply for replays; with `code`, cache it; release `lock_token`; record opt-out/in
        (when newer than the record's `arrived_us`); append `consent` to the consent log (an opt-in
        source only once per campaign and retention); with `noticed`, remember the opt-in confirmation;
        with `cached_reply`, keep it for `begin` to answer the campaign's repeat texts (needs `slug`)."""
        sid_key = self.sid_key(sender, sid)
        keys = [
            sid_key,
            self.code_key(sender, slug) if slug else sid_key,
            self.lock_key(sender, slug) if slug else sid_key,
            self.optout_key(sender),
            self.consent_key(sender),
            self.consent_served_key(sender),
            self.noticed_key(sender),
            self.reply_key(sender, slug) if slug else sid_key,
        ]
        args = finish_args(
            reply=reply, reply_ttl_ms=REPLY_TTL_MS, code=code or "", code_ttl_ms=code_ttl_ms,
            lock_token=lock_token or "", optout=optout or "", optout_word=word, now_iso=now_iso(),
            consent_event=consent.event if consent else "",
            consent_at_ms=ms(consent.at) if consent else 0,
            consent_retention_ms=consent_retention_days * 24 * 3600 * 1000 if consent else 0,
            consent_entry=consent.entry() if consent else "",
            consent_campaign=consent.campaign if consent else "",
            consent_max_events=CONSENT_MAX_EVENTS if consent else 0,
            optout_at_us=arrived_us or now_us(), optout_sid=sid, noticed=noticed,
            cached_reply=cached_reply if slug else None,
        )
        self._run("finish", keys, args)

    def replay_compliance(
        self, sid: str, sender: str, state: Literal["out", "in"], *, arrived_us: int, word: str, reply: str,
        consent: ConsentEvent, consent_retention_days: int,
    ) -> str:
        """Write one journalled STOP/START: 'known' (its MessageSid was stored), 'applied', or 'stale'
        (a newer event holds the record; the event still joins the consent log)."""
        keys = [self.sid_key(sender, sid), self.optout_key(sender), self.consent_key(sender)]
        args = [state, arrived_us, now_iso(), word, sid, reply, consent.entry(),
                consent_retention_days * 24 * 3600 * 1000, CONSENT_MAX_EVENTS]
        return text(self._run("replay_compliance", keys, args))

    def generation(self) -> str | None:
        """The marker that says Redis still holds what the bot wrote; None after Redis lost its data."""
        value = self._call("get", self.generation_key())
        return text(value) if value is not None else None

    def set_generation(self, value: str) -> None:
        self._call("set", self.generation_key(), value, nx=True)

    def release(self, sid: str, sender: str) -> None:
        """Give up a claim whose handling failed before a reply, so Twilio's retry can succeed."""
        self._run("release", [self.sid_key(sender, sid)], [])

    def unlock(self, sender: str, slug: str, token: str) -> None:
        self._run("unlock", [self.lock_key(sender, slug)], [token])

    def record_opt_out(self, sender: str, word: str) -> None:
        """An opt-out learnt outside a text (Twilio's 21610)."""
        record = {"state": "out", "at_us": now_us(), "at": now_iso(), "word": word, "sid": ""}
        self._call("hset", self.optout_key(sender), mapping=record)

    def is_opted_out(self, sender: str) -> bool:
        return says_out(self._call("hgetall", self.optout_key(sender)))

    def has_verified_consent(self, e164: str) -> bool:
        """Whether outbound features (broadcasts, birthdays) may text `e164`: not opted out, and the
        number itself texted the program (a keyword or START) since its last opt-out. A landing-form
        request is not enough: anyone can type anyone's number."""
        if self.is_opted_out(e164):
            return False
        return verified_by_log(e164, self._call("lrange", self.consent_key(e164), 0, -1))

    def cache_code(self, sender: str, slug: str, code: str, ttl_ms: int = DEFAULT_CODE_TTL_MS) -> None:
        self._call("set", self.code_key(sender, slug), code, px=ttl_ms)

    def cached_code(self, sender: str, slug: str) -> str | None:
        value = self._call("get", self.code_key(sender, slug))
        return text(value) if value is not None else None

    def stored_reply(self, sender: str, sid: str) -> str | None:
        value = self._call("get", self.sid_key(sender, sid))
        value = text(value) if value is not None else None
        return value[1:] if value and value.startswith("R") else None

    def consent_log(self, *, now: dt.datetime, retention_days: int) -> Iterator[ConsentEvent]:
        """Every number's consent events within the retention, number by number, oldest first.

        SCANs for the log keys (on every primary of a cluster), so it costs no
        index key outside the sender's hash tag; meant for exports, not requests.
        """
        cutoff = now - dt.timedelta(days=retention_days)
        with self._unavailable():
            keys = sorted({text(k) for k in self.client.scan_iter(match=self.consent_pattern(), count=500)})
            for key in keys:
                sender = self.sender_of_consent_key(key)
                for raw in self.client.lrange(key, 0, -1):
                    event = ConsentEvent.parse(sender, text(raw))
                    if event.at >= cutoff:
                        yield event
