"""Every Redis key and Lua script of the bot lives in this package, and nowhere else.

`Store` is the one facade the rest of the bot uses; its parts, by concern:

    keys.py        every key, and the table of keys, types and lifetimes
    scripts.py     the Lua scripts (bot/lua/*.lua): one table of name -> files
    connection.py  the client, the scripts registered once, Redis errors translated in one place
    senders.py     one customer's state: begin/finish, opt-outs, codes, the consent log
    gate.py        Talon.One's circuit breaker and budgets, GCRA buckets
    jobs.py        the leased queues (late replies, outreach) and the sent markers
    outreach.py    audiences, the birthday index, outreach claims, the send pace, the planner's lease
    stats.py       the results funnel: scans and texts per hour; outbound texts per hour
    forms.py       the landing form's nonces, budget and alerts; the marketer login's limiter
    entries.py     a competition's entries (window on Redis's clock) and its draw's state
    receipts.py    each outbound text's last status (Twilio's callbacks), numbers not to text
    channels.py    WhatsApp's 24-hour window and refusals per number
    broadcasts.py  a broadcast's record, audience snapshot and progress counts

Rate limits and the breaker run on Redis's clock (``TIME`` inside the
scripts), never the app's, so every worker and host agrees.
"""

from __future__ import annotations

import logging

import redis

from .broadcasts import BroadcastRecord, Broadcasts, broadcast_occasion, broadcast_of
from .channels import ChannelState, WhatsAppState
from .connection import UNAVAILABLE, OneCallPacker, map_redis_errors
from .entries import DrawState, Entries, Entry, EntryResult
from .forms import LOGIN_ALL_LOCKED, LOGIN_LOCKED, LOGIN_OK, Forms
from .gate import Gate, GateCheck, UpstreamGate
from .jobs import Jobs
from .outreach import ASK_TTL_MS, OUTREACH_COUNTS, AudienceRecord, Outreach, Recipient, is_final
from .receipts import (
    FINAL_STATUSES,
    STATUS_RANK,
    UNDELIVERABLE_TTL_MS,
    Receipt,
    Receipts,
)
from .senders import (
    CONSENT_MAX_EVENTS,
    DEFAULT_CODE_TTL_MS,
    PENDING_TTL_MS,
    REPLY_TTL_MS,
    CachedReply,
    ConsentEvent,
    Decision,
    Issuance,
    SenderState,
    Status,
)
from .stats import FUNNEL_RETENTION_DAYS, NO_POSTER, SEEN_TTL_MS, Stats, funnel_field, funnel_hour

__all__ = [
    "BroadcastRecord", "broadcast_occasion", "broadcast_of",
    "ASK_TTL_MS", "OUTREACH_COUNTS", "AudienceRecord", "Recipient", "is_final",
    "CONSENT_MAX_EVENTS", "DEFAULT_CODE_TTL_MS", "FINAL_STATUSES", "FUNNEL_RETENTION_DAYS", "LOGIN_ALL_LOCKED",
    "LOGIN_LOCKED", "LOGIN_OK", "NO_POSTER", "PENDING_TTL_MS", "REPLY_TTL_MS", "SEEN_TTL_MS", "STATUS_RANK",
    "UNAVAILABLE", "UNDELIVERABLE_TTL_MS", "CachedReply", "ConsentEvent", "Decision", "DrawState", "Entry",
    "EntryResult", "Gate", "GateCheck", "Issuance", "OneCallPacker", "Receipt", "Status", "WhatsAppState",
    "Store", "connect", "funnel_field", "funnel_hour", "map_redis_errors",
]

log = logging.getLogger(__name__)


class Store(SenderState, UpstreamGate, Jobs, Outreach, Stats, Entries, Forms, Receipts, ChannelState,
            Broadcasts):
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
    if cluster:  # RedisCluster passes its nodes no command_packer
        return Store(_cluster_client(redis_url, options), prefix=prefix, description="redis cluster")
    client = redis.Redis.from_url(redis_url, command_packer=OneCallPacker(), **options)
    return Store(client, prefix=prefix, description="redis")


def _cluster_client(redis_url: str, options: dict):
    """A RedisCluster seeded with every node of REDIS_URL (comma-separated): it starts while any answers.

    The first URL's credentials, TLS and database apply to all; a seed that is down
    is skipped, and a failover's new primary is found from the cluster's own map.
    """
    from urllib.parse import urlsplit

    from redis.cluster import ClusterNode, RedisCluster

    from ..config import redis_nodes

    nodes = redis_nodes(redis_url)
    seeds = [ClusterNode(urlsplit(node).hostname or "127.0.0.1", urlsplit(node).port or 6379) for node in nodes]
    with map_redis_errors("redis cluster"):
        return RedisCluster.from_url(nodes[0], startup_nodes=seeds, **options)
