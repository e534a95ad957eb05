"""The store's fast layer, on the real redis-server: decisions, limits, the job queue, error translation."""

from __future__ import annotations

import datetime as dt
import inspect
import os
import re
import threading
import uuid

import pytest
import redis
import redis.connection
import redis.exceptions

from bot.errors import StoreUnavailable
from bot.limits import BreakerPolicy, RateLimit
from bot.store import (
    UNAVAILABLE,
    ConsentEvent,
    Issuance,
    OneCallPacker,
    Store,
    connect,
    funnel_field,
    funnel_hour,
    map_redis_errors,
)
from bot.store.scripts import SCRIPTS, lua_file
from bot.store.senders import finish_args
from tests.support.clock import Seconds
from tests.support.redis_server import RedisServer

SENDER = "+15551230000"
HOUR = 3600


@pytest.fixture
def store(redis_url) -> Store:
    store = connect(redis_url, prefix="s" + uuid.uuid4().hex[:12])
    yield store
    store.client.close()


def sid() -> str:
    return "SM" + uuid.uuid4().hex


def issuance(token: str = "t1") -> Issuance:
    return Issuance("spring", lock_token=token, lock_ttl_ms=10_000)


# -- begin / finish


def test_the_first_text_takes_the_lock_a_second_waits_and_the_code_then_serves_both(store):
    first, second, third = sid(), sid(), sid()
    assert store.begin(first, SENDER, check_optout=True, limit=None, issuance=issuance("a")).status == "issue"
    assert store.begin(second, SENDER, check_optout=True, limit=None, issuance=issuance("b")).status == "wait"
    store.finish(first, SENDER, "Your code: C1", slug="spring", code="C1", lock_token="a")
    again = store.begin(third, SENDER, check_optout=True, limit=None, issuance=issuance("c"))
    assert (again.status, again.code) == ("ok", "C1")
    assert store.cached_code(SENDER, "spring") == "C1"
    assert not store.client.exists(store.lock_key(SENDER, "spring"))  # released by finish


def test_a_redelivered_sid_is_in_flight_then_replayed(store):
    message = sid()
    assert store.begin(message, SENDER, check_optout=True, limit=None).status == "ok"
    assert store.begin(message, SENDER, check_optout=True, limit=None).status == "in_flight"
    store.finish(message, SENDER, "Hello")
    replay = store.begin(message, SENDER, check_optout=True, limit=None)
    assert (replay.status, replay.reply) == ("replay", "Hello")
    assert store.stored_reply(SENDER, message) == "Hello"


def test_a_released_claim_lets_the_retry_run(store):
    message = sid()
    store.begin(message, SENDER, check_optout=True, limit=None)
    store.release(message, SENDER)
    assert store.begin(message, SENDER, check_optout=True, limit=None).status == "ok"


def test_an_opt_out_is_kept_until_the_opt_in(store):
    store.finish(sid(), SENDER, "Unsubscribed", optout="out", word="STOP")
    assert store.is_opted_out(SENDER)
    assert store.begin(sid(), SENDER, check_optout=True, limit=None).status == "opted_out"
    assert store.begin(sid(), SENDER, check_optout=False, limit=None).status == "ok"  # START itself gets through
    store.finish(sid(), SENDER, "Welcome back", optout="in", word="START")
    assert not store.is_opted_out(SENDER)


def test_an_opt_in_source_is_logged_once_per_campaign(store):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    for _ in range(2):
        event = ConsentEvent("opt_in_source", now, "SAVE", "spring", "sms")
        store.finish(sid(), SENDER, "code", consent=event, consent_retention_days=30)
    store.finish(sid(), SENDER, "bye", optout="out", word="STOP", consent=ConsentEvent("opt_out", now, "STOP"))
    events = [(e.sender, e.event, e.campaign, e.word) for e in store.consent_log(now=now, retention_days=30)]
    assert events == [(SENDER, "opt_in_source", "spring", "SAVE"), (SENDER, "opt_out", "", "STOP")]


def test_finish_argv_is_built_in_the_order_the_script_names_it():
    named = re.findall(r"^local (\w+) = ARGV\[(\d+)\]", lua_file("finish"), re.MULTILINE)
    assert [int(n) for _, n in named] == list(range(1, len(named) + 1))
    assert [name for name, _ in named] == list(inspect.signature(finish_args).parameters)


# -- GCRA limits and the upstream gate


