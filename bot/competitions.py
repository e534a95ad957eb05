"""Competitions (`kind = "competition"`): entries, their export and counts, the draw's steps, the winners' texts.

Entering. `Conversation` records an entry with `Store.enter`, which decides the window on
Redis's clock and numbers the entry, once per person (up to `max_entries_per_person`);
then the entry's coupon is created or retrieved in Talon.One with the sender's identifier
like any coupon. The reply (`entry_reply`) always carries "No purchase necessary" and the
rules' URL. The landing page's form is the free alternative method of entry: it runs the
same conversation (channel "web") and texts the same reply.

The draw (bot/draw.py holds its pure core and the definitions a verifier needs) runs in
steps kept in Redis under the competition's key, so any host with the bot's Redis can run
the next one: `commit_draw` (after `ends_at` on Redis's clock, once, with at least one
entry) freezes the entry ids and keeps the secret seed until `reveal_draw` publishes it;
`redraw` adds a replacement; `notify_winners` queues the current winners' texts (and, if asked,
everyone else's consolation text) on the send engine.

Entry ids are `draw.entry_id(BOT_SECRET, slug, e164, nth)`: the draw file holds no number,
and BOT_SECRET must not change between the first entry and the last winner's text.

Winners' texts go through the send engine (bot/sending.py), purpose "notice": one
`Outbound` per recipient under the occasion "winner:<draw id>" ("consolation:<draw id>"),
claimed once, so a second `notify` texts nobody twice; the worker re-reads the opt-out at
the moment of sending, holds a night-time recipient to their morning and keeps the send rate.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from . import draw as draws
from .campaigns import Campaign, CampaignBook, Program, reply_context
from .competition_wording import with_legal_wording
from .errors import DrawError
from .metrics import WINNER_TEXTS
from .phone import address_of, hash_sender
from .posters import campaign_number
from .sending import Outbound, SendEngine
from .store import Entry, Store

log = logging.getLogger(__name__)


# -- entering


def entrant(message_sender: str, channel: str) -> tuple[str | None, str]:
    """The entrant's E.164 number (None: not a person's number) and the entry's channel."""
    # Channel adapters already hand over the bare E.164 number; this guards any other caller.
    address = address_of(message_sender, channel)
    return address.number, address.channel


def entry_reply(campaign: Campaign, program: Program, *, code: str, entry: int) -> str:
    """The entry's reply: the campaign's template with `code` and `entry`, and the legal wording."""
    text = campaign.reply.render(**reply_context(campaign, program, code=code, entry=entry))
    return with_legal_wording(text, campaign.rules_url or "")


def competition_of(book: CampaignBook, slug: str) -> Campaign:
    campaign = book.by_slug(slug)
    if campaign is None:
        raise DrawError(f"no campaign {slug!r} in {book.path}")
    if campaign.kind != "competition":
        raise DrawError(f"campaign {slug!r} is kind = {campaign.kind!r}, not a competition")
    return campaign


# -- export and counts

EXPORT_COLUMNS = ("entry", "entry_id", "number", "number_hash", "nth", "channel", "poster", "at")


def export_entries(store: Store, secret: str, campaign: Campaign, out: IO[str], *, hash_numbers: bool) -> int:
    """Write the entries as CSV, by entry number; `hash_numbers` leaves the numbers out. Returns the rows."""
    columns = [c for c in EXPORT_COLUMNS if not (hash_numbers and c == "number")]
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    rows = 0
    for entry in sorted(store.entries(campaign.slug), key=lambda e: e.number):
        writer.writerow({
            "entry": entry.number,
            "entry_id": draws.entry_id(secret, campaign.slug, entry.e164, entry.nth),
            "number": entry.e164,
            "number_hash": hash_sender(secret, entry.e164),
            "nth": entry.nth,
            "channel": entry.channel,
            "poster": entry.poster,
            "at": entry.at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        })
        rows += 1
    return rows


# -- the draw's steps


def _entries_by_id(store: Store, secret: str, slug: str) -> dict[str, Entry]:
    return {draws.entry_id(secret, slug, e.e164, e.nth): e for e in store.entries(slug)}


def draw_id(draw: draws.Draw) -> str:
    """A draw's short name (its commitment's digest): the winners' texts' occasion."""
    return draw.commitment.digest[:16]


def commit_draw(store: Store, secret: str, campaign: Campaign, *, public_source: str | None = None,
                now: dt.datetime | None = None) -> draws.Commitment:
    """Freeze the entry list and keep the secret seed: refused before ends_at, twice, or with no entries."""
    now = now or dt.datetime.now(dt.UTC)
    assert campaign.ends_at is not None  # the loader requires it of a competition
    if now <= campaign.ends_at:
        raise DrawError(f"campaign {campaign.slug}: the draw comes after ends_at ({campaign.ends_at.isoformat()}); "
                        f"it is {now.isoformat(timespec='seconds')}")
    if store.draw_state(campaign.slug).commitment is not None:
        raise DrawError(f"campaign {campaign.slug}: the draw is already committed; reveal it")
    ids = list(_entries_by_id(store, secret, campaign.slug))
    commitment, seed = draws.commit(campaign.slug, ids, public_source=public_source, at=now)
    status = store.commit_draw(
        campaign.slug, ends_at=campaign.ends_at, entry_count=len(ids),
        commitment=json.dumps(commitment.to_document(), sort_keys=True), seed=seed,
        frozen=draws.canonical_entries(ids),
    )
    if status == "early":
        raise DrawError(f"campaign {campaign.slug}: Redis's clock is not past ends_at yet; the draw comes after it")
    if status == "twice":
        raise DrawError(f"campaign {campaign.slug}: the draw is already committed; reveal it")
    if status == "changed":
        raise DrawError(f"campaign {campaign.slug}: entries changed while committing; run commit again")
    log.info("campaign %s: draw committed over %d entries", campaign.slug, commitment.entry_count,
             extra={"campaign": campaign.slug, "entries": commitment.entry_count})
    return commitment


