"""`bot draw`: a competition's verifiable draw (commit, reveal, redraw, notify) and `bot draw verify`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import Settings
from ..errors import DrawError

DRAW_ACTIONS = ("commit", "reveal", "redraw", "notify")


def _draw(args: argparse.Namespace) -> int:
    """`bot draw SLUG commit|reveal|redraw|notify` and `bot draw verify DRAW.json`."""
    from .. import competitions
    from ..services import Services

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

    from .. import draw as draws

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



def add_draw(commands: argparse._SubParsersAction) -> None:
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