def test_the_sender_limit_allows_the_burst_then_one_notice(store):
    limit = RateLimit(rate=1, per_seconds=HOUR, burst=2)
    decisions = [store.begin(sid(), SENDER, check_optout=True, limit=limit) for _ in range(4)]
    assert [(d.status, d.notice) for d in decisions] == [
        ("ok", False), ("ok", False), ("limited", True), ("limited", False)
    ]


def test_a_bucket_allows_its_burst(store):
    limit = RateLimit(rate=1, per_seconds=HOUR, burst=3)
    key = store.bucket_key("web", "client-a")
    assert [store.allow(key, limit) for _ in range(4)] == [True, True, True, False]
    assert store.allow(store.bucket_key("web", "client-b"), limit)  # another bucket is its own


def test_the_breaker_opens_after_its_failures_and_the_budget_says_over(store):
    breaker = BreakerPolicy(failures=2, window_s=60, cooldown_s=60)
    assert store.upstream_gate("spring", None, probe_ttl_ms=1000).state == "go"
    assert store.record_upstream(False, breaker) is False
    assert store.record_upstream(False, breaker) is True
    gate = store.upstream_gate("spring", None, probe_ttl_ms=1000)
    assert gate.state == "open" and 0 < gate.retry_in_ms <= 60_000
    assert store.breaker_state() == "open"
    store.record_upstream(True, breaker)
    assert store.breaker_state() == "closed"
    budget = RateLimit(rate=1, per_seconds=HOUR, burst=1)
    assert [store.upstream_gate("autumn", budget, probe_ttl_ms=1000).state for _ in range(2)] == ["go", "over"]


def test_begin_passes_a_first_code_through_the_gate_in_its_own_round_trip(store):
    """On one node the issuance's lock and the upstream gate are one script: the budget is taken only
    by a text that is to call Talon.One, and an open breaker or a spent budget comes back with the lock."""
    budget = RateLimit(rate=1, per_seconds=HOUR, burst=1)
    check = store.gate_check("spring", budget, probe_ttl_ms=1000)
    first = store.begin(sid(), SENDER, check_optout=True, limit=None, issuance=issuance(), gate=check)
    assert (first.status, first.gate.state, first.gate.failures) == ("issue", "go", 0)
    waiting = store.begin(sid(), SENDER, check_optout=True, limit=None, issuance=issuance(), gate=check)
    assert (waiting.status, waiting.gate) == ("wait", None)  # another text holds the lock: no budget taken
    over = store.begin(sid(), "+15551230001", check_optout=True, limit=None, issuance=issuance(), gate=check)
    assert (over.status, over.gate.state) == ("issue", "over") and over.gate.retry_in_ms > 0
    assert store.upstream_gate("spring", budget, probe_ttl_ms=1000).state == "over"  # the gate's own script agrees
    breaker = BreakerPolicy(failures=1, window_s=60, cooldown_s=60)
    assert store.record_upstream(False, breaker) is True
    opened = store.begin(sid(), "+15551230002", check_optout=True, limit=None, issuance=issuance(),
                         gate=store.gate_check("autumn", None, probe_ttl_ms=1000))
    assert (opened.status, opened.gate.state) == ("issue", "open") and opened.gate.retry_in_ms > 0
    assert store.upstream_gate("autumn", None, probe_ttl_ms=1000).state == "open"


def test_on_a_cluster_begin_refuses_the_gate_whose_keys_are_in_other_slots(store):
    store.one_node = False  # as Connection finds a RedisCluster client
    with pytest.raises(ValueError, match="cluster slot"):
        store.begin(sid(), SENDER, check_optout=True, limit=None, issuance=issuance(),
                    gate=store.gate_check("spring", None, probe_ttl_ms=1000))


@pytest.mark.parametrize("command", [
    ("EVALSHA", "a" * 40, 2, "kcb:{+15551230000}:sid:SM1", "k2", 30_000, "1", 0, 1.5, "ünï ✓", b"\x00\xff"),
    ("SET", "k", bytearray(b"v"), "PX", 100), ("SET", "k", memoryview(b"v")), ("CONFIG GET", "maxmemory"),
    (b"CONFIG GET", "maxmemory-policy"), ("GET", ""),
])
def test_one_call_packing_gives_redis_pys_bytes(command):
    from redis.connection import HiredisRespSerializer

    assert OneCallPacker().pack(*command) == HiredisRespSerializer().pack(*command)


def test_a_refused_argument_is_the_same_error_as_redis_pys():
    from redis.connection import HiredisRespSerializer

    for packer in (OneCallPacker(), HiredisRespSerializer()):
        with pytest.raises(redis.exceptions.DataError):
            packer.pack("SET", "k", object())


