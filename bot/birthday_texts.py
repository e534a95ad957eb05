"""Collecting birthdays by SMS: a `kind = "birthday"` campaign's keyword, and the answer to its question.

`BDAY 07/14` (or `7/14`, `14 July`, `July 14`, `1990-07-14`) saves the month and day in
the sender's audience record and the birthday index, and confirms it in words ("July 14").
`BDAY` alone asks; the sender's next text within 15 minutes is read as the answer (a
per-sender question key with a TTL, whose existence `Store.begin` reports in the text's
own round trip: no extra round trip for anyone without a pending question). A date read
two ways, or one that does not exist, is asked again, never guessed. `BDAY` again changes
it. A number that texts its birthday has consented by texting: its record counts as
verified, with the campaign as its source, and the birthday goes into the consent log;
`bot simulate` (channel "cli") only shows the reply and saves nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .birthdays import AskAgain, in_words, parse_birthday
from .campaigns import Campaign, CampaignBook, reply_context
from .store import AudienceRecord, ConsentEvent, Store

#: The channel of `bot simulate`: it never writes the consent log (DESIGN.md, "Contract: safety").
SIMULATED = "cli"


@dataclass(frozen=True)
class BirthdayAnswer:
    """What the conversation answers a birthday text, and what its `Store.finish` also records."""

    text: str
    outcome: str  # "birthday_saved" | "birthday_asked"
    campaign: str
    finish_args: dict[str, Any] = field(default_factory=dict)


class BirthdayTexts:
    def __init__(self, book: CampaignBook, store: Store, clock: Callable[[], dt.datetime]):
        self.book = book
        self.store = store
        self.clock = clock

    def keyword(self, sender: str, body: str, channel: str, campaign: Campaign) -> BirthdayAnswer:
        """A text naming the birthday campaign's keyword: (reply, outcome, `Store.finish` arguments)."""
        words = body.strip().split(None, 1)
        rest = words[1] if len(words) > 1 else ""
        if not rest.strip():
            self.store.ask_birthday(sender, campaign.slug)
            return BirthdayAnswer(self._render(campaign.ask_reply, campaign), "birthday_asked", campaign.slug)
        return self._read(sender, rest, channel, campaign)

    def answer(self, sender: str, body: str, channel: str) -> BirthdayAnswer | None:
        """The text after `BDAY` alone (or an unclear date): its answer; None when no question is pending."""
        slug = self.store.asked_birthday(sender)
        campaign = self.book.by_slug(slug) if slug else None
        if campaign is None or campaign.kind != "birthday":
            return None
        return self._read(sender, body, channel, campaign)

    def _read(self, sender: str, text: str, channel: str, campaign: Campaign) -> BirthdayAnswer:
        found = parse_birthday(text)
        if isinstance(found, AskAgain):
            self.store.ask_birthday(sender, campaign.slug)  # the next text is read as the answer again
            return BirthdayAnswer(f"{self.book.program.name}: {found.prompt}", "birthday_asked", campaign.slug)
        text = self._render(campaign.confirm_reply, campaign, birthday=in_words(found))
        if channel == SIMULATED:
            return BirthdayAnswer(text, "birthday_saved", campaign.slug)  # a simulation consents to nothing
        now = self.clock()
        previous = self.store.audience(sender)
        record = AudienceRecord(
            sender, str(found), previous.timezone if previous else "",
            consent_at=now.isoformat(timespec="seconds"), consent_source=f"{channel}:{campaign.keywords[0]}",
            verified=True,
        )
        self.store.save_audience([record])
        self.store.answered_birthday(sender)
        consent = ConsentEvent("birthday", now, str(found), campaign.slug, channel)
        args = {"consent": consent, "consent_retention_days": self.book.program.consent_retention_days}
        return BirthdayAnswer(text, "birthday_saved", campaign.slug, args)

    def _render(self, template, campaign: Campaign, **extra: Any) -> str:
        return template.render(**reply_context(campaign, self.book.program, **extra))
