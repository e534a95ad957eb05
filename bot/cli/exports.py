"""`bot consent export`, `bot audience import|export|stats` and `bot entries export`: the CSV files."""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

from ..config import Settings
from ..errors import DrawError

CONSENT_COLUMNS = ("number", "number_hash", "event", "at", "word", "campaign", "channel")


def _consent_export(args: argparse.Namespace) -> int:
    from ..phone import hash_sender
    from ..services import Services

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


def kept_services():
    """The deployment's services, saying so when the store is the embedded one (it keeps nothing after the command)."""
    from ..services import Services

    services = Services.build(Settings.from_env())
    if services.settings.embedded_store:
        print("bot: REDIS_URL is unset: the embedded store keeps nothing after this command", file=sys.stderr)
    return services


def _audience_import(args: argparse.Namespace) -> int:
    from ..audiences import import_audience

    services = kept_services()
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
    from ..audiences import export_audience

    services = kept_services()
    return _write_csv(args.output, lambda out: export_audience(services.store, out), "customer(s)")


def _audience_stats(args: argparse.Namespace) -> int:
    import calendar

    from ..audiences import audience_stats

    stats = audience_stats(kept_services().store)
    share = (lambda n: f"{n / stats.customers:.0%}") if stats.customers else (lambda n: "-")
    print(f"customers: {stats.customers}")
    print(f"verified consent: {stats.verified} ({share(stats.verified)})")
    print(f"with a birthday: {stats.with_birthday} ({share(stats.with_birthday)})")
    print(f"with a time zone: {stats.with_timezone} ({share(stats.with_timezone)})")
    print("birthdays per month:")
    for month in range(1, 13):
        print(f"  {calendar.month_abbr[month]:<4} {stats.by_month.get(month, 0):>8}")
    return 0



def _entries(args: argparse.Namespace) -> int:
    from .. import competitions
    from ..services import Services

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



def add_consent(commands: argparse._SubParsersAction) -> None:
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


def add_audience(commands: argparse._SubParsersAction) -> None:
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


def add_entries(commands: argparse._SubParsersAction) -> None:
    entries = commands.add_parser("entries", help="a competition's entries")
    entries_commands = entries.add_subparsers(dest="entries_command", required=True, metavar="ACTION")
    entries_export = entries_commands.add_parser("export", help="write a competition's entries as CSV")
    entries_export.add_argument("slug", metavar="SLUG")
    entries_export.add_argument("--output", metavar="FILE", help="CSV file to write (default: stdout)")
    entries_export.add_argument("--hash-numbers", action="store_true",
                                help="leave the phone numbers out: only the entry ids and the numbers' BOT_SECRET hash")
    entries_export.set_defaults(run=_entries)
