"""The `bot` command: simulate a text, run the worker, check a campaign file or a whole deployment, export the
consent log, make a poster, summarise scans, run a competition's draw and export its entries, send a
broadcast. A closed stdout
pipe ends any of them quietly (status 141).

One module per command group; each has an `add_<command>(commands)` that adds its subcommand, and
`build_parser` calls them in the order `bot --help` lists them."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..errors import ConfigError
from . import draw, exports, files, send, texts

#: Every subcommand, in `bot --help`'s order.
COMMANDS = (
    texts.add_simulate, texts.add_worker, files.add_check, exports.add_consent, exports.add_audience,
    files.add_poster, files.add_scans, draw.add_draw, exports.add_entries, send.add_send, send.add_sends,
    files.add_doctor,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="SMS and QR keyword coupon bot")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the bot's log on stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser


#: The exit status when the reader of stdout went away (`bot consent export | head`): 128 + SIGPIPE,
#: what a shell reports for any Unix tool a closed pipe stops.
EXIT_BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format="%(levelname)s %(message)s")
    try:
        status = args.run(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at interpreter exit
        return status
    except BrokenPipeError:
        # Python's recipe (docs, "Note on SIGPIPE"): point stdout at devnull so the flush at exit
        # cannot raise again, and stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except ConfigError as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 2
