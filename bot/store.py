"""Every Redis key and Lua script of the bot lives here, and nowhere else.

Keys all start with one prefix (default ``kcb``) so several bots can share one
Redis, and carry the customer's sender address as a hash tag, ``{+15551234567}``,
so every multi-key script touches one cluster slot.

=====================================  =====================  ==========================================
key                                    type / value           lifetime
=====================================  =====================  ==========================================
``P:{sender}:sid:<MessageSid>``        ``P`` while handled,   30 s while pending (a crashed handler's
                                       ``R<reply>`` after     claim expires so Twilio's retry works);
                                                              24 h once replied (replays within a day)
``P:{sender}:code:<slug>``             the issued code        ``code_ttl`` (default 400 days): the
                                                              "same code again" promise outlives a
                                                              campaign, Talon.One remains the source
``P:{sender}:lock:<slug>``             single-flight token    the issuance budget (PX), released early
``P:{sender}:optout``                  hash: at, word         no expiry: an opt-out is kept until START
``P:{sender}:rate``                    GCRA theoretical       until the sender's bucket is full again
                                       arrival time (ms)
``P:{sender}:notice``                  ``1``                  one limit period: one notice per window
``P:{sender}:consent``                 list of consent        the program's ``consent_retention_days``
                                       events, oldest first:  after the last event; older events are
                                       ``at_ms|event|channel  dropped on each write, and at most
                                       |campaign|word``       ``CONSENT_MAX_EVENTS`` are kept
``P:{sender}:consent:served``          hash: campaign slug    the retention, from the opt-in source
                                       -> ms of its recorded  recorded last: after it a new serve is
                                       opt-in source          recorded as a fresh source
=====================================  =====================  ==========================================

`Store.begin` makes a repeat texter's whole decision (claim the MessageSid,
opt-out, rate limit, cached code) in one script call; `Store.finish` stores
the reply (and a first texter's code) in one more, together with the consent
log's event when there is one (an opt-out, an opt-in, or the opt-in source the
first time a number is served a campaign): consent costs no extra round trip.
`Store.consent_log` reads the log back for `bot consent export`.
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

# KEYS: sid, optout, rate, notice, code
# ARGV: pending_ttl_ms, check_optout (0/1), rate_interval_ms (0 = no limit),
#       rate_burst, notice_ttl_ms
# Returns {status, value}: status is one of
#   replay (value = stored reply), in_flight, opted_out, limited (value = 1 if
#   this text gets the notice), ok (value = cached code or false).
_BEGIN = """
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
if interval > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local tat = tonumber(redis.call('GET', KEYS[3]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  if new_tat - now > interval * tonumber(ARGV[4]) then
    local first = redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[5])
    return {'limited', first and 1 or 0}
  end
  redis.call('SET', KEYS[3], new_tat, 'PX', new_tat - now)
end
if KEYS[5] ~= KEYS[1] then
  return {'ok', redis.call('GET', KEYS[5])}
end
return {'ok', false}
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
    """A GCRA limit: `burst` texts at once, then one per `period_s / rate`."""

    rate: int
    period_s: float
    burst: int

    @property
    def interval_ms(self) -> int:
        return max(1, int(self.period_s * 1000 / self.rate))


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
    status: Literal["replay", "in_flight", "opted_out", "limited", "ok"]
    reply: str | None = None
    code: str | None = None
    notice: bool = False


class Store:
    """The bot's shared state on one Redis (node or cluster) or the embedded store."""

    def __init__(self, client: "redis.Redis | Any", *, prefix: str = "kcb", description: str = "redis"):
        self.client = client
        self.prefix = prefix
        self.description = description
        self._begin = client.register_script(_BEGIN)
        self._finish = client.register_script(_FINISH)
        self._release = client.register_script(_RELEASE)
        self._unlock = client.register_script(_UNLOCK)

    # -- keys

    def _key(self, sender: str, *parts: str) -> str:
        # Braces in a sender would break the hash tag; Twilio never sends them.
        tag = sender.replace("{", "(").replace("}", ")")
        return ":".join((self.prefix, "{" + tag + "}", *parts))

    def sid_key(self, sender: str, sid: str) -> str:
        return self._key(sender, "sid", sid)

    def code_key(self, sender: str, slug: str) -> str:
        return self._key(sender, "code", slug)

    def lock_key(self, sender: str, slug: str) -> str:
        return self._key(sender, "lock", slug)

    def optout_key(self, sender: str) -> str:
        return self._key(sender, "optout")

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

    def begin(
        self,
        sid: str,
        sender: str,
        *,
        slug: str | None,
        check_optout: bool,
        limit: RateLimit | None,
    ) -> Decision:
        """Claim `sid` and decide, in one round trip. See the module docstring."""
        sid_key = self.sid_key(sender, sid)
        keys = [
            sid_key,
            self.optout_key(sender),
            self._key(sender, "rate"),
            self._key(sender, "notice"),
            self.code_key(sender, slug) if slug else sid_key,
        ]
        args = [
            PENDING_TTL_MS,
            "1" if check_optout else "0",
            limit.interval_ms if limit else 0,
            limit.burst if limit else 0,
            int(limit.period_s * 1000) if limit else 0,
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

    def release(self, sid: str, sender: str) -> None:
        """Give up a claim whose handling failed before a reply, so Twilio's retry can succeed."""
        self._run(self._release, [self.sid_key(sender, sid)], [])

    def acquire_lock(self, sender: str, slug: str, token: str, ttl_ms: int) -> bool:
        try:
            return bool(self.client.set(self.lock_key(sender, slug), token, nx=True, px=ttl_ms))
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc

    def unlock(self, sender: str, slug: str, token: str) -> None:
        self._run(self._unlock, [self.lock_key(sender, slug)], [token])

    def cached_code(self, sender: str, slug: str) -> str | None:
        try:
            value = self.client.get(self.code_key(sender, slug))
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc
        return _text(value) if value is not None else None

    def stored_reply(self, sender: str, sid: str) -> str | None:
        try:
            value = self.client.get(self.sid_key(sender, sid))
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc
        value = _text(value) if value is not None else None
        return value[1:] if value and value.startswith("R") else None

    def is_opted_out(self, sender: str) -> bool:
        try:
            return bool(self.client.exists(self.optout_key(sender)))
        except redis.exceptions.RedisError as exc:
            raise StoreUnavailable(f"{self.description}: {exc}") from exc

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
