"""The `bot` command: simulate a text, run the worker, check a campaign file or a whole deployment, export the
consent log, make a poster, summarise scans, run a competition's draw and export its entries. A closed stdout
pipe ends any of them quietly (status 141)."""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import logging
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from .config import EXAMPLE_CAMPAIGNS_FILE, Settings
from .errors import CampaignFileError, ConfigError, DrawError

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

    def write(out: TextIO) -> int:
        writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        rows = 0
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
        return rows

    return _write_csv(args.output, write, "consent event(s)")


def _write_csv(path: str | None, write: Callable[[TextIO], int], what: str) -> int:
    """Run `write` on `path` opened for CSV (newline=""), or on stdout; then say how many `what` went to `path`."""
    try:
        with _output(path) as out:
            count = write(out)
    except BrokenPipeError:
        raise  # a reader that went away (| head): main() ends quietly with 141
    except OSError as exc:
        print(f"bot: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if path:
        print(f"{path}: {count} {what}", file=sys.stderr)
    return 0


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    """`path` opened for CSV (newline=""), closed after; stdout when None."""
    if not path:
        yield sys.stdout
        return
    with open(path, "w", newline="", encoding="utf-8") as out:
        yield out


def _audience_services():
    from .services import Services

    services = Services.build(Settings.from_env())
    if services.settings.embedded_store:
        print("bot: REDIS_URL is unset: the embedded store keeps nothing after this command", file=sys.stderr)
    return services


def _audience_import(args: argparse.Namespace) -> int:
    from .audiences import import_audience

    services = _audience_services()
    try:
        result = import_audience(services.store, args.file, services.book.program, skip_bad=args.skip_bad)
    except OSError as exc:
        print(f"bot: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if result.ignored_columns:
        print(f"note: columns ignored: {', '.join(result.ignored_columns)}", file=sys.stderr)
    if result.bad_lines and not args.skip_bad:
        print(f"{args.file}: {result.bad_lines} bad line(s); nothing imported (fix them, or --skip-bad)",
              file=sys.stderr)
        return 1
    skipped = f", {result.bad_lines} bad line(s) skipped" if result.bad_lines else ""
    print(f"{args.file}: {result.imported} customer(s) imported{skipped}")
    return 0


def _audience_export(args: argparse.Namespace) -> int:
    from .audiences import export_audience

    services = _audience_services()
    return _write_csv(args.output, lambda out: export_audience(services.store, out), "customer(s)")


def _audience_stats(args: argparse.Namespace) -> int:
    import calendar

    from .audiences import audience_stats

    stats = audience_stats(_audience_services().store)
    share = (lambda n: f"{n / stats.customers:.0%}") if stats.customers else (lambda n: "-")
    print(f"customers: {stats.customers}")
    print(f"verified consent: {stats.verified} ({share(stats.verified)})")
    print(f"with a birthday: {stats.with_birthday} ({share(stats.with_birthday)})")
    print(f"with a time zone: {stats.with_timezone} ({share(stats.with_timezone)})")
    print("birthdays per month:")
    for month in range(1, 13):
        print(f"  {calendar.month_abbr[month]:<4} {stats.by_month.get(month, 0):>8}")
    return 0


def _poster(args: argparse.Namespace) -> int:
    from .campaign_file import load_campaigns
    from .posters import PosterError, PosterOptions, format_of, layout, poster_content, render

    settings = Settings.from_env()
    try:
        fmt = format_of(args.output)
        book = load_campaigns(settings.campaigns_file)
        options = PosterOptions(
            paper=args.paper, distance_m=args.distance, error=args.error_correction, mode=args.mode, ref=args.ref,
            channel=args.channel,
        )
        content = poster_content(book, args.slug, options, public_base_url=settings.public_base_url)
        data = render(layout(content, options), fmt, dpi=args.dpi)
    except PosterError as exc:
        print(f"bot poster: {exc}", file=sys.stderr)
        return 1
    Path(args.output).write_bytes(data)
    if content.note:
        print(f"note: {content.note}", file=sys.stderr)
    print(f"{args.output}: {fmt.upper()} poster, {content.summary}, {options.paper}, {options.mode}; "
          f"QR payload {content.payload}")
    return 0


def _scans(args: argparse.Namespace) -> int:
    from .services import Services

    services = Services.build(Settings.from_env())
    if services.settings.embedded_store:
        print(
            "note: REDIS_URL is unset, so these are this process's counts only (none); set REDIS_URL", file=sys.stderr
        )
    rows = services.store.poster_stats()
    print(f"{'campaign':<16} {'poster':<24} {'scans':>7} {'unique':>7} {'texts':>7}")
    for (campaign, poster), counts in sorted(rows.items()):
        print(f"{campaign:<16} {poster:<24} {counts['scans']:>7} {counts['unique']:>7} {counts['texts']:>7}")
    if not rows:
        print("(no scans or attributed texts yet)")
    return 0


DRAW_ACTIONS = ("commit", "reveal", "redraw", "notify")


def _draw(args: argparse.Namespace) -> int:
    """`bot draw SLUG commit|reveal|redraw|notify` and `bot draw verify DRAW.json`."""
    from . import competitions
    from .services import Services

    if args.target == "verify":
        return _verify_draw(args.action)
    if args.action not in DRAW_ACTIONS:
        print(f"bot draw: expected SLUG {{{','.join(DRAW_ACTIONS)}}} or verify DRAW.json, got {args.action!r}",
              file=sys.stderr)
        return 2
    services = Services.build(Settings.from_env())
    store, secret = services.store, services.settings.bot_secret
    try:
        campaign = competitions.competition_of(services.book, args.target)
        if args.action == "commit":
            commitment = competitions.commit_draw(store, secret, campaign, public_source=args.public_source)
            print(f"campaign:               {commitment.campaign}")
            print(f"entries:                {commitment.entry_count}")
            print(f"entry list SHA-256:     {commitment.entries_sha256}")
            print(f"seed SHA-256:           {commitment.seed_sha256}")
            print(f"committed at:           {commitment.committed_at}")
            if commitment.public_source:
                print(f"public value to mix in: {commitment.public_source}")
            print(f"commitment SHA-256:     {commitment.digest}")
            print("Publish these lines now; the seed stays in Redis until `reveal` publishes it.")
            return 0
        if args.action == "reveal":
            if args.winners is None or args.output is None:
                print("bot draw reveal: --winners N and --output DRAW.json are required", file=sys.stderr)
                return 2
            drawn = competitions.reveal_draw(store, campaign, winners=args.winners, public_value=args.public_value)
        elif args.action == "redraw":
            if args.replace is None or args.output is None:
                print("bot draw redraw: --replace ENTRY and --output DRAW.json are required", file=sys.stderr)
                return 2
            drawn = competitions.redraw(store, campaign, args.replace, reason=args.reason)
            print(f"winner {args.replace} replaced by {drawn.replacements[-1].by}: {args.reason}")
        else:
            drawn = competitions.kept_draw(store, campaign)
            report = competitions.notify_winners(drawn, book=services.book, store=store,
                                                 engine=services.send_engine(), secret=secret,
                                                 consolation=args.consolation)
            print(f"campaign {campaign.slug}: {report}; `bot worker` sends them (the send rate, quiet hours, "
                  "opt-outs at the moment of sending); nobody is texted twice")
            return 0
    except DrawError as exc:
        print(f"bot draw: {exc}", file=sys.stderr)
        return 1
    Path(args.output).write_text(drawn.dumps(), encoding="utf-8")
    for position, (entry_id, number) in enumerate(competitions.winners_of(drawn, store, secret), start=1):
        print(f"winner {position}: entry {number} ({entry_id})")
    print(f"{args.output}: draw {competitions.draw_id(drawn)}; check it with `bot draw verify {args.output}`; "
          f"text the winners with `bot draw {campaign.slug} notify`")
    return 0


def _verify_draw(path: str | None) -> int:
    import json

    from . import draw as draws

    if not path:
        print("bot draw verify: give the DRAW.json to check", file=sys.stderr)
        return 2
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        print(f"bot draw verify: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except (ValueError, UnicodeDecodeError) as exc:
        print(f"{path}: not a JSON draw file: {exc}", file=sys.stderr)
        return 1
    problems = draws.verify(document)
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        print(f"{path}: the draw does NOT hold ({len(problems)} problem(s))", file=sys.stderr)
        return 1
    drawn = draws.Draw.from_document(document)
    print(f"{path}: the draw holds: {drawn.commitment.entry_count} entries, winners "
          f"{', '.join(drawn.current_winners)}; commitment SHA-256 {drawn.commitment.digest} "
          "(compare it with the one published at the commit)")
    return 0


def _entries(args: argparse.Namespace) -> int:
    from . import competitions
    from .services import Services

    services = Services.build(Settings.from_env())
    try:
        campaign = competitions.competition_of(services.book, args.slug)
    except DrawError as exc:
        print(f"bot entries: {exc}", file=sys.stderr)
        return 1
    try:
        out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout
    except OSError as exc:
        print(f"bot: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    try:
        rows = competitions.export_entries(services.store, services.settings.bot_secret, campaign, out,
                                           hash_numbers=args.hash_numbers)
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"{args.output}: {rows} entries", file=sys.stderr)
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import run

    return run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot", description="SMS and QR keyword coupon bot")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the bot's log on stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    simulate = commands.add_parser(
        "simulate", help="show the reply one inbound text would get (writes nothing, texts nobody)"
    )
    simulate.add_argument("--from", dest="sender", required=True, metavar="NUMBER", help="sender, e.g. +15551234567")
    simulate.add_argument("--to", metavar="NUMBER", help="the shop's number (default: the program's first)")
    simulate.add_argument("--live", action="store_true",
                          help="ask Talon.One for real (without X-DRY-RUN): a real coupon may be created")
    simulate.add_argument("text", nargs="+", help='the text, e.g. "SAVE"')
    simulate.set_defaults(run=_simulate)

    worker = commands.add_parser(
        "worker", help="text late codes and birthday coupons (late replies, the send engine, the birthday planner)"
    )
    worker.set_defaults(run=_worker)

    check = commands.add_parser("check", help="validate a campaign file and print every problem")
    check.add_argument(
        "file", nargs="?", help=f"campaign file (default: CAMPAIGNS_FILE or {EXAMPLE_CAMPAIGNS_FILE.name})"
    )
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

    audience = commands.add_parser("audience", help="the audience: customers, birthdays, time zones and consent")
    audience_commands = audience.add_subparsers(dest="audience_command", required=True, metavar="ACTION")
    audience_import = audience_commands.add_parser(
        "import", help="import an audience CSV (phone, birthday, consent_at, consent_source, timezone)"
    )
    audience_import.add_argument("file", metavar="FILE.csv")
    audience_import.add_argument("--skip-bad", action="store_true",
                                 help="import the good lines and report the bad ones (default: all or nothing)")
    audience_import.set_defaults(run=_audience_import)
    audience_export = audience_commands.add_parser("export", help="write the audience as CSV (the import's columns)")
    audience_export.add_argument("--output", metavar="FILE", help="CSV file to write (default: stdout)")
    audience_export.set_defaults(run=_audience_export)
    audience_commands.add_parser(
        "stats", help="birthdays per month and consent coverage"
    ).set_defaults(run=_audience_stats)

    poster = commands.add_parser("poster", help="write a printable QR poster (.png, .svg or .pdf by suffix)")
    poster.add_argument("slug", metavar="SLUG", help="a campaign slug or a [[posters]] slug")
    poster.add_argument("--output", "-o", required=True, metavar="FILE", help="poster.pdf, poster.svg or poster.png")
    poster.add_argument("--paper", choices=("A4", "Letter"), default="A4")
    poster.add_argument("--distance", type=float, default=1.0, metavar="METRES",
                        help="expected scan distance; the QR is at least distance/10 wide (default 1)")
    poster.add_argument("--error-correction", choices=("L", "M", "Q", "H"), default="M",
                        help="QR error correction: M indoors (default), Q outdoors")
    poster.add_argument("--mode", choices=("direct", "tracked"), default="direct",
                        help="direct: SMSTO:<number>:<KEYWORD> (offline); "
                             "tracked: PUBLIC_BASE_URL/q/<slug> (counts scans)")
    poster.add_argument("--ref", metavar="REF", help="a per-poster reference prefilled after the keyword, e.g. P7")
    poster.add_argument("--channel", choices=("sms", "whatsapp"), default="sms",
                        help="what a direct poster's QR opens: the SMS composer, or WhatsApp (https://wa.me/…)")
    poster.add_argument("--dpi", type=int, default=300, help="PNG resolution (default 300)")
    poster.set_defaults(run=_poster)

    scans = commands.add_parser("scans", help="scan counts and texts attributed to each poster (the results' 90 days)")
    scans.set_defaults(run=_scans)

    draw = commands.add_parser(
        "draw", help="a competition's verifiable draw: SLUG commit | reveal | redraw | notify, or verify DRAW.json",
    )
    draw.add_argument("target", metavar="SLUG|verify", help="the competition's slug, or verify")
    draw.add_argument("action", metavar="ACTION|DRAW.json", help=f"one of {', '.join(DRAW_ACTIONS)} (after SLUG), "
                                                                  "or the draw file to check (after verify)")
    draw.add_argument("--public-source", metavar="TEXT",
                      help="commit: the public value reveal will mix in, named before it exists "
                           '(e.g. "drand quicknet round 12345678")')
    draw.add_argument("--winners", type=int, metavar="N", help="reveal: how many winners")
    draw.add_argument("--output", "-o", metavar="DRAW.json", help="reveal, redraw: the draw file to write")
    draw.add_argument("--public-value", metavar="HEX", help="reveal: the public value named at the commit")
    draw.add_argument("--replace", metavar="ENTRY", help="redraw: the entry id of the winner who did not claim")
    draw.add_argument("--reason", default="prize unclaimed", help="redraw: why (logged and written into the file)")
    draw.add_argument("--consolation", action="store_true",
                      help="notify: also text everyone else the campaign's consolation_reply")
    draw.set_defaults(run=_draw)

    entries = commands.add_parser("entries", help="a competition's entries")
    entries_commands = entries.add_subparsers(dest="entries_command", required=True, metavar="ACTION")
    entries_export = entries_commands.add_parser("export", help="write a competition's entries as CSV")
    entries_export.add_argument("slug", metavar="SLUG")
    entries_export.add_argument("--output", metavar="FILE", help="CSV file to write (default: stdout)")
    entries_export.add_argument("--hash-numbers", action="store_true",
                                help="leave the phone numbers out: only the entry ids and the numbers' BOT_SECRET hash")
    entries_export.set_defaults(run=_entries)

    doctor = commands.add_parser(
        "doctor",
        help="check a deployment end to end: settings, campaign file, Redis, Talon.One, Twilio (exit 1 on FAIL)",
    )
    doctor.set_defaults(run=_doctor)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
