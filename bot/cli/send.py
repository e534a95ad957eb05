"""`bot send` (a broadcast: its plan, then its texts queued for `bot worker`, then its progress) and `bot sends`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from zoneinfo import ZoneInfo

from .exports import kept_services

WATCH_POLL_S = 1.0


def _send(args: argparse.Namespace) -> int:
    from .. import broadcasts

    services = kept_services()
    store, book = services.store, services.book
    if args.cancel:
        record = broadcasts.cancel(store, args.cancel)
        if record is None:
            print(f"bot send: no broadcast {args.cancel!r} (see `bot sends`)", file=sys.stderr)
            return 1
        print(f"broadcast {record.id}: {record.state}; the texts not sent yet are skipped")
        return 0
    if args.resume:
        record = store.broadcast(args.resume)
        if record is None:
            print(f"bot send: no broadcast {args.resume!r} (see `bot sends`)", file=sys.stderr)
            return 1
        return _enqueue_and_watch(services, record, new=False)
    if not args.slug or not args.audience:
        print("bot send: give SLUG --audience all|FILE (or --resume ID, --cancel ID)", file=sys.stderr)
        return 2
    campaign = book.by_slug(args.slug)
    if campaign is None:
        print(f"bot send: no campaign {args.slug!r} in the campaign file", file=sys.stderr)
        return 1
    now = dt.datetime.now(dt.UTC)
    at = None
    if args.at:
        try:
            local = dt.datetime.strptime(args.at, "%Y-%m-%d %H:%M")
        except ValueError:
            print(f"bot send: --at {args.at!r}: expected \"YYYY-MM-DD HH:MM\" (the program's time zone)",
                  file=sys.stderr)
            return 2
        at = local.replace(tzinfo=ZoneInfo(book.program.timezone)).astimezone(dt.UTC)
    if args.audience == "all":
        audience = broadcasts.audience_all(store)
    else:
        try:
            audience = broadcasts.audience_file(args.audience, book, now)
        except OSError as exc:
            print(f"bot send: cannot read {args.audience}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    plan = broadcasts.plan_broadcast(book, store, campaign, audience, at=at, now=now, skip_bad=args.skip_bad,
                                     messaging_service=bool(services.settings.twilio_messaging_service_sid))
    for line in plan.refused_lines:
        print(line, file=sys.stderr)
    for line in plan.lines():
        print(line)
    if plan.refusals:
        print("not sent: see `refused` above", file=sys.stderr)
        return 1
    if args.dry_run:
        print("dry run: nothing queued, Talon.One asked nothing")
        return 0
    sender = campaign.numbers[0] if campaign.numbers else book.default_number()
    record, new = broadcasts.start(store, plan, now=now, sender=sender, again=args.again)
    if not new:
        print(f"broadcast {record.id}: the same command's broadcast ({record.state}): going on with it, "
              "nobody is texted twice (--again for a new one)")
    return _enqueue_and_watch(services, record, new=new)


def _enqueue_and_watch(services, record, *, new: bool) -> int:
    from .. import broadcasts

    engine = services.send_engine()
    queued = broadcasts.enqueue(services.store, engine, record)
    record = services.store.broadcast(record.id)
    print(f"broadcast {record.id}: {record.enqueued} of {record.size} text(s) queued ({queued} now); "
          "`bot worker` sends them" + (f" from {record.at}" if record.at else ""))
    if not sys.stdout.isatty():
        print(f"follow it with `bot sends`; stop it with `bot send --cancel {record.id}`")
        return 0
    return _watch(services, record.id)


def _watch(services, broadcast_id: str) -> int:
    """A progress bar until the broadcast is done; Ctrl-C stops watching, never the sending."""
    from .. import broadcasts

    rate = services.book.program.send_rate
    try:
        while True:
            now = dt.datetime.now(dt.UTC)
            shown = broadcasts.progress(services.store, broadcast_id, now=now, send_rate=rate)
            sys.stdout.write("\r" + _bar(shown))
            sys.stdout.flush()
            if shown.state in ("done", "cancelled"):
                print()
                return 0
            time.sleep(WATCH_POLL_S)
    except KeyboardInterrupt:
        print(f"\nstopped watching; the broadcast goes on in `bot worker` (`bot sends` shows it, "
              f"`bot send --cancel {broadcast_id}` stops it)")
        return 0


def _bar(shown, width: int = 30) -> str:
    size = max(shown.record.size, 1)
    filled = round(width * shown.settled / size)
    eta = dt.timedelta(seconds=round(shown.eta_s))
    return (f"[{'#' * filled}{'.' * (width - filled)}] {shown.settled}/{shown.record.size} "
            f"sent {shown.sent} skipped {shown.skipped} failed {shown.failed} ETA {eta} {shown.state}   ")


def _sends(args: argparse.Namespace) -> int:
    from .. import broadcasts

    services = kept_services()
    now = dt.datetime.now(dt.UTC)
    rows = services.store.broadcasts()
    print(f"{'id':<10} {'campaign':<16} {'audience':<20} {'state':<10} {'size':>7} {'queued':>7} {'sent':>7} "
          f"{'skipped':>7} {'failed':>7}  created")
    for record in rows:
        shown = broadcasts.progress(services.store, record.id, now=now, send_rate=services.book.program.send_rate)
        print(f"{record.id:<10} {record.campaign:<16} {record.audience[-20:]:<20} {shown.state:<10} "
              f"{record.size:>7} {record.enqueued:>7} {shown.sent:>7} {shown.skipped:>7} {shown.failed:>7}  "
              f"{record.created}")
    if not rows:
        print("(no broadcasts yet)")
    return 0


def add_send(commands: argparse._SubParsersAction) -> None:
    send = commands.add_parser(
        "send", help="send a campaign's coupon to an audience: prints the plan, then queues it for `bot worker`"
    )
    send.add_argument("slug", metavar="SLUG", nargs="?", help="the campaign")
    send.add_argument("--audience", metavar="all|FILE",
                      help="all: every customer with verified consent; FILE: a CSV with a phone column")
    send.add_argument("--at", metavar='"YYYY-MM-DD HH:MM"', help="send from then (the program's time zone)")
    send.add_argument("--dry-run", action="store_true", help="print the plan only: nothing queued, no Talon.One call")
    send.add_argument("--skip-bad", action="store_true",
                      help="leave out the file's refused lines (default: all or nothing)")
    send.add_argument("--again", action="store_true",
                      help="a new broadcast even if this command's was sent before (default: go on with it)")
    action = send.add_mutually_exclusive_group()
    action.add_argument("--resume", metavar="ID", help="go on queueing an interrupted broadcast")
    action.add_argument("--cancel", metavar="ID", help="stop a broadcast: its texts not sent yet are skipped")
    send.set_defaults(run=_send)


def add_sends(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("sends", help="the broadcasts, their state and counts").set_defaults(run=_sends)
