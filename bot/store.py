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
``P:{sender}:webrate``                 GCRA time (ms)         the landing form's limit per number (texts
                                                              sent to a number typed on a web page)
``P:{web:<ip hash>}:webrate``          GCRA time (ms)         the landing form's limit per client; the
                                                              IP is kept only as a salted HMAC
``P:{stats}:scans``                    hash ``campaign|poster``  no expiry: counted QR scans (GET, no
                                       -> count               crawlers)
``P:{stats}:unique``                   hash, same fields      no expiry: first scan of a visitor that day
``P:{stats}:texts``                    hash, same fields      no expiry: texts carrying a poster's ref
``P:{stats}:seen:<YYYY-MM-DD>``        set of visitor hashes  48 h: a visitor is HMAC(daily salt, IP, user
                                                              agent, slug); the salt derives from
                                                              BOT_SECRET and the day and is never stored
=====================================  =====================  ==========================================

`Store.begin` makes a repeat texter's whole decision (claim the MessageSid,
opt-out, rate limit, cached code) in one script call; `Store.finish` stores
the reply (and a first texter's code) in one more.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import redis
import redis.exceptions

from .errors import StoreUnavailable

log = logging.getLogger(__name__)

PENDING_TTL_MS = 30_000
REPLY_TTL_MS = 24 * 3600 * 1000
DEFAULT_CODE_TTL_MS = 400 * 24 * 3600 * 1000

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

# KEYS: sid, code, lock, optout
# ARGV: reply, reply_ttl_ms, code ('' = none), code_ttl_ms, lock_token ('' = none),
#       optout ('' | 'out' | 'in'), optout_word, now_iso
_FINISH = """
redis.call('SET', KEYS[1], 'R' .. ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
if ARGV[5] ~= '' and redis.call('GET', KEYS[3]) == ARGV[5] then redis.call('DEL', KEYS[3]) end
if ARGV[6] == 'out' then
  redis.call('HSET', KEYS[4], 'at', ARGV[8], 'word', ARGV[7])
elseif ARGV[6] == 'in' then
  redis.call('DEL', KEYS[4])
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


# KEYS: seen, scans, unique. ARGV: field, visitor, seen_ttl_ms.
# Counts one scan; returns 1 when the visitor is new today (a unique scan).
_SCAN = """
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local new = redis.call('SADD', KEYS[1], ARGV[2])
if new == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return new
"""

# KEYS: rate. ARGV: interval_ms, burst. GCRA as in _BEGIN: 1 allowed, 0 limited.
_ALLOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > interval * tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 1
"""

SEEN_TTL_MS = 48 * 3600 * 1000
STATS_TAG = "stats"


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
        self._scan = client.register_script(_SCAN)
        self._allow = client.register_script(_ALLOW)

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
    ) -> None:
        """Store the reply for replays; with `code`, cache it; release `lock_token`; record opt-out/in."""
        keys = [
            self.sid_key(sender, sid),
            self.code_key(sender, slug) if slug else self.sid_key(sender, sid),
            self.lock_key(sender, slug) if slug else self.sid_key(sender, sid),
            self.optout_key(sender),
        ]
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        args = [reply, REPLY_TTL_MS, code or "", code_ttl_ms, lock_token or "", optout or "", word, now]
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

    # -- QR scans, poster attribution and the landing form's limits

    def stats_key(self, *parts: str) -> str:
        return ":".join((self.prefix, "{" + STATS_TAG + "}", *parts))

    def count_scan(self, campaign: str, poster: str, visitor: str, day: str) -> bool:
        """Count one scan of a poster; True when `visitor` (a salted hash) is new that day."""
        keys = [self.stats_key("seen", day), self.stats_key("scans"), self.stats_key("unique")]
        return bool(self._run(self._scan, keys, [f"{campaign}|{poster}", visitor, SEEN_TTL_MS]))

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

    def web_number_key(self, sender: str) -> str:
        return self._key(sender, "webrate")

    def web_client_key(self, client_hash: str) -> str:
        return self._key("web:" + client_hash, "webrate")

    def allow(self, key: str, limit: RateLimit) -> bool:
        """One GCRA step on `key` (one of the *_key names above): True when within `limit`."""
        return bool(self._run(self._allow, [key], [limit.interval_ms, limit.burst]))

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
