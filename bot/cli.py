"""The `bot` command: simulate a text, check a campaign file, export the consent log, make a poster, summarise scans."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import logging
import secrets
import sys
from dataclasses import replace
from pathlib import Path

from .config import EXAMPLE_CAMPAIGNS_FILE, Settings
from .errors import CampaignFileError, ConfigError

SIMULATION_NOTE = (
    "simulation: nothing was written to Redis or the consent log, nobody was texted, "
    "and it is not counted in the results; Talon.One was asked with {upstream}."
)


def _simulate(args: argparse.Namespace) -> int:
    from .conversation import InboundMessage
    from .phone import address_of
    from .services import Services, make_issuer
    from .store import connect

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

    from .logs import configure_logging
    from .services import Services

    configure_logging()
    services = Services.build(Settings.from_env())
    if services.settings.embedded_store:
        raise ConfigError("REDIS_URL: the worker needs the Redis the web process uses (the embedded store is per process)")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    services.late_delivery().run(stop)
    return 0


def _check(args: argparse.Namespace) -> int:
    from .campaign_file import load_campaigns

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
          + (f", {len(book.posters)} poster(s)" if book.posters else "")
          + (f", {len(book.warnings)} warning(s)" if book.warnings else ""))
    return 0


CONSENT_COLUMNS = ("number", "number_hash", "event", "at", "word", "campaign", "channel")


def _consent_export(args: argparse.Namespace) -> int:
    from .phone import hash_sender
    from .services import Services

    services = Services.build(Settings.from_env())
    program = services.book.program
    if services.settings.embedded_store:
        print("bot: REDIS_URL is unset: the embedded store holds only this process's (empty) log", file=sys.stderr)
    columns = [c for c in CONSENT_COLUMNS if not (args.hash_numbers and c == "number")]
    try:
        out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
    except OSError as exc:
        print(f"bot: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    rows = 0
    try:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        now = dt.datetime.now(dt.UTC)
        for event in services.store.consent_log(now=now, retention_days=program.consent_retention_days):
            writer.writerow({
                "number": event.sender,
                "number_hash": hash_sender(services.settings.bot_secret, event.sender),
                "event": event.event,
                "at": event.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "word": event.word,
                "campaign": event.campaign,
                "channel": event.channel,
            })
            rows += 1
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"{args.output}: {rows} consent event(s)", file=sys.stderr)
    return 0


def _poster(args: argparse.Namespace) -> int:
    from .campaign_file import load_campaigns
    from .posters import PosterError, PosterOptions, format_of, layout, poster_content, render

    settings = Settings.from_env()
    try:
        fmt = format_of(args.output)
        book = load_campaigns(settings.campaigns_file)
        options = PosterOptions(
            paper=args.paper, distance_m=args.distance, error=args.error_correction, mode=args.mode, ref=args.ref
        )
        content = poster_content(book, args.slug, options, public_base_url=settings.public_base_url)
        data = render(layout(content, options), fmt, dpi=args.dpi)
    except PosterError as exc:
        print(f"bot poster: {exc}", file=sys.stderr)
        return 1
    Path(args.output).write_bytes(data)
    if content.ref and content.poster is None:
        print(
            f"note: ref {content.ref} is not declared in [[posters]]; texts carrying it are counted as 'unlisted'",
            file=sys.stderr,
        )
    print(f"{args.output}: {fmt.upper()} poster for {content.slug} ({options.paper}, {options.mode}), QR payload {content.payload}")
    return 0


def _scans(args: argparse.Namespace) -> int:
    from .services import Services

    services = Services.build(Settings.from_env())
    if services.settings.embedded_store:
        print("note: REDIS_URL is unset, so these are this process's counts only (none); set REDIS_URL", file=sys.stderr)
    rows = services.store.poster_stats()
    print(f"{'campaign':<16} {'poster':<24} {'scans':>7} {'unique':>7} {'texts':>7}")
    for (campaign, poster), counts in sorted(rows.items()):
        print(f"{campaign:<16} {poster:<24} {counts['scans']:>7} {counts['unique']:>7} {counts['texts']:>7}")
    if not rows:
        print("(no scans or attributed texts yet)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="SMS and QR keyword coupon bot")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the bot's log on stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    simulate = commands.add_parser("simulate", help="show the reply one inbound text would get (writes nothing, texts nobody)")
    simulate.add_argument("--from", dest="sender", required=True, metavar="NUMBER", help="sender, e.g. +15551234567")
    simulate.add_argument("--to", metavar="NUMBER", help="the shop's number (default: the program's first)")
    simulate.add_argument("--live", action="store_true",
                          help="ask Talon.One for real (without X-DRY-RUN): a real coupon may be created")
    simulate.add_argument("text", nargs="+", help='the text, e.g. "SAVE"')
    simulate.set_defaults(run=_simulate)

    worker = commands.add_parser("worker", help="text codes that missed the webhook deadline (late-delivery worker)")
    worker.set_defaults(run=_worker)

    check = commands.add_parser("check", help="validate a campaign file and print every problem")
    check.add_argument("file", nargs="?", help=f"campaign file (default: CAMPAIGNS_FILE or {EXAMPLE_CAMPAIGNS_FILE.name})")
    check.set_defaults(run=_check)

    consent = commands.add_parser("consent", help="the consent log (opt-in sources, opt-outs, opt-ins)")
    consent_commands = consent.add_subparsers(dest="consent_command", required=True, metavar="ACTION")
    export = consent_commands.add_parser(
        "export", help="write every number's consent events within the retention as CSV"
    )
    export.add_argument("--output", metavar="FILE", help="CSV file to write (default: stdout)")
    export.add_argument(
        "--hash-numbers", action="store_true",
        help="leave the phone numbers out: only their BOT_SECRET hash, e.g. for analytics",
    )
    export.set_defaults(run=_consent_export)

    poster = commands.add_parser("poster", help="write a printable QR poster (.png, .svg or .pdf by suffix)")
    poster.add_argument("slug", metavar="SLUG", help="a campaign slug or a [[posters]] slug")
    poster.add_argument("--output", "-o", required=True, metavar="FILE", help="poster.pdf, poster.svg or poster.png")
    poster.add_argument("--paper", choices=("A4", "Letter"), default="A4")
    poster.add_argument("--distance", type=float, default=1.0, metavar="METRES",
                        help="expected scan distance; the QR is at least distance/10 wide (default 1)")
    poster.add_argument("--error-correction", choices=("L", "M", "Q", "H"), default="M",
                        help="QR error correction: M indoors (default), Q outdoors")
    poster.add_argument("--mode", choices=("direct", "tracked"), default="direct",
                        help="direct: SMSTO:<number>:<KEYWORD> (offline); tracked: PUBLIC_BASE_URL/q/<slug> (counts scans)")
    poster.add_argument("--ref", metavar="REF", help="a per-poster reference prefilled after the keyword, e.g. P7")
    poster.add_argument("--dpi", type=int, default=300, help="PNG resolution (default 300)")
    poster.set_defaults(run=_poster)

    scans = commands.add_parser("scans", help="scan counts and texts attributed to each poster (the results' 90 days)")
    scans.set_defaults(run=_scans)
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
