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
`redraw` adds a replacement; `notify_winners` texts the current winners (and, if asked,
everyone else the consolation text).

Entry ids are `draw.entry_id(BOT_SECRET, slug, e164, nth)`: the draw file holds no number,
and BOT_SECRET must not change between the first entry and the last winner's text.

Winners' texts go out here until the send engine (bot/sending.py) lands: each recipient
at most once per draw (the late replies' `sending`/`sent` marker under the occasion
"winner:<draw id>"), opt-outs read at the moment of sending, quiet hours kept (held texts
go out when `notify` is run again inside the allowed hours), paced at the send rate.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from . import draw as draws
from .campaigns import Campaign, CampaignBook, Program
from .competition_wording import with_legal_wording
from .errors import DeliveryRefused, DeliveryUncertain, DrawError, RecipientOptedOut, UpstreamError
from .issuing import Issuer, issue
from .metrics import WINNER_TEXTS
from .outbound import SmsSender
from .phone import address_of, hash_sender, mask
from .posters import campaign_number
from .quiet_hours import AllowedHours, LocalZones, is_allowed, zones_for
from .store import Entry, Store
from .upstream import UpstreamGuard

log = logging.getLogger(__name__)

#: Entry channels: the webhook's SMS and WhatsApp, the landing form, `bot simulate`.
#: Winners' texts are outreach: at most this many a second unless the program says otherwise (a US long code).
DEFAULT_SEND_RATE = 1.0
#: How long a winner's exactly-once marker is kept: longer than any prize's claim period.
MARKER_TTL_MS = 400 * 24 * 3600 * 1000
#: Outreach hours: 8:00 to 20:00 in the recipient's local time (quiet_hours.py).
OUTREACH_HOURS = AllowedHours()


# -- entering


def entrant(message_sender: str, channel: str) -> tuple[str | None, str]:
    """The entrant's E.164 number (None: not a person's number) and the entry's channel."""
    # Channel adapters already hand over the bare E.164 number; this guards any other caller.
    address = address_of(message_sender, channel)
    return address.number, address.channel


def reply_context(campaign: Campaign, program: Program, **values: object) -> dict[str, object]:
    return {**campaign.template_context(), "program": {"name": program.name}, **values}


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
    """What one `notify_winners` run did, per recipient."""

    sent: int = 0
    already: int = 0
    opted_out: int = 0
    held: int = 0
    refused: int = 0
    uncertain: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def __str__(self) -> str:
        return ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in dataclasses.asdict(self).items())


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


def notify_winners(
    draw: draws.Draw,
    *,
    book: CampaignBook,
    store: Store,
    issuer: Issuer,
    guard: UpstreamGuard,
    sms: SmsSender,
    secret: str,
    consolation: bool = False,
    rate: float = DEFAULT_SEND_RATE,
    hours: AllowedHours = OUTREACH_HOURS,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    pause: Callable[[float], None] = time.sleep,
) -> NotifyReport:
    """Text each current winner `winner_reply` (and with `consolation` everyone else the consolation text),
    each at most once per draw; run it again to send what quiet hours or an uncertain send held back."""
    campaign = competition_of(book, draw.commitment.campaign)
    if consolation and campaign.consolation_reply is None:
        raise DrawError(f"campaign {campaign.slug}: no consolation_reply to send")
    entries = _entries_by_id(store, secret, campaign.slug)
    missing = [i for i in draw.entries if i not in entries]
    if missing:
        raise DrawError(f"campaign {campaign.slug}: {len(missing)} drawn entries are not in Redis under this "
                        "BOT_SECRET (was it changed since the entries?)")
    shop = campaign_number(book, campaign)
    # A recipient whose number places them nowhere is held to the shop's zones, all of them.
    shop_zones = zones_for(shop, default="UTC")
    report = NotifyReport()
    sent_before = False
    for recipient in recipients(draw, entries, consolation=consolation):
        if sent_before:
            pause(1.0 / rate)
        outcome = _send_once(recipient, campaign, book, store, issuer, guard, sms, shop, shop_zones, hours, clock())
        sent_before = outcome in ("sent", "uncertain", "refused")
        WINNER_TEXTS.labels(campaign.slug, recipient.occasion.split(":")[0], outcome).inc()
        report.add(outcome)
    log.info("campaign %s: winners' texts: %s", campaign.slug, report, extra={"campaign": campaign.slug})
    return report


def _send_once(recipient: Recipient, campaign: Campaign, book: CampaignBook, store: Store, issuer: Issuer,
               guard: UpstreamGuard, sms: SmsSender, shop: str, shop_zones: LocalZones, hours: AllowedHours,
               now: dt.datetime) -> str:
    e164, occasion = recipient.entry.e164, recipient.occasion
    zones = zones_for(e164, default="UTC")
    if not is_allowed(now, shop_zones if zones.source == "default" else zones, hours):
        return "held"
    if store.is_opted_out(e164):
        return "opted_out"
    code = store.cached_code(e164, campaign.slug)
    if code is None:
        try:
            code = issue(issuer, guard, book.program, campaign, e164, deadline=time.monotonic() + 20.0)
        except UpstreamError as exc:
            log.warning("campaign %s: no code for %s yet: %s", campaign.slug, mask(e164), exc)
            return "uncertain"
        store.cache_code(e164, campaign.slug, code)
    template = getattr(campaign, recipient.template_name)
    body = template.render(**reply_context(campaign, book.program, code=code, entry=recipient.entry.number))
    marker = store.mark_sending(e164, occasion, ttl_ms=MARKER_TTL_MS)
    if marker == "sent":
        return "already"
    if marker is not None:
        # A run died between "sending" and "sent": only Twilio knows whether it went out.
        since = dt.datetime.fromisoformat(marker.removeprefix("sending:").replace("Z", "+00:00"))
        try:
            if sms.was_sent(to=e164, from_=shop, body=body, after=since - dt.timedelta(minutes=1),
                            campaign=campaign.slug, occasion=occasion):
                store.mark_sent(e164, occasion, ttl_ms=MARKER_TTL_MS)
                return "already"
        except DeliveryUncertain:
            return "uncertain"
    try:
        sms.send(to=e164, from_=shop, body=body, campaign=campaign.slug, occasion=occasion)
    except RecipientOptedOut:
        store.record_opt_out(e164, "21610")
        store.mark_sent(e164, occasion, ttl_ms=MARKER_TTL_MS)
        return "opted_out"
    except DeliveryRefused as exc:
        log.error("campaign %s: text to %s refused: %s", campaign.slug, mask(e164), exc)
        store.mark_sent(e164, occasion, ttl_ms=MARKER_TTL_MS)
        return "refused"
    except DeliveryUncertain as exc:
        log.warning("campaign %s: text to %s uncertain: %s", campaign.slug, mask(e164), exc)
        return "uncertain"  # the "sending" marker stays: the next run reconciles before resending
    store.mark_sent(e164, occasion, ttl_ms=MARKER_TTL_MS)
    return "sent"


def winners_of(draw: draws.Draw, store: Store, secret: str) -> Iterable[tuple[str, int]]:
    """(entry id, entry number) of each current winner: what the operator checks against the export."""
    entries = _entries_by_id(store, secret, draw.commitment.campaign)
    return [(i, entries[i].number if i in entries else 0) for i in draw.current_winners]
