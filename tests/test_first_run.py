"""A new user's first minutes: `make run` installs only what the bot needs, the bot runs without any
test-only package, and a command writing to a pipe that closes early ends quietly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.conversation import InboundMessage
from tests.support.cli import clean_env
from tests.support.webhooks import DEPLOYMENT, SHOP_NUMBER

ROOT = Path(__file__).resolve().parent.parent
TEST_ONLY = ("pytest", "hypothesis", "zxingcpp", "cairosvg", "playwright")


def make_dry_run(target: str) -> str:
    """What `make TARGET` would run from scratch (-B: as if nothing were built yet)."""
    return subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_make_run_installs_the_bot_without_the_test_extra_and_make_test_with_it():
    run = make_dry_run("run")
    assert "pip install --quiet -e .\n" in run
    assert "[test]" not in run
    assert "pip install --quiet -e '.[test]'" in make_dry_run("test")


def requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower()


def test_the_runtime_dependencies_name_no_test_tool():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {requirement_name(d) for d in project["dependencies"]}
    test = {requirement_name(d) for d in project["optional-dependencies"]["test"]}
    assert runtime.isdisjoint(test)
    assert {"pytest", "ruff", "playwright", "hypothesis", "zxing-cpp", "cairosvg"} <= test


RUN_WITHOUT_TEST_PACKAGES = f"""
import sys

class TestOnly:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {TEST_ONLY!r}:
            raise ImportError(name + " is a test-only package: make run does not install it")

sys.meta_path.insert(0, TestOnly())

from bot.cli import main

for argv in (
    ["simulate", "--from", "+15551234567", "SAVE"],
    ["check"],
    ["doctor"],
    ["poster", "spring", "-o", "p.pdf"],
    ["poster", "spring", "-o", "p.svg"],
    ["poster", "spring", "-o", "p.png"],
):
    assert main(argv) == 0, argv

from bot import create_app

client = create_app().test_client()
form = dict(MessageSid="SM" + "0" * 32, AccountSid="AC" + "0" * 32, From="+15551234567", To="{SHOP_NUMBER}",
            Body="SAVE")
assert b"Your Acme code" in client.post("/sms", data=form).data
assert client.get("/q/spring").status_code == 200
print("served without", {TEST_ONLY!r})
"""


def test_the_bot_runs_on_the_defaults_without_any_test_only_package(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_TEST_PACKAGES], cwd=tmp_path, env=clean_env(),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith(f"served without {TEST_ONLY!r}")
    assert {p.name for p in tmp_path.iterdir()} == {"p.pdf", "p.svg", "p.png"}


# -- a closed pipe


@pytest.mark.parametrize(
    "argv",
    [["consent", "export"], ["check"], ["scans"], ["doctor"], ["poster", "spring", "-o", "p.svg"],
     ["simulate", "--from", "+15551234567", "HELP"]],
    ids=lambda argv: " ".join(argv),
)
def test_a_command_whose_reader_is_gone_ends_quietly_with_141(tmp_path, argv):
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the bot writes a byte: `bot … | head` once head has exited
    try:
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", *argv], cwd=tmp_path, env=clean_env(), stdout=write,
            stderr=subprocess.PIPE, text=True, timeout=120,
        )
    finally:
        os.close(write)
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr
    assert result.returncode == 141


def test_consent_export_into_head_stops_quietly_midway(services, settings, campaigns_file, redis_url):
    # Enough rows to fill the pipe, so the bot is still writing when head has read its two lines and exits.
    for n in range(1500):
        services.conversation.handle(InboundMessage(f"SM{n:032d}", f"+1555{n:07d}", SHOP_NUMBER, "STOP"))
    env = clean_env(
        REDIS_URL=redis_url, REDIS_KEY_PREFIX=settings.redis_key_prefix, CAMPAIGNS_FILE=str(campaigns_file),
        TWILIO_AUTH_TOKEN="t", BOT_SECRET="s", TALON_API_KEY="k", TALON_DEPLOYMENT=DEPLOYMENT,
    )
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m bot.cli consent export | head -2"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.stdout.splitlines()[0] == "number,number_hash,event,at,word,campaign,channel"
    assert len(result.stdout.splitlines()) == 2
    assert result.stderr == ""
    assert result.returncode == 141
