"""Every Redis key and Lua script of the bot lives here, and nowhere else.

Keys all start with one prefix (default ``kcb``) so several bots can share one
Redis, and carry a hash tag so every multi-key script touches one cluster slot:
the customer's sender address, ``{+15551234567}``, for everything about one
customer; ``{campaign:<slug>}`` and ``{ip:<hash>}`` for shared buckets.

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
``P:{campaign:<slug>}:upstream``          GCRA TAT (ms)          until the campaign's upstream budget refills
``P:{<name>:<id>}:rate``                  GCRA TAT (ms)          any other bucket (`Store.allow`), e.g. web
                                                                 hits per client IP hash
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
single-flight lock, then adds the campaign's upstream budget check
(`Store.allow`, another slot) and writes the code in the same `finish`.
The consent log's event, when there is one (an opt-out, an opt-in, or the
opt-in source the first time a number is served a campaign), is written by
that same `finish`: consent costs no extra round trip. `Store.consent_log`
reads the log back for `bot consent export`.

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


@dataclass(frozen=True)
class RateLimit:
    """A GCRA limit: `burst` events at once, then `rate` per `per_seconds` on average."""

    rate: int
    per_seconds: float
    burst: int

    @property
    def interval_ms(self) -> int:
        return max(1, int(self.per_seconds * 1000 / self.rate))

    @property
    def window_ms(self) -> int:
        return max(1, int(self.per_seconds * 1000))


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
        return self._key(f"campaign:{slug}", "upstream")

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

    def release(self, sid: str, sender: str) -> None:
        """Give up a claim whose handling failed before a reply, so Twilio's retry can succeed."""
        self._run(self._release, [self.sid_key(sender, sid)], [])

    def unlock(self, sender: str, slug: str, token: str) -> None:
        self._run(self._unlock, [self.lock_key(sender, slug)], [token])

    def cached_code(self, sender: str, slug: str) -> str | None:
        value = self._call("get", self.code_key(sender, slug))
        return _text(value) if value is not None else None

    def stored_reply(self, sender: str, sid: str) -> str | None:
        value = self._call("get", self.sid_key(sender, sid))
        value = _text(value) if value is not None else None
        return value[1:] if value and value.startswith("R") else None

    def is_opted_out(self, sender: str) -> bool:
        return bool(self._call("exists", self.optout_key(sender)))

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
