"""The results page's outbound section: the texts the bot sent (late codes, the landing form, birthdays,
broadcasts) and what Twilio's delivery receipts said of them, per campaign and occasion; and the
birthday campaigns' outreach totals.

Recording. `OutboundFunnel` counts each text Twilio accepted (`sent`, by `outbound.SmsSender`) and
each receipt's final status and error code (`receipts.apply`) under the hour the text was sent, the
same way `results.Funnel` counts handled texts. Reading. `outbound` sums a `results.Period` into one
`results.Row` per campaign and per (campaign, occasion); `outbound_csv` and `errors_csv` write them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from .campaigns import CampaignBook
from .results import Funnel, Period, Row, cells_of, row_of, rows_csv
from .store import Store, funnel_field

log = logging.getLogger(__name__)


class OutboundFunnel(Funnel):
    """Counts outbound texts (`sent`, at the send) and their receipts' final statuses, by the hour the
    text was sent, under (campaign, occasion): so a period's row says what became of its texts."""

    what = "outbound counts"

    def add(self, sent_hour: dt.datetime, campaign: str, occasion: str, event: str) -> None:
        """Count one outbound event; never raises (the text and its receipt matter more than the count)."""
        try:
            name = funnel_field(campaign, occasion, event)
        except ValueError as exc:
            log.error("outbound counts: not counted: %s", exc)
            return
        self._add(sent_hour, name)

    def _write(self, counts: dict[tuple[dt.datetime, str], int]) -> None:
        self.store.count_outbound(counts)


#: The outbound section's columns, in order (page, CSV and charts). Counted by the hour each text was sent.
OUTBOUND_COLUMNS = ("sent", "delivered", "undelivered", "failed", "pending", "opted_out", "unreachable", "filtered")
OUTBOUND_CHARTED = {"sent": "#1f77b4", "delivered": "#2ca02c", "undelivered": "#ff7f0e", "failed": "#d62728"}
#: Twilio error codes with a column of their own (every code is also in the errors table).
ERROR_COLUMNS = {"21610": "opted_out", "21614": "unreachable", "30006": "unreachable", "30007": "filtered"}
#: The event a receipt's ErrorCode is counted under: "error:<code>".
ERROR_EVENT = "error:"


def outbound_columns_of(events: Mapping[str, int]) -> dict[str, int]:
    """One (campaign, occasion)'s raw outbound events -> the outbound columns."""
    sent = events.get("sent", 0)
    final = {
        "delivered": events.get("delivered", 0) + events.get("read", 0),
        "undelivered": events.get("undelivered", 0),
        "failed": events.get("failed", 0) + events.get("canceled", 0),
    }
    named = dict.fromkeys(("opted_out", "unreachable", "filtered"), 0)
    for event, n in events.items():
        column = ERROR_COLUMNS.get(event.removeprefix(ERROR_EVENT)) if event.startswith(ERROR_EVENT) else None
        if column:
            named[column] += n
    return {"sent": sent, **final, "pending": max(0, sent - sum(final.values())), **named}


@dataclass
class Outbound:
    """Per campaign (and each occasion under it: late replies, the landing form, a broadcast, ...)."""

    period: Period
    rows: list[Row] = field(default_factory=list)
    #: (campaign, occasion, error code, texts), most first
    errors: list[tuple[str, str, str, int]] = field(default_factory=list)


def outbound(store: Store, period: Period) -> Outbound:
    """Sum the period's outbound buckets into campaign rows, each followed by its occasions' rows."""
    n = len(period.points)
    cells = cells_of(store.outbound_counts(period.hours), period)
    result = Outbound(period)
    for campaign in sorted({campaign for campaign, _ in cells}):
        occasions = sorted(occasion for c, occasion in cells if c == campaign)
        total = [sum((cells[(campaign, o)][i] for o in occasions), Counter()) for i in range(n)]
        result.rows.append(row_of(campaign, None, total, n, columns=outbound_columns_of))
        result.rows.extend(row_of(campaign, o, cells[(campaign, o)], n, columns=outbound_columns_of) for o in occasions)
    errors: Counter = Counter()
    for (campaign, occasion), steps in cells.items():
        for event, count in sum(steps, Counter()).items():
            if event.startswith(ERROR_EVENT):
                errors[(campaign, occasion, event.removeprefix(ERROR_EVENT))] += count
    result.errors = [(*key, count) for key, count in sorted(errors.items(), key=lambda item: (-item[1], item[0]))]
    return result


def outbound_csv(outbound: Outbound, *, by_step: bool = False) -> str:
    """The outbound section as CSV: one line per campaign and occasion row; `by_step`: one per chart step."""
    return rows_csv(outbound.rows, outbound.period, OUTBOUND_COLUMNS, "occasion", by_step=by_step)


def errors_csv(outbound: Outbound) -> str:
    """The outbound section's failures by Twilio error code, as CSV."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["campaign", "occasion", "error_code", "texts"])
    writer.writerows(outbound.errors)
    return out.getvalue()


# -- outreach (birthday coupons): totals per campaign, not per hour

#: The outreach row's columns: the store's counts (store/outreach.py), in the page's order.
OUTREACH_COLUMNS = ("planned", "sent", "quiet_hours", "opted_out", "no_consent", "upstream", "failed")


def outreach(store: Store, book: CampaignBook) -> list[tuple[str, dict[str, int]]]:
    """(slug, counts) for each birthday campaign: texts planned, sent, and skipped by reason, all time."""
    return [(c.slug, store.outreach_counts(c.slug)) for c in book.campaigns if c.kind == "birthday"]
