"""The bot as operators run it: gunicorn serving wsgi:app in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bot import Settings
from tests.support.redis_server import free_port

#: The variables of the bot's configuration: a subprocess starts with none of the caller's.
BOT_VARIABLES = ("REDIS_", "TALON_", "TWILIO_", "CAMPAIGNS_", "BOT_")


def clean_environ(*also: str) -> dict[str, str]:
    """This process's environment without the bot's variables (and any prefix in `also`)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(BOT_VARIABLES + also)}


def env_of(settings: Settings, campaigns_file: Path) -> dict[str, str]:
    env = {
        "REDIS_URL": settings.redis_url,
        "REDIS_CLUSTER": "true" if settings.redis_cluster else "false",
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "TALON_API_KEY": settings.talon_api_key,
        "TALON_DEPLOYMENT": settings.talon_deployment,
        "TALON_BASE_URL": settings.talon_base_url,
        "TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "TWILIO_API_URL": settings.twilio_api_url,
        "WEBHOOK_BUDGET_S": str(settings.webhook_budget_s),
        "BREAKER_COOLDOWN_S": str(settings.breaker_cooldown_s),
        "PUBLIC_BASE_URL": settings.public_base_url,
        "BOT_SECRET": settings.bot_secret,
        "CAMPAIGNS_FILE": str(campaigns_file),
    }
    return env


ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    def __init__(self, env: dict[str, str], *, workers: int = 1, threads: int = 8):
        self.port = free_port()
        clean = clean_environ()
        self.env = {**clean, **env}
        self.args = [
            sys.executable, "-m", "gunicorn", "wsgi:app",
            "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(workers), "--threads", str(threads),
            "--timeout", "30", "--log-level", "warning",
        ]
        self.process: subprocess.Popen | None = None
        # A file, not a pipe: an unread pipe fills up and blocks the bot's logging.
        self.log = tempfile.TemporaryFile()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BotProcess:
        self.process = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 30
        while True:  # poll /healthz until the server answers
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"the bot exited: {self.log.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("the bot did not answer /healthz within 30 s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


class WorkerProcess:
    """`bot worker`: the late-delivery worker, as the Procfile's worker: line runs it."""

    def __init__(self, env: dict[str, str]):
        clean = clean_environ()
        self.env = {**clean, **env}
        self.process: subprocess.Popen | None = None

    def start(self) -> WorkerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "worker"], cwd=ROOT, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return self

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-job without any clean-up."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


def wait_until(condition, *, timeout: float, what: str) -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


def kill_a_worker_mid_send(env: dict[str, str], twilio, queued) -> None:
    """A worker that dies after Twilio took its text but before it heard back (so nothing recorded the
    send), then a fresh worker until `queued()` is 0: the job reconciled, or sent."""
    twilio.stall.set()
    doomed = WorkerProcess(env).start()
    wait_until(lambda: len(twilio.sent()) == 1, timeout=30, what="the worker's send")
    doomed.kill()
    twilio.stall.clear()
    twilio.release.set()

    worker = WorkerProcess(env).start()
    try:
        wait_until(lambda: queued() == 0, timeout=30, what="the job to be reconciled")
    finally:
        worker.stop()
