"""Every Redis key and Lua script of the bot lives here, and nowhere else.

Keys all start with one prefix (default ``kcb``) so several bots can share one
Redis, and carry a hash tag so every multi-key script touches one cluster slot:
the customer's sender address, ``{+15551234567}``, for everything about one
customer; ``{upstream}`` for Talon.One's breaker and budgets, ``{jobs}`` for
the late-delivery queue, ``{<name>:<id>}`` for other buckets.

========================================  =====================  ==========================================
key (``P`` = the prefix)                  type / value           lifetime
========================================  =====================  ==========================================
``P:{sender}:sid:<MessageSid>``           ``P`` while handled,   30 s while pending (a crashed handler's
                                          ``R<reply>`` after     claim expires so Twilio's retry works);
                                                                 24 h once replied (replays within a day)
``P:{sender}:code:<slug>``                the issued code        ``code_ttl`` (default 400 days): the
                                                                 "same code again" promise outlives a
                                                                 campaign; Talon.One remains the source
``P:{sender}:lock:<slug>``                single-flight token    the issuance budget (PX); released when
                                                                 the code is written or the call failed
``P:{sender}:optout``                     hash: at, word         no expiry: an opt-out is kept until START
``P:{sender}:rate`` / ``rate:<slug>``     GCRA theoretical       until the sender's bucket is full again
                                          arrival time (ms)      (program limit / a campaign's own limit)
``P:{sender}:notice``                     ``1``                  one limit period: one notice per window
``P:{sender}:sent:<slug>``                ``sending:<time>`` /   30 days: a late reply is sent at most once
                                          ``sent``               per sender and campaign (see delivery.py)
``P:{upstream}:budget:<slug>``            GCRA TAT (ms)          until the campaign's upstream budget refills
``P:{upstream}:breaker``                  hash: failures,        the failure window plus the cool-down;
                                          open_until (ms)        deleted by the first success
``P:{upstream}:probe``                    ``1``                  one half-open probe call at a time (PX)
``P:{jobs}:due``                          zset: job id -> due    until the job completes; a claimed job is
                                          time (ms)              pushed one lease ahead, so a dead
                                                                 worker's job comes due again
``P:{jobs}:payloads`` / ``:attempts``     hash: job id -> JSON   until the job completes
                                          / tries
``P:{<name>:<id>}:rate``                  GCRA TAT (ms)          any other bucket (`Store.allow`), e.g. web
                                                                 hits per client IP hash
``P:{stats}:scans``                       hash: campaign|poster  no expiry: counted QR scans (GET only, no
                                          -> count               crawlers or link previews; see scans.py)
``P:{stats}:unique``                      hash, same fields      no expiry: first scan of a visitor that day
``P:{stats}:texts``                       hash, same fields      no expiry: texts carrying a poster's ref
``P:{stats}:seen:<YYYY-MM-DD>``           set of visitor hashes  48 h: a visitor is HMAC(daily salt, IP, user
                                                                 agent, slug); the salt derives from
                                                                 BOT_SECRET and the day, never stored
``P:{stats}:funnel:<YYYY-MM-DDTHH>``      hash: campaign|poster  ``FUNNEL_RETENTION_DAYS`` (90 days) after
                                          |event -> count, one   the hour's start (EXPIREAT): the results
                                          hash per UTC hour      page's funnel (see results.py); events are
                                                                 ``scan``, ``unique_scan`` and the texts'
                                                                 outcomes; no phone numbers, no hashes
``P:{sender}:consent``                    list of consent        the program's ``consent_retention_days``
                                          events, oldest first:  after the last event; older events are
                                          ``at_ms|event|channel  dropped on each write, and at most
                                          |campaign|word``       ``CONSENT_MAX_EVENTS`` are kept
``P:{sender}:consent:served``             hash: campaign slug    the retention, from the opt-in source
                                          -> ms of its recorded  recorded last: after it a new serve is
                                          opt-in source          recorded as a fresh source
========================================  =====================  ==========================================

Round trips per webhook: a repeat texter's whole decision (claim the
MessageSid, opt-out, rate limit, cached code) is one `Store.begin`; storing
the reply is one `Store.finish`. A first-time texter's `begin` also takes the
single-flight lock, then adds the upstream gate (circuit breaker and the
campaign's budget, `Store.upstream_gate`, another slot) and writes the code
in the same `finish`.
The consent log's event, when there is one (an opt-out, an opt-in, or the
opt-in source the first time a number is served a campaign), is written by
that same `finish`: consent costs no extra round trip. `Store.consent_log`
reads the log back for `bot consent export`.

The results funnel costs the text nothing on its way: the conversation hands
each handled text to `results.Funnel`, which adds the counts up in memory
and writes them with one pipelined `Store.count_funnel` a second (see
results.py). A scan's funnel count is written by
the scan's own script.

Rate limits run on Redis's clock (``TIME`` inside the script), never the
app's, so every worker and host agrees.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any, Iterator, Literal

import redis
import redis.exceptions

from .errors import StoreUnavailable
from .limits import BreakerPolicy, RateLimit

log = logging.getLogger(__name__)

PENDING_TTL_MS = 30_000
REPLY_TTL_MS = 24 * 3600 * 1000
DEFAULT_CODE_TTL_MS = 400 * 24 * 3600 * 1000
#: A number's consent log keeps at most this many events (STOP/START are not
#: rate limited, so a flood must not grow one key without bound).
CONSENT_MAX_EVENTS = 500

# One GCRA implementation, shared by every limiting script. Returns true when
# the event is allowed (and records it), false when the bucket is empty.
_GCRA = """
local function gcra(key, interval, burst)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  if new_tat - now > interval * burst then return false end
  redis.call('SET', key, new_tat, 'PX', new_tat - now)
  return true
