"""A real redis-server for the tests, on a free loopback port, in a temporary folder."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+ 10000) is free too, at the time of asking."""
    while True:
        port = free_port()
        if port >= 55000:  # the bus port would be past 65535
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def redis_server_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed: the tests need a real Redis. "
            "Run `make test` (installs Debian's redis-server when root) or set REDIS_URL."
        )
    return binary


class RedisServer:
    """One redis-server process. `stop()`/`start()` keep the port, for restart tests."""

    def __init__(self, *extra_args: str, port: int | None = None,
                 choose_port: Callable[[], int] = free_port):
        self.port = port or choose_port()
        self.dir = Path(tempfile.mkdtemp(prefix="kcb-redis-"))
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None
        #: While this object chose the port and never served on it, `start` may choose another.
        self._choose_port: Callable[[], int] | None = None if port else choose_port

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        for attempt in range(3):
            try:
                self._start()
                break
            except RuntimeError:
                # The free port was taken between choosing it and redis-server binding it (any process's
                # outgoing connection may get it): another one, unless the caller chose this port.
                self.stop()
                if self._choose_port is None or attempt == 2:
                    raise
                self.port = self._choose_port()
        self._choose_port = None  # restarts keep the port the tests already use
        return self

    def _start(self) -> None:
        args = [
            redis_server_binary(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "no",
            *self.extra_args,
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:  # poll until the server accepts commands: a readiness check, not a sleep
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError as exc:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {self.process.stderr.read().decode()}") from exc
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start within 10 s") from exc
                time.sleep(0.02)
        client.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisCluster:
    """Masters (and optionally a replica each) on loopback, joined with `redis-cli --cluster create`."""

    def __init__(self, masters: int = 3, replicas: int = 0):
        self.replicas = replicas
        self.nodes: list[RedisServer] = []
        while len(self.nodes) < masters * (1 + replicas):
            node = RedisServer("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                               "--cluster-node-timeout", "1000", choose_port=free_cluster_port)
            if any(other.port == node.port for other in self.nodes):
                node.cleanup()
            else:
                self.nodes.append(node)

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> RedisCluster:
        for node in self.nodes:  # each takes another port pair if its own was taken meanwhile
            node.start()
        redis_cli = shutil.which("redis-cli")
        if redis_cli is None:
            raise RuntimeError("redis-cli is not installed (it comes with Debian's redis-server / redis-tools)")
        subprocess.run(
            [redis_cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )
        self.wait_until_ok()
        self.wait_for_replicas()
        return self

    def wait_for_replicas(self, timeout: float = 30) -> None:
        """Poll until every replica has synced with its master: a replica that never did cannot take over."""
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            client = redis.Redis(port=node.port)
            while True:
                info = client.info("replication")
                if info.get("role") != "slave" or info.get("master_link_status") == "up":
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"a test cluster replica did not sync within {timeout} s")
                time.sleep(0.05)
            client.close()

    def live_nodes(self) -> list[RedisServer]:
        return [n for n in self.nodes if n.process and n.process.poll() is None]

    def wait_until_ok(self, timeout: float = 30) -> None:
        """Poll until every live node sees all slots served (after a start or a failover)."""
        self.wait_ok(self.live_nodes(), timeout)

    def kill_master(self) -> RedisServer:
        """SIGKILL (by PID) a master other than the first node (the clients' start-up node)."""
        for node in self.live_nodes()[1:]:
            client = redis.Redis(port=node.port)
            role = client.execute_command("ROLE")[0]
            client.close()
            if role in (b"master", "master"):
                node.process.kill()
                node.process.wait(timeout=10)
                return node
        raise RuntimeError("no live master to kill")

    def wait_ok(self, nodes: list[RedisServer], timeout: float = 30) -> None:
        """Poll until each of `nodes` sees every slot served (after a start or a failover)."""
        deadline = time.monotonic() + timeout
        for node in nodes:
            client = redis.Redis(port=node.port)
            while client.cluster("info").get("cluster_state") != "ok":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the test cluster did not reach cluster_state:ok within {timeout} s")
                time.sleep(0.05)
            client.close()

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()
