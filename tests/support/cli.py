"""The `bot` command as a user runs it: its own process, with none of the developer's bot settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Every variable the bot reads starts with one of these; a test's `bot` sees only those it passes.
SETTING_PREFIXES = ("REDIS_", "TALON_", "TWILIO_", "CAMPAIGNS_", "BOT_", "PUBLIC_", "MARKETER_", "TRUSTED_")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the bot's settings, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}, **extra}


def run_bot(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`bot ARGS…` on the embedded defaults plus `env`."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=clean_env(**(env or {})),
        capture_output=True, text=True, timeout=120,
    )
