"""`bot check`, `bot poster`, `bot scans` and `bot doctor`: the campaign file, posters and the deployment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import EXAMPLE_CAMPAIGNS_FILE, Settings
from ..errors import CampaignFileError


def _check(args: argparse.Namespace) -> int:
    from ..campaign_file import load_campaigns

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



def _poster(args: argparse.Namespace) -> int:
    from ..campaign_file import load_campaigns
    from ..posters import PosterError, PosterOptions, format_of, layout, poster_content, render

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
    from ..services import Services

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



def _doctor(args: argparse.Namespace) -> int:
    from ..doctor import run

    return run()



def add_check(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser("check", help="validate a campaign file and print every problem")
    check.add_argument(
        "file", nargs="?", help=f"campaign file (default: CAMPAIGNS_FILE or {EXAMPLE_CAMPAIGNS_FILE.name})"
    )
    check.set_defaults(run=_check)


def add_poster(commands: argparse._SubParsersAction) -> None:
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


def add_scans(commands: argparse._SubParsersAction) -> None:
    scans = commands.add_parser("scans", help="scan counts and texts attributed to each poster (the results' 90 days)")
    scans.set_defaults(run=_scans)


def add_doctor(commands: argparse._SubParsersAction) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check a deployment end to end: settings, campaign file, Redis, Talon.One, Twilio (exit 1 on FAIL)",
    )
    doctor.set_defaults(run=_doctor)
