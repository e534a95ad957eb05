"""Start-up under a real gunicorn: a configuration error stops the master within seconds, with one line
naming the variable; never a server that accepts connections and answers nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.support.gunicorn import ROOT
from tests.support.redis_server import free_port
from tests.support.webhooks import ACCOUNT_SID

GOOD = {
    "REDIS_URL": "redis://127.0.0.1:1/0",  # never reached: the master stops before any worker
    "TWILIO_AUTH_TOKEN": "token-0123456789",
    "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
    "BOT_SECRET": "a-secret-of-the-bot",
    "PUBLIC_BASE_URL": "https://bot.example.com",
    "MARKETER_PASSWORD": "a-long-marketer-password",
}

CASES = [
    *[(f"missing {name}", {k: v for k, v in GOOD.items() if k != name}, name)
      for name in ("REDIS_URL", "TWILIO_AUTH_TOKEN", "BOT_SECRET")],
    ("malformed REDIS_URL", {**GOOD, "REDIS_URL": "http://redis.example.com"}, "REDIS_URL"),
    ("REDIS_URL port", {**GOOD, "REDIS_URL": "redis://127.0.0.1:port/0"}, "REDIS_URL"),
    ("several nodes, no cluster", {**GOOD, "REDIS_URL": "redis://a:1,redis://b:2"}, "REDIS_URL"),
    ("malformed REDIS_CLUSTER", {**GOOD, "REDIS_CLUSTER": "perhaps"}, "REDIS_CLUSTER"),
    ("malformed TWILIO_ACCOUNT_SID", {**GOOD, "TWILIO_ACCOUNT_SID": "XX123"}, "TWILIO_ACCOUNT_SID"),
    ("malformed PUBLIC_BASE_URL", {**GOOD, "PUBLIC_BASE_URL": "bot.example.com"}, "PUBLIC_BASE_URL"),
    ("short MARKETER_PASSWORD", {**GOOD, "MARKETER_PASSWORD": "short"}, "MARKETER_PASSWORD"),
    ("malformed TRUSTED_PROXY_HOPS", {**GOOD, "TRUSTED_PROXY_HOPS": "one"}, "TRUSTED_PROXY_HOPS"),
    ("missing CAMPAIGNS_FILE", {**GOOD, "CAMPAIGNS_FILE": "/nonexistent.toml"}, "CAMPAIGNS_FILE"),
    ("TALON_API_KEY without deployment", {**GOOD, "TALON_API_KEY": "k"}, "TALON_DEPLOYMENT"),
    *[(f"demo with {name}", {name: GOOD[name]}, "REDIS_URL")
      for name in ("PUBLIC_BASE_URL", "TWILIO_ACCOUNT_SID", "BOT_SECRET", "MARKETER_PASSWORD")],
    # TALON_API_KEY leaves the demo already: signatures are the first thing it lacks.
    ("demo with TALON_API_KEY", {"TALON_API_KEY": "k", "TALON_DEPLOYMENT": "acme.talon.one"}, "TWILIO_AUTH_TOKEN"),
    ("embedded store in two workers", {}, "REDIS_URL"),
]


def start(env: dict[str, str], workers: int = 2) -> tuple[subprocess.CompletedProcess, float]:
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("REDIS_", "TALON_", "TWILIO_", "CAMPAIGNS_", "BOT_", "PUBLIC_", "MARKETER_"))}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{free_port()}", "--workers", str(workers)],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=30,
    )
    return result, time.monotonic() - started


@pytest.mark.parametrize("env, variable", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_configuration_error_stops_gunicorn_with_one_line_naming_the_variable(env, variable):
    result, took = start(env)
    lines = [line for line in result.stderr.splitlines() if variable in line]
    assert result.returncode != 0 and took < 10, (result.returncode, took, result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"bot: configuration error: {variable}:")
    assert "Booting worker" not in result.stderr  # stopped in the master, before any fork


def test_the_demo_starts_in_one_worker():
    port = free_port()
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("REDIS_", "TALON_", "TWILIO_", "CAMPAIGNS_", "BOT_", "PUBLIC_", "MARKETER_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT, env=clean, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    import httpx

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        assert ready.status_code == 200 and ready.json()["mode"] == "demo"
    finally:
        process.terminate()
        process.wait(timeout=20)