end
"""

# KEYS: sid, optout, rate, notice, code, lock
# ARGV: pending_ttl_ms, check_optout (0/1), rate_interval_ms (0 = no limit),
#       rate_burst, notice_ttl_ms, lock_token ('' = no issuance), lock_ttl_ms
# Returns {status, value}:
#   replay (value = stored reply) | in_flight | opted_out
#   limited (value = 1 when this text gets the one notice of the window)
#   ok (value = cached code, or false when nothing is to be issued)
#   issue (this caller holds the lock: ask upstream) | wait (another caller holds it)
_BEGIN = _GCRA + """
local stored = redis.call('GET', KEYS[1])
if stored then
  if string.sub(stored, 1, 1) == 'R' then return {'replay', string.sub(stored, 2)} end
  return {'in_flight', false}
end
redis.call('SET', KEYS[1], 'P', 'PX', ARGV[1])
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  return {'opted_out', false}
end
local interval = tonumber(ARGV[3])
if interval > 0 and not gcra(KEYS[3], interval, tonumber(ARGV[4])) then
  local first = redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[5])
  return {'limited', first and 1 or 0}
end
if ARGV[6] == '' then return {'ok', false} end
local code = redis.call('GET', KEYS[5])
if code then return {'ok', code} end
if redis.call('SET', KEYS[6], ARGV[6], 'NX', 'PX', ARGV[7]) then return {'issue', false} end
return {'wait', false}
"""

# KEYS: sid, code, lock, optout, consent, consent_served
# ARGV: reply, reply_ttl_ms, code ('' = none), code_ttl_ms, lock_token ('' = none),
#       optout ('' | 'out' | 'in'), optout_word, now_iso,
#       consent_event ('' = none | 'opt_in_source' | 'opt_out' | 'opt_in'), consent_at_ms,
#       consent_retention_ms, consent_entry, consent_campaign, consent_max_events
_FINISH = """
redis.call('SET', KEYS[1], 'R' .. ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
if ARGV[5] ~= '' and redis.call('GET', KEYS[3]) == ARGV[5] then redis.call('DEL', KEYS[3]) end
if ARGV[6] == 'out' then
  redis.call('HSET', KEYS[4], 'at', ARGV[8], 'word', ARGV[7])
elseif ARGV[6] == 'in' then
  redis.call('DEL', KEYS[4])
end
if ARGV[9] ~= '' then
  local retention = tonumber(ARGV[11])
  local cutoff = tonumber(ARGV[10]) - retention
  local record = true
  if ARGV[9] == 'opt_in_source' then
    local previous = redis.call('HGET', KEYS[6], ARGV[13])
    record = (not previous) or tonumber(previous) < cutoff
    if record then
      redis.call('HSET', KEYS[6], ARGV[13], ARGV[10])
      redis.call('PEXPIRE', KEYS[6], retention)
    end
  end
  if record then
    redis.call('RPUSH', KEYS[5], ARGV[12])
    while true do
      local head = redis.call('LINDEX', KEYS[5], 0)
      if (not head) or tonumber(string.match(head, '^(%d+)')) >= cutoff then break end
      redis.call('LPOP', KEYS[5])
    end
    redis.call('LTRIM', KEYS[5], -tonumber(ARGV[14]), -1)
    redis.call('PEXPIRE', KEYS[5], retention)
  end
end
return 1
"""

# KEYS: bucket. ARGV: interval_ms, burst. Returns 1 (allowed) or 0.
_ALLOW = _GCRA + """
if gcra(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2])) then return 1 end
return 0
"""

# KEYS: breaker, probe, budget. ARGV: budget interval_ms (0 = none), burst, probe_ttl_ms.
# Returns {'open', retry_in_ms} | {'over', retry_in_ms} | {'go', probe (0/1), failures}.
_GATE = _GCRA + """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if open_until > now then return {'open', open_until - now} end
local probe = 0
if open_until > 0 then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then return {'open', 1000} end
  probe = 1