def reveal_draw(store: Store, campaign: Campaign, *, winners: int, public_value: str | None = None,
                now: dt.datetime | None = None) -> draws.Draw:
    """Publish the seed and rank the frozen entries: the draw, kept for redraws and the winners' texts."""
    state = store.draw_state(campaign.slug)
    if state.commitment is None or state.seed is None:
        raise DrawError(f"campaign {campaign.slug}: nothing committed yet; run `bot draw {campaign.slug} commit`")
    if state.document is not None:
        raise DrawError(f"campaign {campaign.slug}: the draw is already revealed (draw {_kept(state.document)})")
    commitment = draws.Commitment(**json.loads(state.commitment))
    drawn = draws.reveal(commitment, state.seed, store.frozen_entries(campaign.slug), winners=winners,
                         public_value=public_value, at=now)
    if not store.reveal_draw(campaign.slug, drawn.dumps()):
        raise DrawError(f"campaign {campaign.slug}: the draw was revealed by another run meanwhile")
    return drawn


def kept_draw(store: Store, campaign: Campaign) -> draws.Draw:
    """The revealed draw kept in Redis (with its replacements)."""
    document = store.draw_state(campaign.slug).document
    if document is None:
        raise DrawError(f"campaign {campaign.slug}: the draw is not revealed yet")
    return draws.Draw.from_document(json.loads(document))


def redraw(store: Store, campaign: Campaign, replace: str, *, reason: str,
           now: dt.datetime | None = None) -> draws.Draw:
    """Replace a winner who did not claim the prize by the next-ranked entrant, and keep it."""
    redrawn = draws.redraw(kept_draw(store, campaign), replace, reason=reason, at=now)
    store.redraw_draw(campaign.slug, redrawn.dumps())
    return redrawn


def _kept(document: str) -> str:
    return draw_id(draws.Draw.from_document(json.loads(document)))


# -- the winners' texts


@dataclass
class NotifyReport:
    """What one `notify_winners` run queued: the send engine's worker sends them."""

    queued: int = 0
    already: int = 0

    def __str__(self) -> str:
        return f"{self.queued} text(s) queued, {self.already} queued or sent before"


@dataclass(frozen=True)
class Recipient:
    entry: Entry
    occasion: str
    template_name: str


def recipients(draw: draws.Draw, entries: dict[str, Entry], *, consolation: bool) -> Iterator[Recipient]:
    """The current winners ("winner:<draw id>"), then, with `consolation`, one text per other person."""
    occasion = draw_id(draw)
    winners = draw.current_winners
    for entry_id in winners:
        yield Recipient(entries[entry_id], f"winner:{occasion}", "winner_reply")
    if not consolation:
        return
    # Replaced winners were told they won: they get no consolation text.
    told = {entries[i].e164 for i in (*winners, *(r.replaced for r in draw.replacements))}
    seen: set[str] = set()
    for entry in sorted(entries.values(), key=lambda e: e.number):
        if entry.e164 not in told and entry.e164 not in seen:
            seen.add(entry.e164)
            yield Recipient(entry, f"consolation:{occasion}", "consolation_reply")


def notify_winners(draw: draws.Draw, *, book: CampaignBook, store: Store, engine: SendEngine, secret: str,
                   consolation: bool = False) -> NotifyReport:
    """Queue `winner_reply` for each current winner (and with `consolation` the consolation text for everyone
    else) on the send engine, purpose "notice": each at most once per draw, whoever runs it how often."""
    campaign = competition_of(book, draw.commitment.campaign)
    if consolation and campaign.consolation_reply is None:
        raise DrawError(f"campaign {campaign.slug}: no consolation_reply to send")
    entries = _entries_by_id(store, secret, campaign.slug)
    missing = [i for i in draw.entries if i not in entries]
    if missing:
        raise DrawError(f"campaign {campaign.slug}: {len(missing)} drawn entries are not in Redis under this "
                        "BOT_SECRET (was it changed since the entries?)")
    shop = campaign_number(book, campaign)
    report = NotifyReport()
    for kind in ("winner", "consolation"):
        # The entry's coupon: the engine asks Talon.One with the entry's identifier (no year), which returns it.
        outbounds = [Outbound(r.entry.e164, campaign.slug, r.occasion, "notice", shop, template=r.template_name,
                              values={"entry": r.entry.number})
                     for r in recipients(draw, entries, consolation=consolation) if r.occasion.startswith(kind)]
        queued = engine.enqueue_many(outbounds)
        report.queued += queued
        report.already += len(outbounds) - queued
        WINNER_TEXTS.labels(campaign.slug, kind, "queued").inc(queued)
        WINNER_TEXTS.labels(campaign.slug, kind, "already").inc(len(outbounds) - queued)
    log.info("campaign %s: winners' texts: %s", campaign.slug, report, extra={"campaign": campaign.slug})
    return report


def winners_of(draw: draws.Draw, store: Store, secret: str) -> Iterable[tuple[str, int]]:
    """(entry id, entry number) of each current winner: what the operator checks against the export."""
    entries = _entries_by_id(store, secret, draw.commitment.campaign)
    return [(i, entries[i].number if i in entries else 0) for i in draw.current_winners]
