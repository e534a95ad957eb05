"""`bot simulate` (the reply one text would get) and `bot worker` (the texts the bot sends on its own)."""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from dataclasses import replace

from ..config import Settings
from ..errors import ConfigError

SIMULATION_NOTE = (
    "simulation: nothing was written to Redis or the consent log, nobody was texted, "
    "and it is not counted in the results; Talon.One was asked with {upstream}."
)


def _simulate(args: argparse.Namespace) -> int:
    from ..conversation import InboundMessage
    from ..phone import address_of
    from ..services import Services, make_issuer
    from ..store import connect

    settings = Settings.from_env()
    if not args.live:
        settings = replace(settings, talon_dry_run=True)
    # A throwaway store and no journal: a simulated STOP must never unsubscribe a real customer,
    # and a dry-run code must never be cached as the real one.
    logging.getLogger("bot.store").setLevel(logging.ERROR)
    services = Services.build(settings, store=connect(None, prefix=settings.redis_key_prefix),
                              issuer=make_issuer(settings), keep_journal=False)
    sender = address_of(args.sender)
    if sender.number is None:
        print(f"bot simulate: {args.sender!r} is not a person's number (+ and 8-15 digits): it would get no reply",
              file=sys.stderr)
        return 1
    to = args.to or services.book.default_number()
    message = InboundMessage(
        sid="SM" + secrets.token_hex(16), sender=sender.number, to=to, body=" ".join(args.text), channel="cli"
    )
    reply = services.conversation.handle(message)
    print(reply.text if reply.text is not None else "(no reply)")
    upstream = "no upstream (the sandbox issuer)" if settings.sandbox_issuer else (
        "a real call: --live, a real coupon may have been created" if args.live else "X-DRY-RUN: true (nothing created)"
    )
    print(SIMULATION_NOTE.format(upstream=upstream), file=sys.stderr)
    return 0


def _worker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from ..logs import configure_logging
    from ..services import Services

    configure_logging()
    services = Services.build(Settings.from_env())
    if services.settings.embedded_store:
        raise ConfigError(
            "REDIS_URL: the worker needs the Redis the web process uses (the embedded store is per process)"
        )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    late = services.late_delivery()
    engine = services.send_engine()
    planner = services.birthday_planner(engine)
    parts = [(f"send-engine-{n}", engine) for n in range(services.settings.send_threads)]
    threads = [threading.Thread(target=part.run, args=(stop,), name=name, daemon=True)
               for name, part in (*parts, ("birthday-planner", planner))]
    for thread in threads:
        thread.start()
    late.run(stop)
    for thread in threads:
        thread.join(timeout=30)
    return 0



def add_simulate(commands: argparse._SubParsersAction) -> None:
    simulate = commands.add_parser(
        "simulate", help="show the reply one inbound text would get (writes nothing, texts nobody)"
    )
    simulate.add_argument("--from", dest="sender", required=True, metavar="NUMBER", help="sender, e.g. +15551234567")
    simulate.add_argument("--to", metavar="NUMBER", help="the shop's number (default: the program's first)")
    simulate.add_argument("--live", action="store_true",
                          help="ask Talon.One for real (without X-DRY-RUN): a real coupon may be created")
    simulate.add_argument("text", nargs="+", help='the text, e.g. "SAVE"')
    simulate.set_defaults(run=_simulate)


def add_worker(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser(
        "worker", help="text late codes and birthday coupons (late replies, the send engine, the birthday planner)"
    )
    worker.set_defaults(run=_worker)