end
local interval = tonumber(ARGV[1])
if interval > 0 and not gcra(KEYS[3], interval, tonumber(ARGV[2])) then
  if probe == 1 then redis.call('DEL', KEYS[2]) end
  return {'over', interval}
end
return {'go', probe, tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')}
"""

# KEYS: breaker, probe. ARGV: ok (1/0), threshold, cooldown_ms, window_ms.
# Returns 'open' when this failure opened (or re-opened) the breaker, else 'closed'.
_RECORD = """
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[1], KEYS[2])
  return 'closed'
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) + 2 * tonumber(ARGV[3]))
if failures >= tonumber(ARGV[2]) or open_until > 0 then
  redis.call('HSET', KEYS[1], 'open_until', now + tonumber(ARGV[3]), 'failures', 0)
  redis.call('DEL', KEYS[2])
  return 'open'
end
return 'closed'
"""

# KEYS: breaker. Returns {state, ms until it may close}.
_BREAKER_STATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if open_until > now then return {'open', open_until - now} end
if open_until > 0 then return {'half-open', 0} end
return {'closed', 0}
"""

# KEYS: due, payloads, attempts. ARGV: id, payload, delay_ms. 1 = queued, 0 = already queued.
_ENQUEUE = """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], 0)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
return 1
"""

# KEYS: due, payloads, attempts. ARGV: lease_ms. Leases the first due job:
# returns {id, payload, attempt} or false.
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1)
if #ids == 0 then return false end
local id = ids[1]
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id)
local attempt = redis.call('HINCRBY', KEYS[3], id, 1)
return {id, redis.call('HGET', KEYS[2], id), attempt}
"""

# KEYS: due. ARGV: id, delay_ms. Puts a leased job back, due after the delay.
_RETRY = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
"""

# KEYS: sent. ARGV: now_iso, ttl_ms. Returns the marker found (caller must not
# blindly send), or false after writing 'sending:<now>' (caller may send).
_MARK_SENDING = """
local found = redis.call('GET', KEYS[1])
if found then return found end
redis.call('SET', KEYS[1], 'sending:' .. ARGV[1], 'PX', ARGV[2])
return false
"""

