"""The `bot` command: simulate a text, check a campaign file."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from pathlib import Path

from .config import EXAMPLE_CAMPAIGNS_FILE, Settings
from .errors import CampaignFileError, ConfigError


def _simulate(args: argparse.Namespace) -> int:
    from .app import Services
    from .conversation import InboundMessage

    services = Services.build(Settings.from_env())
    to = args.to or services.book.default_number()
    message = InboundMessage(
        sid="SM" + secrets.token_hex(16), sender=args.sender, to=to, body=" ".join(args.text), channel="cli"
    )
    reply = services.conversation.handle(message)
    print(reply.text if reply.text is not None else "(no reply)")
    return 0


def _check(args: argparse.Namespace) -> int:
    from .campaigns import load_campaigns

    path = Path(args.file) if args.file else Settings.from_env().campaigns_file
    try:
        book = load_campaigns(path)
    except CampaignFileError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{path}: {len(exc.problems)} problem(s)", file=sys.stderr)
        return 1
    for warning in book.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{path}: OK, {len(book.campaigns)} campaign(s), numbers {', '.join(book.program.numbers)}"
          + (f", {len(book.warnings)} warning(s)" if book.warnings else ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="SMS and QR keyword coupon bot")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the bot's log on stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    simulate = commands.add_parser("simulate", help="run one inbound text through the conversation and print the reply")
    simulate.add_argument("--from", dest="sender", required=True, metavar="NUMBER", help="sender, e.g. +15551234567")
    simulate.add_argument("--to", metavar="NUMBER", help="the shop's number (default: the program's first)")
    simulate.add_argument("text", nargs="+", help='the text, e.g. "SAVE"')
    simulate.set_defaults(run=_simulate)

    check = commands.add_parser("check", help="validate a campaign file and print every problem")
    check.add_argument("file", nargs="?", help=f"campaign file (default: CAMPAIGNS_FILE or {EXAMPLE_CAMPAIGNS_FILE.name})")
    check.set_defaults(run=_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format="%(levelname)s %(message)s")
    try:
        return args.run(args)
    except ConfigError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
