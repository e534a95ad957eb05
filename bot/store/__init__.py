"""Every Redis key and Lua script of the bot lives in this package, and nowhere else.

`Store` is the one facade the rest of the bot uses; its parts, by concern:

    keys.py        every key, and the table of keys, types and lifetimes
    scripts.py     the Lua scripts (bot/lua/*.lua): one table of name -> files
    connection.py  the client, the scripts registered once, Redis errors translated in one place
    senders.py     one customer's state: begin/finish, opt-outs, codes, the consent log
    gate.py        Talon.One's circuit breaker and budgets, GCRA buckets
    jobs.py        the late-delivery queue and the sent markers
    stats.py       the results funnel: scans and texts per hour
    entries.py     a competition's entries (window on Redis's clock) and its draw's state
    channels.py    WhatsApp's 24-hour window and refusals per number

Rate limits and the breaker run on Redis's clock (``TIME`` inside the
scripts), never the app's, so every worker and host agrees.
"""

from __future__ import annotations

import logging

import redis

from .channels import ChannelState, WhatsAppState
from .connection import UNAVAILABLE, map_redis_errors
from .entries import DrawState, Entries, Entry, EntryResult
from .gate import Gate, UpstreamGate
from .jobs import Jobs
from .senders import (
    CONSENT_MAX_EVENTS,
    DEFAULT_CODE_TTL_MS,
    PENDING_TTL_MS,
    REPLY_TTL_MS,
    ConsentEvent,
    Decision,
    Issuance,
    SenderState,
    Status,
)
from .stats import FUNNEL_RETENTION_DAYS, NO_POSTER, SEEN_TTL_MS, Stats, funnel_field, funnel_hour

__all__ = [
    "CONSENT_MAX_EVENTS", "DEFAULT_CODE_TTL_MS", "FUNNEL_RETENTION_DAYS", "NO_POSTER", "PENDING_TTL_MS",
    "REPLY_TTL_MS", "SEEN_TTL_MS", "UNAVAILABLE", "ConsentEvent", "Decision", "DrawState", "Entry", "EntryResult",
    "Gate", "Issuance", "Status", "WhatsAppState",
    "Store", "connect", "funnel_field", "funnel_hour", "map_redis_errors",
]

log = logging.getLogger(__name__)


class Store(SenderState, UpstreamGate, Jobs, Stats, Entries, ChannelState):
    """The bot's shared state on one Redis (node or cluster) or the embedded store."""


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
