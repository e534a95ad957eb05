"""A real gunicorn process on a free loopback port, for multi-worker tests and the benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def procfile_web_args(port: int, procfile: Path = ROOT / "Procfile") -> list[str]:
    """The Procfile's `web:` command as written, with PORT set and bound to loopback only."""
    for line in procfile.read_text().splitlines():
        if line.startswith("web:"):
            command = line[len("web:"):].strip()
            break
    else:
        raise RuntimeError(f"{procfile}: no web: line")
    env_free = {"PORT": str(port)}
    # Expand $PORT and ${WEB_CONCURRENCY:-2} the way the shell running the Procfile would.
    expanded = subprocess.run(
        ["bash", "-c", f"printf '%s\\n' {command}"],
        env={"PATH": os.environ["PATH"], **env_free}, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    args = [arg.replace("0.0.0.0:", "127.0.0.1:") for arg in expanded]
    if args[0] != "gunicorn":
        raise RuntimeError(f"{procfile}: the web: line does not start with gunicorn: {command}")
    return [sys.executable, "-m", "gunicorn", *args[1:]]


class Gunicorn:
    """`gunicorn ARGS` in `cwd`, stdout/stderr to files; `start()` waits until `ready_path` answers."""

    def __init__(
        self, args: list[str], *, env: dict[str, str], port: int, cwd: Path = ROOT, ready_path: str = "/healthz"
    ):
        self.args = args
        self.env = env
        self.port = port
        self.cwd = cwd
        self.ready_path = ready_path
        self.dir = Path(tempfile.mkdtemp(prefix="kcb-gunicorn-"))
        self.stdout_path = self.dir / "stdout.log"
        self.stderr_path = self.dir / "stderr.log"
        self.process: subprocess.Popen | None = None

    @classmethod
    def on_free_port(cls, make_args, **kwargs) -> Gunicorn:
        port = free_port()
        return cls(make_args(port), port=port, **kwargs)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> Gunicorn:
        self.process = subprocess.Popen(
            self.args, cwd=self.cwd, env=self.env,
            stdout=self.stdout_path.open("wb"), stderr=self.stderr_path.open("wb"),
        )
        deadline = time.monotonic() + timeout
        while True:  # poll readiness with a deadline
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.stderr()}")
            try:
                if httpx.get(self.url + self.ready_path, timeout=1.0).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not answer {self.ready_path} within {timeout} s:\n{self.stderr()}")
            time.sleep(0.05)
        return self

    def worker_pids(self) -> list[int]:
        """The master's live children, read from /proc."""
        assert self.process is not None
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.process.pid and fields[0] != "Z":
                pids.append(int(stat.parent.name))
        return sorted(pids)

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