# KEYS: sid. Releases a claim that never got a reply, so a retry can run.
_RELEASE = """
if redis.call('GET', KEYS[1]) == 'P' then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: lock. ARGV: token. Releases the lock only if we still hold it.
_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# KEYS: seen, scans, unique, funnel bucket. ARGV: field, visitor, seen_ttl_ms,
# funnel field prefix ('campaign|poster|'), funnel bucket expiry (unix seconds).
# Counts one scan; returns 1 when the visitor is new today (a unique scan).
_SCAN = """
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('HINCRBY', KEYS[4], ARGV[4] .. 'scan', 1)
local new = redis.call('SADD', KEYS[1], ARGV[2])
if new == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
  redis.call('HINCRBY', KEYS[4], ARGV[4] .. 'unique_scan', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
redis.call('EXPIREAT', KEYS[4], ARGV[5])
return new
"""


SEEN_TTL_MS = 48 * 3600 * 1000
STATS_TAG = "stats"
#: The results funnel's hourly buckets are kept this long (from the hour's start).
FUNNEL_RETENTION_DAYS = 90


Status = Literal["replay", "in_flight", "opted_out", "limited", "ok", "issue", "wait"]


@dataclass(frozen=True)
class ConsentEvent:
    """One event of a number's consent log.

    `opt_in_source` is written the first time a number is served a campaign
    (which keyword, which campaign, when, by which channel); `opt_out` and
    `opt_in` on the compliance words, with the word as received.
    """

    event: Literal["opt_in_source", "opt_out", "opt_in"]
    at: dt.datetime
    word: str
    campaign: str = ""
    channel: str = ""
    sender: str = ""  # filled in when read back

    def entry(self) -> str:
        fields = (self.event, self.channel, self.campaign)
        if any("|" in f for f in fields):
            raise ValueError(f"'|' in consent fields {fields!r}")
        return "|".join((str(_ms(self.at)), *fields, self.word))

    @classmethod
    def parse(cls, sender: str, entry: str) -> "ConsentEvent":
        at_ms, event, channel, campaign, word = entry.split("|", 4)
        at = dt.datetime.fromtimestamp(int(at_ms) / 1000, dt.timezone.utc)
        return cls(event, at, word, campaign, channel, sender)  # type: ignore[arg-type]


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Decision:
    status: Status
    reply: str | None = None
    code: str | None = None
    notice: bool = False


@dataclass(frozen=True)
class Issuance:
    """Ask `begin` to look up (and if missing, lock for) the code of campaign `slug`."""

    slug: str
    lock_token: str
    lock_ttl_ms: int


@dataclass(frozen=True)
class Gate:
    """The upstream gate's answer: go (maybe as the half-open probe), or wait."""

    state: Literal["go", "open", "over"]
    probe: bool = False
    failures: int = 0
    retry_in_ms: int = 0


class Store:
    """The bot's shared state on one Redis (node or cluster) or the embedded store."""

    def __init__(self, client: "redis.Redis | Any", *, prefix: str = "kcb", description: str = "redis"):
        self.client = client
        self.prefix = prefix
        self.description = description
        self._begin = client.register_script(_BEGIN)
        self._finish = client.register_script(_FINISH)
        self._allow = client.register_script(_ALLOW)
        self._release = client.register_script(_RELEASE)
        self._unlock = client.register_script(_UNLOCK)
        self._gate = client.register_script(_GATE)
        self._record = client.register_script(_RECORD)
        self._breaker_state = client.register_script(_BREAKER_STATE)
        self._enqueue = client.register_script(_ENQUEUE)
        self._claim = client.register_script(_CLAIM)
        self._retry = client.register_script(_RETRY)
        self._mark_sending = client.register_script(_MARK_SENDING)
        self._scan = client.register_script(_SCAN)

    # -- keys

    def _key(self, tag: str, *parts: str) -> str:
        # Braces inside a tag would break the hash tag; Twilio never sends them.
        tag = tag.replace("{", "(").replace("}", ")")
        return ":".join((self.prefix, "{" + tag + "}", *parts))

    def sid_key(self, sender: str, sid: str) -> str:
        return self._key(sender, "sid", sid)

    def code_key(self, sender: str, slug: str) -> str:
        return self._key(sender, "code", slug)

    def lock_key(self, sender: str, slug: str) -> str:
        return self._key(sender, "lock", slug)

    def optout_key(self, sender: str) -> str:
        return self._key(sender, "optout")

    def sender_rate_key(self, sender: str, slug: str | None = None) -> str:
        return self._key(sender, "rate", slug) if slug else self._key(sender, "rate")

    def upstream_key(self, slug: str) -> str:
        return self._key("upstream", "budget", slug)

    def sent_key(self, sender: str, slug: str) -> str:
        return self._key(sender, "sent", slug)

    def bucket_key(self, name: str, ident: str) -> str:
        return self._key(f"{name}:{ident}", "rate")

    def consent_key(self, sender: str) -> str:
        return self._key(sender, "consent")

    def consent_served_key(self, sender: str) -> str:
        return self._key(sender, "consent", "served")

    # -- calls

    def _run(self, script, keys: list[str], args: list[Any]) -> Any:
        try:
            return script(keys=keys, args=args)
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc

    def begin(
        self,
        sid: str,
        sender: str,
        *,
        check_optout: bool,
        limit: RateLimit | None,
        limit_scope: str | None = None,
        issuance: Issuance | None = None,
    ) -> Decision:
        """Claim `sid` and decide, in one round trip. See the module docstring."""
        sid_key = self.sid_key(sender, sid)
        slug = issuance.slug if issuance else None
        keys = [
            sid_key,
            self.optout_key(sender),
            self.sender_rate_key(sender, limit_scope),
            self._key(sender, "notice"),
            self.code_key(sender, slug) if slug else sid_key,
            self.lock_key(sender, slug) if slug else sid_key,
        ]
        args = [
            PENDING_TTL_MS,
            "1" if check_optout else "0",
            limit.interval_ms if limit else 0,
            limit.burst if limit else 0,
            limit.window_ms if limit else 0,
            issuance.lock_token if issuance else "",
            issuance.lock_ttl_ms if issuance else 0,
        ]
        status, value = self._run(self._begin, keys, args)
        status = _text(status)
        if status == "replay":
            return Decision("replay", reply=_text(value))
        if status == "limited":
            return Decision("limited", notice=bool(value))
        if status == "ok":
            return Decision("ok", code=_text(value) if value else None)
        return Decision(status)  # type: ignore[arg-type]

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
        consent: ConsentEvent | None = None,
        consent_retention_days: int = 1826,
    ) -> None:
        """Store the reply for replays; with `code`, cache it; release `lock_token`; record opt-out/in;
        append `consent` to the consent log (an opt-in source only once per campaign and retention)."""
        keys = [
            self.sid_key(sender, sid),
            self.code_key(sender, slug) if slug else self.sid_key(sender, sid),
            self.lock_key(sender, slug) if slug else self.sid_key(sender, sid),
            self.optout_key(sender),
            self.consent_key(sender),
            self.consent_served_key(sender),
        ]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        args = [reply, REPLY_TTL_MS, code or "", code_ttl_ms, lock_token or "", optout or "", word, now]
        if consent is None:
            args += ["", 0, 0, "", "", 0]
        else:
            args += [consent.event, _ms(consent.at), consent_retention_days * 24 * 3600 * 1000, consent.entry(),
                     consent.campaign, CONSENT_MAX_EVENTS]
        self._run(self._finish, keys, args)

    def allow(self, key: str, limit: RateLimit) -> bool:
        """Take one event from the GCRA bucket at `key` (see `upstream_key`, `bucket_key`)."""
        return bool(self._run(self._allow, [key], [limit.interval_ms, limit.burst]))

    # -- the upstream gate: circuit breaker + per-campaign budget

    def upstream_gate(self, slug: str, budget: RateLimit | None, *, probe_ttl_ms: int) -> "Gate":
        keys = [self._key("upstream", "breaker"), self._key("upstream", "probe"), self.upstream_key(slug)]
        args = [budget.interval_ms if budget else 0, budget.burst if budget else 0, probe_ttl_ms]
        result = self._run(self._gate, keys, args)
        state = _text(result[0])
        if state == "go":
            return Gate("go", probe=bool(result[1]), failures=int(result[2]))
        return Gate(state, retry_in_ms=int(result[1]))  # type: ignore[arg-type]

    def record_upstream(self, ok: bool, breaker: "BreakerPolicy") -> bool:
        """Record one call's outcome; True when this failure opened the breaker."""
        keys = [self._key("upstream", "breaker"), self._key("upstream", "probe")]
        args = ["1" if ok else "0", breaker.failures, int(breaker.cooldown_s * 1000), int(breaker.window_s * 1000)]
        return _text(self._run(self._record, keys, args)) == "open"

    def breaker_state(self) -> str:
        state, _ = self._run(self._breaker_state, [self._key("upstream", "breaker")], [])
        return _text(state)

    # -- the late-delivery queue

    def _job_keys(self) -> list[str]:
        return [self._key("jobs", "due"), self._key("jobs", "payloads"), self._key("jobs", "attempts")]

    def enqueue(self, job_id: str, payload: str, delay_ms: int = 0) -> bool:
        """Queue a job once: False when a job with this id is already waiting."""
        return bool(self._run(self._enqueue, self._job_keys(), [job_id, payload, delay_ms]))

    def claim(self, lease_ms: int) -> tuple[str, str, int] | None:
        """Lease the next due job for `lease_ms`: (id, payload, attempt) or None."""
        found = self._run(self._claim, self._job_keys(), [lease_ms])
        if not found:
            return None
        return _text(found[0]), _text(found[1]), int(found[2])

    def retry_later(self, job_id: str, delay_ms: int) -> None:
        self._run(self._retry, self._job_keys()[:1], [job_id, delay_ms])

    def complete(self, job_id: str) -> None:
        due, payloads, attempts = self._job_keys()
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.zrem(due, job_id).hdel(payloads, job_id).hdel(attempts, job_id)
            pipe.execute()
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc

    def queued(self) -> int:
        return int(self._call("zcard", self._job_keys()[0]))

    # -- sent markers (late replies go out once)

    def mark_sending(self, sender: str, slug: str, *, ttl_ms: int = 30 * 24 * 3600 * 1000) -> str | None:
        """None: the caller may send now. Otherwise the marker found: 'sent' or 'sending:<iso time>'."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        found = self._run(self._mark_sending, [self.sent_key(sender, slug)], [now, ttl_ms])
        return _text(found) if found else None

    def mark_sent(self, sender: str, slug: str, *, ttl_ms: int = 30 * 24 * 3600 * 1000) -> None:
        self._call("set", self.sent_key(sender, slug), "sent", px=ttl_ms)

    def record_opt_out(self, sender: str, word: str) -> None:
        """An opt-out learnt outside a text (Twilio's 21610)."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self._call("hset", self.optout_key(sender), mapping={"at": now, "word": word})

    def release(self, sid: str, sender: str) -> None:
        """Give up a claim whose handling failed before a reply, so Twilio's retry can succeed."""
        self._run(self._release, [self.sid_key(sender, sid)], [])

    def unlock(self, sender: str, slug: str, token: str) -> None:
        self._run(self._unlock, [self.lock_key(sender, slug)], [token])

    def cache_code(self, sender: str, slug: str, code: str, ttl_ms: int = DEFAULT_CODE_TTL_MS) -> None:
        self._call("set", self.code_key(sender, slug), code, px=ttl_ms)

    def cached_code(self, sender: str, slug: str) -> str | None:
        value = self._call("get", self.code_key(sender, slug))
        return _text(value) if value is not None else None

    def stored_reply(self, sender: str, sid: str) -> str | None:
        value = self._call("get", self.sid_key(sender, sid))
        value = _text(value) if value is not None else None
        return value[1:] if value and value.startswith("R") else None

    def is_opted_out(self, sender: str) -> bool:
        return bool(self._call("exists", self.optout_key(sender)))

    # -- QR scans, poster attribution and the landing form's limits

    def stats_key(self, *parts: str) -> str:
        return self._key(STATS_TAG, *parts)

    def count_scan(self, campaign: str, poster: str, visitor: str, day: str, at: dt.datetime | None = None) -> bool:
        """Count one scan of a poster (and in the funnel's bucket of the hour `at`, default now);
        True when `visitor` (a salted hash) is new that day."""
        hour = funnel_hour(at or dt.datetime.now(dt.timezone.utc))
        keys = [self.stats_key("seen", day), self.stats_key("scans"), self.stats_key("unique"), self.funnel_key(hour)]
        args = [f"{campaign}|{poster}", visitor, SEEN_TTL_MS, funnel_field(campaign, poster, ""), _funnel_expiry(hour)]
        return bool(self._run(self._scan, keys, args))

    def funnel_key(self, hour: dt.datetime) -> str:
        return self.stats_key("funnel", hour.strftime("%Y-%m-%dT%H"))

    def count_funnel(self, counts: dict[tuple[dt.datetime, str], int]) -> None:
        """Add `counts` ({(hour, funnel_field(...)): n}) to the hourly buckets, in one pipelined round trip."""
        if not counts:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for hour in sorted({hour for hour, _ in counts}):
                key = self.funnel_key(hour)
                for (at, name), n in counts.items():
                    if at == hour:
                        pipe.hincrby(key, name, n)
                pipe.expireat(key, _funnel_expiry(hour))
            pipe.execute()
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc

    def funnel_counts(self, hours: list[dt.datetime]) -> dict[dt.datetime, dict[tuple[str, str, str], int]]:
        """hour -> {(campaign, poster, event): count} for each hour asked (empty when none), one round trip."""
        try:
            pipe = self.client.pipeline(transaction=False)
            for hour in hours:
                pipe.hgetall(self.funnel_key(hour))
            found = pipe.execute()
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc
        result: dict[dt.datetime, dict[tuple[str, str, str], int]] = {}
        for hour, values in zip(hours, found):
            counts = {}
            for name, count in (values or {}).items():
                campaign, poster, event = _text(name).split("|", 2)
                counts[(campaign, poster, event)] = int(count)
            result[hour] = counts
        return result

    def count_poster_text(self, campaign: str, poster: str) -> None:
        try:
            self.client.hincrby(self.stats_key("texts"), f"{campaign}|{poster}", 1)
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc

    def poster_stats(self) -> dict[tuple[str, str], dict[str, int]]:
        """(campaign, poster) -> {"scans", "unique", "texts"} counts, for `bot scans`."""
        rows: dict[tuple[str, str], dict[str, int]] = {}
        for name in ("scans", "unique", "texts"):
            try:
                values = self.client.hgetall(self.stats_key(name))
            except redis.exceptions.RedisError as exc:
                raise StoreUnavailable(f"{self.description}: {exc}") from exc
            for field_, count in values.items():
                campaign, _, poster = _text(field_).partition("|")
                row = rows.setdefault((campaign, poster), {"scans": 0, "unique": 0, "texts": 0})
                row[name] = int(count)
        return rows

    def consent_log(self, *, now: dt.datetime, retention_days: int) -> Iterator[ConsentEvent]:
        """Every number's consent events within the retention, number by number, oldest first.

        SCANs for the log keys (on every primary of a cluster), so it costs no
        index key outside the sender's hash tag; meant for exports, not requests.
        """
        cutoff = now - dt.timedelta(days=retention_days)
        pattern = f"{self.prefix}:{{*}}:consent"
        try:
            keys = sorted({_text(k) for k in self.client.scan_iter(match=pattern, count=500)})
            for key in keys:
                sender = key[len(self.prefix) + 2: key.rindex("}")]
                for raw in self.client.lrange(key, 0, -1):
                    event = ConsentEvent.parse(sender, _text(raw))
                    if event.at >= cutoff:
                        yield event
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc
    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.exceptions.RedisError:
            return False


def funnel_hour(moment: dt.datetime) -> dt.datetime:
    """The start of the UTC hour `moment` falls in: the funnel's bucket."""
    return moment.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)