def test_the_store_packs_with_one_call_on_one_node(redis_url):
    store = connect(redis_url, prefix="p" + uuid.uuid4().hex[:12])
    assert isinstance(store.client.connection_pool.connection_kwargs["command_packer"], OneCallPacker)
    assert store.begin(sid(), SENDER, check_optout=True, limit=None).status == "ok"


# -- the late-delivery queue and the sent markers


def test_a_job_is_queued_once_leased_retried_and_completed(store):
    assert store.enqueue("job-1", '{"n": 1}') is True
    assert store.enqueue("job-1", '{"n": 2}') is False  # already waiting
    assert store.claim(lease_ms=60_000) == ("job-1", '{"n": 1}', 1)
    assert store.claim(lease_ms=60_000) is None  # leased
    store.retry_later("job-1", delay_ms=0)
    assert store.claim(lease_ms=0) == ("job-1", '{"n": 1}', 2)
    assert store.claim(lease_ms=60_000) == ("job-1", '{"n": 1}', 3)  # a zero lease ran out: due again
    store.complete("job-1")
    assert store.queued() == 0 and store.claim(lease_ms=60_000) is None


def test_a_delayed_job_is_not_due_yet(store):
    store.enqueue("later", "{}", delay_ms=60_000)
    assert store.queued() == 1 and store.claim(lease_ms=1000) is None


def test_mark_sending_lets_one_caller_send(store):
    assert store.mark_sending(SENDER, "spring") is None
    assert store.mark_sending(SENDER, "spring").startswith("sending:")
    store.mark_sent(SENDER, "spring")
    assert store.mark_sending(SENDER, "spring") == "sent"


# -- the funnel, the one count of scans and texts


def test_poster_stats_sum_the_funnel_and_attribute_only_texts_with_a_ref(store):
    now = dt.datetime.now(dt.UTC)
    day = now.strftime("%Y-%m-%d")
    assert store.count_scan("spring", "main", "visitor-a", day) is True
    assert store.count_scan("spring", "main", "visitor-a", day) is False
    earlier = funnel_hour(now) - dt.timedelta(days=89)
    store.count_funnel({
        (funnel_hour(now), funnel_field("spring", "main", "issued")): 2,
        (earlier, funnel_field("spring", "main", "repeat")): 1,
        (earlier, funnel_field("spring", "none", "issued")): 5,  # no reference: not attributed
        (earlier - dt.timedelta(days=2), funnel_field("spring", "old", "issued")): 1,  # past the retention
    })
    assert store.poster_stats(now) == {("spring", "main"): {"scans": 2, "unique": 1, "texts": 3}}


# -- Redis errors: unavailable is StoreUnavailable, a bug is a bug


def test_a_lua_bug_is_not_reported_as_the_store_being_unavailable(store):
    with pytest.raises(redis.exceptions.ResponseError) as raised:
        store._run("allow", [store.bucket_key("web", "x")], ["not a number", "1"])  # every script call's path
    assert not isinstance(raised.value, StoreUnavailable)
    assert "arithmetic" in str(raised.value) or "compare" in str(raised.value)  # Lua's own complaint


def test_a_flushed_script_cache_is_reloaded(store):
    store.client.script_flush()
    assert store.begin(sid(), SENDER, check_optout=True, limit=None).status == "ok"


def test_a_stopped_redis_is_store_unavailable_on_every_kind_of_call():
    server = RedisServer().start()
    try:
        store = connect(server.url, prefix="gone")
        assert store.ping()
        server.stop()
        calls = {
            "script": lambda: store.begin(sid(), SENDER, check_optout=True, limit=None),
            "command": lambda: store.cached_code(SENDER, "spring"),
            "pipeline": lambda: store.complete("job-1"),
            "reading pipeline": lambda: store.funnel_counts([dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]),
            "scan": lambda: list(store.consent_log(now=dt.datetime.now(dt.UTC), retention_days=1)),
        }
        for call in calls.values():
            with pytest.raises(StoreUnavailable, match="redis: "):
                call()
        assert store.ping() is False
    finally:
        server.cleanup()


@pytest.mark.parametrize("error", [
    redis.exceptions.ConnectionError("refused"), redis.exceptions.TimeoutError("slow"),
    redis.exceptions.BusyLoadingError("loading"), redis.exceptions.ClusterDownError("down"),
    redis.exceptions.TryAgainError("again"), redis.exceptions.ReadOnlyError("replica"),
    redis.exceptions.MasterDownError("master down"), redis.exceptions.RedisClusterException("no slot"),
], ids=lambda e: type(e).__name__)
def test_the_unavailable_errors_are_translated(error):
    assert isinstance(error, UNAVAILABLE)
    with pytest.raises(StoreUnavailable, match="cluster: ") as raised:
        with map_redis_errors("cluster"):
            raise error
    assert raised.value.__cause__ is error


