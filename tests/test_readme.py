"""Every command in the README runs as written.

The README's shell blocks (``` sh, bash, shell or console) are read line by line:
a command (continued by a trailing backslash; in a console block, a line starting
with `$ `) is followed by its expected output as `# …` lines, each of which must
appear in what it prints. `bot …` commands (`.venv/bin/bot` or `bot`) run on the
embedded defaults in a temporary folder, with the `NAME=value` words in front of
them (or exported earlier in the README) as their environment; a poster command must
write its file. `curl` commands run against the bot under gunicorn on the embedded
defaults, at the address the README gives; `make TARGET` must be a target
(`make -n`). A command marked `# needs a deployment` is not run. Any other command
fails the test: teach it here or mark it.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.cli import build_parser
from tests.support.bot_process import BotProcess
from tests.support.cli import clean_env, run_bot

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SHELLS = {"sh", "bash", "shell", "console"}
NEEDS_DEPLOYMENT = "# needs a deployment"
#: Where the README says `make run` serves; curl commands are pointed at the test's own server.
DEMO_URL = "http://127.0.0.1:8000"
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


@dataclass
class Command:
    line: int
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    line: int
    commands: list[Command]


def shell_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    n = 0
    while n < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[n])
        if not fence:
            n += 1
            continue
        language, start, body = fence.group(1), n + 1, []
        n += 1
        while not lines[n].startswith("```"):
            body.append((n + 1, lines[n]))
            n += 1
        n += 1
        if language in SHELLS:
            blocks.append(Block(start, commands_of(body, console=language == "console")))
    return blocks


def commands_of(body: list[tuple[int, str]], *, console: bool) -> list[Command]:
    commands: list[Command] = []
    continued: Command | None = None
    for number, raw in body:
        line = raw.strip()
        if continued is not None:
            continued.text += " " + line.removesuffix("\\").strip()
            continued = continued if line.endswith("\\") else None
            continue
        if not line:
            continue
        if console and not line.startswith("$ "):
            if commands:
                commands[-1].expected.append(line)
            continue
        if not console and line.startswith("#"):
            if commands:
                commands[-1].expected.append(line.removeprefix("#").strip())
            continue
        command = Command(number, line.removeprefix("$ ").removesuffix("\\").strip())
        commands.append(command)
        continued = command if line.endswith("\\") else None
    return commands


BLOCKS = shell_blocks(README.read_text())


@pytest.fixture(scope="module")
def demo() -> BotProcess:
    """The bot as `make run` serves it: gunicorn, one worker, the embedded defaults."""
    server = BotProcess(clean_env()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def exported() -> dict[str, str]:
    """Variables the README exports, for the commands after them (as in the reader's shell)."""
    return {}


def output_file(args: list[str]) -> str | None:
    for flag in ("--output", "-o"):
        if flag in args:
            return args[args.index(flag) + 1]
    return None


def run(command: Command, cwd: Path, exported: dict[str, str], request) -> subprocess.CompletedProcess | None:
    words = shlex.split(command.text, comments=True)
    env: dict[str, str] = {}
    while words and ASSIGNMENT.match(words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    program, args = Path(words[0]).name, words[1:]
    if program == "export":
        for word in args:
            name, _, value = word.partition("=")
            exported[name] = value
        return None
    if program == "bot":
        result = run_bot(*args, env={**exported, **env}, cwd=cwd)
        if args and args[0] == "poster" and result.returncode == 0:
            written = cwd / output_file(args)
            assert written.is_file() and written.stat().st_size > 0, f"README line {command.line}: no {written}"
        return result
    if program == "curl":
        server = request.getfixturevalue("demo")
        args = [a.replace(DEMO_URL, server.url) for a in args]
        return subprocess.run(["curl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if program == "make":
        return subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    raise AssertionError(
        f"README line {command.line}: {command.text!r} is not a command tests/test_readme.py knows how to run; "
        f"teach it, or mark the line {NEEDS_DEPLOYMENT!r}"
    )


@pytest.mark.parametrize("block", BLOCKS, ids=[f"line {b.line}" for b in BLOCKS])
def test_every_command_of_the_block_runs_as_written(block: Block, tmp_path, exported, request):
    for command in block.commands:
        if NEEDS_DEPLOYMENT in command.text:
            continue
        result = run(command, tmp_path, exported, request)
        if result is None:
            continue
        assert result.returncode == 0, f"README line {command.line}: {command.text}\n{result.stdout}{result.stderr}"
        for expected in command.expected:
            assert expected in result.stdout, (
                f"README line {command.line}: {command.text}\nexpected {expected!r}\nprinted {result.stdout!r}"
            )


def test_the_readme_shows_commands_of_every_kind_it_promises():
    texts = [c.text for b in BLOCKS for c in b.commands]
    assert any("bot simulate" in t for t in texts)
    assert any("bot poster" in t and "--mode tracked" in t for t in texts)
    assert any("bot doctor" in t for t in texts)
    assert any(t.startswith("curl") and "Body=STOP" in t for t in texts)
    assert sum(len(c.expected) for b in BLOCKS for c in b.commands) >= 5


def test_the_command_table_lists_every_command():
    subcommands = next(a for a in build_parser()._actions if a.dest == "command").choices
    table = re.findall(r"^\| `bot (\w+)", README.read_text(), flags=re.M)
    assert sorted(table) == sorted(subcommands)


def test_the_parser_reads_continuations_expected_output_and_console_prompts():
    [block] = shell_blocks(
        "```sh\ncurl -s http://x \\\n  -d a=1\n# out\nbot check  # a comment\n```\n"
        "```console\n$ bot scans\ncampaign poster\n```\n```toml\n[program]\n```\n"
    )[:1]
    assert [(c.line, c.text, c.expected) for c in block.commands] == [
        (2, "curl -s http://x -d a=1", ["out"]),
        (5, "bot check  # a comment", []),
    ]
    console = shell_blocks("```console\n$ bot scans\ncampaign poster\n```\n")[0]
    assert [(c.text, c.expected) for c in console.commands] == [("bot scans", ["campaign poster"])]