def funnel_field(campaign: str, poster: str, event: str) -> str:
    """A funnel bucket's field; campaign and poster are slugs (or "" / labels) without '|'."""
    if "|" in campaign or "|" in poster:
        raise ValueError(f"'|' in funnel labels {campaign!r}, {poster!r}")
    return f"{campaign}|{poster}|{event}"


def _funnel_expiry(hour: dt.datetime) -> int:
    return int(hour.timestamp()) + FUNNEL_RETENTION_DAYS * 24 * 3600


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def connect(redis_url: str | None, *, cluster: bool = False, prefix: str = "kcb") -> Store:
    """A Store on `redis_url`, or on the embedded in-process store when it is None."""
    if redis_url is None:
        import fakeredis

        log.warning(
            "REDIS_URL is unset: using the embedded in-process store. "
            "State is lost on exit and not shared between processes; set REDIS_URL for production."
        )
        return Store(fakeredis.FakeRedis(server=fakeredis.FakeServer()), prefix=prefix, description="embedded store")
    options = dict(socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30)
    if cluster:
        from redis.cluster import RedisCluster

        client = RedisCluster.from_url(redis_url, **options)
        return Store(client, prefix=prefix, description="redis cluster")
    client = redis.Redis.from_url(redis_url, **options)
    return Store(client, prefix=prefix, description="redis")
