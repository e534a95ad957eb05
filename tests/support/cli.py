"""The `bot` command as a user runs it: its own process, with none of the developer's bot settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.bot_process import clean_environ

#: Besides the usual bot variables: the ones a deployment adds, which change what a command does.
DEPLOYMENT_PREFIXES = ("PUBLIC_", "MARKETER_", "TRUSTED_")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any of the bot's settings, plus `extra`."""
    return {**clean_environ(*DEPLOYMENT_PREFIXES), **extra}


def run_bot(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`bot ARGS…` on the embedded defaults plus `env`."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], cwd=cwd, env=clean_env(**(env or {})),
        capture_output=True, text=True, timeout=120,
    )
