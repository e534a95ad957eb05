"""The store's one way to Redis: its scripts registered once, and Redis errors translated in one place.

`map_redis_errors` turns the errors that mean "Redis cannot be used now"
(connection, timeout, loading, cluster down or moving, read-only replica,
out of memory) into `StoreUnavailable`, which callers answer with the busy
reply or a retry. Every other error (a Lua bug's ResponseError, a wrong
type) is a bug and raises as itself. A script Redis does not know
(NoScriptError: restarted, emptied, failed over) is loaded again and run.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import hiredis
import redis
import redis.exceptions
from redis.connection import HiredisRespSerializer

from ..errors import StoreUnavailable
from .keys import Keys
from .scripts import SCRIPTS, source

#: The Redis errors that mean the store is unavailable, not that the bot is wrong.
UNAVAILABLE: tuple[type[Exception], ...] = tuple(
    getattr(redis.exceptions, name)
    for name in (
        "ConnectionError",  # also BusyLoadingError, AuthenticationError, MaxConnectionsError
        "TimeoutError",
        "BusyLoadingError",
        "ClusterDownError",  # also MasterDownError
        "MasterDownError",
        "ClusterError",  # a cluster's redirections or retries ran out
        "TryAgainError",
        "ReadOnlyError",
        "OutOfMemoryError",  # maxmemory reached with noeviction: writes refused until freed
        "RedisClusterException",  # not a RedisError: no slot covered, no node reachable at start
    )
    if hasattr(redis.exceptions, name)
)


@contextlib.contextmanager
def map_redis_errors(description: str) -> Iterator[None]:
    """Raise `StoreUnavailable` for the errors in `UNAVAILABLE`; let every other error through."""
    try:
        yield
    except UNAVAILABLE as exc:
        raise unavailable(description, exc) from exc


def unavailable(description: str, exc: Exception) -> StoreUnavailable:
    """What one of the `UNAVAILABLE` errors becomes."""
    return StoreUnavailable(f"{description}: {exc}")


class OneCallPacker:
    """redis-py's packing of a command with hiredis, in the one call to hiredis.

    redis-py's `HiredisRespSerializer` first passes every argument through a
    Python generator (turning bytearray and memoryview into bytes): half the
    packing of begin's 28 arguments, 39 k of a repeat texter's instructions
    (`make bench-instructions`). Here hiredis gets the arguments as they are;
    a command name with a space in it ("CONFIG GET") and whatever hiredis
    refuses go to redis-py's own serializer, so the bytes are the same.
    A single-node client's `command_packer` (`connect`).
    """

    def __init__(self) -> None:
        self._redis_py = HiredisRespSerializer()

    def pack(self, *args: Any) -> list[bytes]:
        name = args[0]
        if type(name) is str and " " not in name:
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass
        return self._redis_py.pack(*args)


class ThreadClients:
    """A single-connection client per thread on one node's pool: the client the scripts run on.

    Around every command, a pooled redis-py client takes a connection from the
    pool and gives it back: a lock, a fork check and a poll of the socket for
    stray bytes or a hang-up each time, 69 k of a repeat texter's 1.06 M
    instructions (callgrind, each counted alone), and the poll is one more system
    call in which the worker's other threads take the GIL. A thread that keeps
    one connection (redis-py's own `single_connection_client`) pays none of it.

    The poll is kept where it finds something: on a connection idle for
    `IDLE_S` or more, which is when servers and proxies close them (Redis's
    `timeout`, a restart between two quiet texts). Such a connection is dropped
    and the command connects afresh, as the pool would. One closed within the
    last second of use fails its next command (StoreUnavailable: the busy
    reply), and redis-py drops it; the thread's next command connects again.
    A thread's client keeps its connection until the thread ends (gunicorn's
    threads live as long as their worker); after a fork the child makes its own.
    """

    #: Seconds unused after which a connection is polled before it is used again.
    IDLE_S = 1.0

    def __init__(self, pool: redis.ConnectionPool, *, clock: Callable[[], float] = time.monotonic):
        self.pool = pool
        self.clock = clock
        self._local = threading.local()
        _thread_clients.add(self)

    def get(self) -> redis.Redis:
        local, now = self._local, self.clock()
        client = getattr(local, "client", None)
        if client is None:  # connects now: a Redis that is down raises here, as the command would
            client = local.client = redis.Redis(connection_pool=self.pool, single_connection_client=True)
        elif now - local.used_at >= self.IDLE_S:
            _drop_if_closed(client.connection)
        local.used_at = now
        return client

    def forget(self) -> None:
        """In a forked child: the parent's connections are the parent's (the pool, too, starts afresh)."""
        self._local = threading.local()


def _drop_if_closed(connection: redis.connection.AbstractConnection) -> None:
    """What redis-py's pool checks before it hands out a connection: nothing to read on it (no reply
    left over, no hang-up); else it is disconnected, and the next command connects."""
    try:
        if connection.can_read():
            connection.disconnect()
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
        connection.disconnect()


_thread_clients: weakref.WeakSet[ThreadClients] = weakref.WeakSet()


def _forget_thread_clients() -> None:
    for clients in list(_thread_clients):
        clients.forget()


os.register_at_fork(after_in_child=_forget_thread_clients)


def text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class Connection(Keys):
    """One Redis client (node, cluster or the embedded store) with the bot's scripts registered."""

    def __init__(self, client: redis.Redis | Any, *, prefix: str = "kcb", description: str = "redis"):
        self.client = client
        self.prefix = prefix
        self.description = description
        self._scripts = {name: client.register_script(source(name)) for name in SCRIPTS}
        #: One node (or the embedded store): a script may touch keys of any cluster slot.
        self.one_node = not hasattr(client, "get_primaries")
        #: Where the scripts run: a connection per thread on one redis-server's pool (not a cluster's nodes
        #: or the embedded store's, whose clients are their own classes); else `client` itself.
        self.thread_clients = ThreadClients(client.connection_pool) if type(client) is redis.Redis else None
        self._script_client = self.thread_clients.get if self.thread_clients else (lambda: client)

    def _unavailable(self) -> contextlib.AbstractContextManager[None]:
        return map_redis_errors(self.description)

    def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA of `script`; on NoScriptError (a restarted or emptied Redis) it is loaded and run again.

        Written out rather than `with map_redis_errors(...)` around redis-py's `Script(...)`: every webhook
        runs one, and those two wrappers cost about a tenth of its Redis call's client time."""
        registered = self._scripts[script]
        try:
            client = self._script_client()
            try:
                return client.evalsha(registered.sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                registered.sha = client.script_load(registered.script)  # as redis-py's Script would
                return client.evalsha(registered.sha, len(keys), *keys, *args)
        except UNAVAILABLE as exc:
            raise unavailable(self.description, exc) from exc

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._unavailable():
            return getattr(self.client, method)(*args, **kwargs)

    def server_config(self, *names: str) -> dict[str, dict[str, str]] | None:
        """CONFIG GET of `names`, per primary (one node: the key ""), or None when Redis refuses CONFIG
        (managed services often rename or disable it). For `bot doctor`: does Redis keep what it is told?"""
        try:
            with self._unavailable():
                if not self.one_node:  # a cluster: every primary holds some slots
                    primaries = self.client.get_primaries()
                    return {node.name: self._config_of(names, target_nodes=node) for node in primaries}
                return {"": self._config_of(names)}
        except redis.exceptions.ResponseError:
            return None

    def _config_of(self, names: tuple[str, ...], **target: Any) -> dict[str, str]:
        return {
            text(key): text(value)
            for name in names
            for key, value in self.client.config_get(name, **target).items()
        }

    def ping(self) -> bool:
        """Whether Redis answers: the health check's probe, so any Redis error is a no."""
        try:
            return bool(self.client.ping())
        except (redis.exceptions.RedisError, *UNAVAILABLE):
            return False