@pytest.mark.parametrize("error", [
    redis.exceptions.ResponseError("ERR user_script:1: attempt to compare nil with number"),
    redis.exceptions.DataError("bad argument"), redis.exceptions.NoScriptError("NOSCRIPT"),
], ids=lambda e: type(e).__name__)
def test_bugs_raise_as_themselves(error):
    with pytest.raises(type(error)) as raised:
        with map_redis_errors("redis"):
            raise error
    assert raised.value is error


# -- the scripts' connection per thread


class ConnectionsSeen(redis.connection.Connection):
    """Records which connection each thread sent on."""

    seen: list[tuple[int, int]] = []

    def send_packed_command(self, command, check_health=True):
        self.seen.append((threading.get_ident(), id(self)))
        return super().send_packed_command(command, check_health)


def test_each_thread_runs_its_scripts_on_one_connection_of_its_own(redis_url):
    pool = redis.ConnectionPool.from_url(redis_url, connection_class=ConnectionsSeen)
    store = Store(redis.Redis(connection_pool=pool), prefix="t" + uuid.uuid4().hex[:12])
    ConnectionsSeen.seen = []

    def texts() -> None:
        for _ in range(20):
            assert store.begin(sid(), SENDER, check_optout=True, limit=None).status == "ok"

    threads = [threading.Thread(target=texts) for _ in range(3)]
    for thread in threads:
        thread.start()
    texts()
    for thread in threads:
        thread.join()
    by_thread: dict[int, set[int]] = {}
    for thread_id, connection in ConnectionsSeen.seen:
        by_thread.setdefault(thread_id, set()).add(connection)
    assert len(by_thread) == 4 and all(len(used) == 1 for used in by_thread.values())
    assert len(set().union(*by_thread.values())) == 4  # none shared
    pool.disconnect()


def test_a_connection_the_server_closed_while_idle_is_replaced_before_the_next_script(redis_url):
    store = connect(redis_url, prefix="t" + uuid.uuid4().hex[:12])
    store.thread_clients.clock = clock = Seconds()
    admin = redis.Redis.from_url(redis_url)
    assert store.take_form_budget(100)
    admin.client_kill_filter(_id=store.thread_clients.get().client_id())  # as Redis's idle `timeout` would
    clock.now += store.thread_clients.IDLE_S
    assert store.take_form_budget(100)
    store.client.close()


def test_a_connection_closed_in_use_fails_one_script_then_connects_again(redis_url):
    """Within a second of its last use a connection is not polled: the one script on it is the busy reply."""
    store = connect(redis_url, prefix="t" + uuid.uuid4().hex[:12])
    store.thread_clients.clock = Seconds()
    admin = redis.Redis.from_url(redis_url)
    assert store.take_form_budget(100)
    admin.client_kill_filter(_id=store.thread_clients.get().client_id())
    with pytest.raises(StoreUnavailable, match="closed"):
        store.take_form_budget(100)
    assert store.take_form_budget(100)
    store.client.close()


def test_a_forked_child_makes_its_own_connection(redis_url):
    store = connect(redis_url, prefix="t" + uuid.uuid4().hex[:12])
    parents = store.thread_clients.get()
    parent_id = parents.client_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a script on a connection of its own, and its client id for the parent
        try:
            ok = store.take_form_nonce(store.issue_form_nonce("spring", 60_000), "spring")
            os.write(write, f"{ok} {store.thread_clients.get().client_id()}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        ok, child_id = answer.read().split()
    os.waitpid(pid, 0)
    assert ok == "True" and int(child_id) != parent_id
    assert store.thread_clients.get() is parents and store.take_form_budget(100)  # the parent's still works
    store.client.close()


# -- the scripts' files


def test_every_lua_file_is_in_the_table_and_names_its_keys_and_argv():
    from importlib import resources

    files = {p.name[:-4] for p in resources.files("bot").joinpath("lua").iterdir() if p.name.endswith(".lua")}
    used = {part for parts in SCRIPTS.values() for part in parts}
    assert used == files
    preludes = {"clock", "gcra", "upstream_gate"}  # functions, not scripts: their callers name the keys
    for name in files - preludes:
        head = lua_file(name).split("\n\n")[0]
        assert "KEYS" in head and "ARGV" in head, name
