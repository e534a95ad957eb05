"""Prometheus metrics of the bot, and the per-text upstream clock for the log line.

The bot's metrics are declared here (the QR scan counters, ``kcb_scans_total``
and its kin, live with the scan logic in bot/scans.py):

=======================================  =========  ==============================  ==============================
metric                                   type       labels                          counted where
=======================================  =========  ==============================  ==============================
``kcb_texts_total``                      counter    ``channel``, ``campaign``,      once per inbound text, by
                                                    ``outcome``                     `Conversation` (its log line)
``kcb_upstream_request_duration_seconds`` histogram ``endpoint``, ``status``        every Talon.One call
                                                                                    (`TalonClient._get`); its
                                                                                    ``_count`` is the number of calls
``kcb_upstream_breaker_state``           gauge      ``state`` (closed, half-open,   read from Redis at each scrape
                                                    open): 1 for the current one    (bot/health.py)
``kcb_late_jobs_queued``                 gauge      –                               read from Redis at each scrape
``kcb_competition_entries_total``        counter    ``campaign``, ``channel``,      once per competition text or
                                                    ``outcome`` (entered, repeat,   form, by `Conversation`
                                                    not_started, ended)             (`Store.enter`'s answer)
``kcb_winner_texts_total``               counter    ``campaign``, ``occasion``      once per recipient of each
                                                    (winner, consolation),          `notify_winners` run (the
                                                    ``outcome`` (queued, already)   process running `bot draw
                                                                                    notify`); the send engine's
                                                                                    counts say what was sent
``kcb_outbound_sent_total``              counter    ``campaign``                    each text Twilio accepted
                                                                                    (`SmsSender.send`)
``kcb_outbound_status_total``            counter    ``status``                      each status callback that became
                                                                                    a text's new last status
                                                                                    (bot/receipts.py)
``kcb_outbound_errors_total``            counter    ``code`` (Twilio's ErrorCode)   each failed or undelivered text
``kcb_outbound_filtered_total``          counter    ``campaign``                    30007, carrier filtering: the
                                                                                    content is being blocked (alert)
``kcb_receipts_total``                   counter    ``result`` (stored, stale,      every POST /twilio/status
                                                    unknown, ignored, malformed,
                                                    forbidden, unavailable)
=======================================  =========  ==============================  ==============================

Labels never carry a phone number: ``campaign`` is the campaign's slug (``""``
when no campaign matched), ``outcome`` one of `conversation.Outcome`,
``endpoint`` the last part of Talon.One's path (``coupon``, ``referral``,
``loyalty``), ``status`` the HTTP status, or ``timeout`` / ``error`` when no
response came.

Several processes (gunicorn workers): prometheus-client's multiprocess mode.
When ``PROMETHEUS_MULTIPROC_DIR`` names a folder *before* the worker imports
prometheus_client, each worker writes its values to files there and
`exposition()` adds up every worker's files. ``gunicorn.conf.py`` sets it up
(a fresh folder per gunicorn run) and marks dead workers.
"""

from __future__ import annotations

import contextvars
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

TEXTS = Counter(
    "kcb_texts",
    "Inbound texts handled, by channel, campaign slug and outcome.",
    ["channel", "campaign", "outcome"],
)

UPSTREAM_SECONDS = Histogram(
    "kcb_upstream_request_duration_seconds",
    "Talon.One calls: time to a response (or failure), by endpoint and HTTP status (or timeout/error).",
    ["endpoint", "status"],
    # Talon.One answers in tens of ms; the read timeout is 5 s and Twilio's window 15 s.
    buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
)

# Read from Redis (shared by every worker) when /metrics is scraped. In multiprocess mode each
# worker keeps the value it last set: "livemostrecent" reports the latest scrape's, where
# "livemax" would keep a state another worker saw earlier (an "open" long after it closed).
BREAKER_STATES = ("closed", "half-open", "open")
BREAKER = Gauge(
    "kcb_upstream_breaker_state", "Talon.One circuit breaker (shared in Redis): 1 for the current state",
    ["state"], multiprocess_mode="livemostrecent",
)
QUEUED = Gauge(
    "kcb_late_jobs_queued", "Codes waiting to be texted late (shared in Redis)", multiprocess_mode="livemostrecent",
)

ENTRIES = Counter(
    "kcb_competition_entries",
    "Competition entries asked for, by campaign slug, channel and what Store.enter decided.",
    ["campaign", "channel", "outcome"],
)
WINNER_TEXTS = Counter(
    "kcb_winner_texts",
    "Competition winners' (and consolation) texts, by campaign slug, occasion and outcome.",
    ["campaign", "occasion", "outcome"],
)


OUTBOUND_SENT = Counter("kcb_outbound_sent", "Outbound texts Twilio accepted, by campaign slug.", ["campaign"])
OUTBOUND_STATUS = Counter(
    "kcb_outbound_status", "Status callbacks that became an outbound text's new last status, by status.", ["status"],
)
OUTBOUND_ERRORS = Counter(
    "kcb_outbound_errors", "Failed or undelivered outbound texts, by Twilio ErrorCode.", ["code"],
)
OUTBOUND_FILTERED = Counter(
    "kcb_outbound_filtered",
    "Outbound texts blocked by carrier filtering (Twilio 30007): the content is being blocked. Alert on it.",
    ["campaign"],
)
RECEIPTS = Counter("kcb_receipts", "POST /twilio/status callbacks handled, by result.", ["result"])


#: `TEXTS`'s children by label values: `labels()` validates and locks on every call, a dict lookup does not.
#: Bounded by channels × campaign slugs × outcomes, as the metric's own series are.
_TEXT_COUNTERS: dict[tuple[str, str, str], Counter] = {}


def count_text(channel: str, campaign: str | None, outcome: str) -> None:
    key = (channel, campaign or "", outcome)
    child = _TEXT_COUNTERS.get(key)
    if child is None:
        child = _TEXT_COUNTERS[key] = TEXTS.labels(*key)
    child.inc()


# -- upstream time of the text being handled, for its log line


@dataclass
class UpstreamClock:
    """Talon.One time spent while handling one text (this thread/context only)."""

    calls: int = 0
    seconds: float = 0.0


_clock: contextvars.ContextVar[UpstreamClock | None] = contextvars.ContextVar("kcb_upstream_clock", default=None)


def start_upstream_clock() -> UpstreamClock:
    """A fresh clock for the text about to be handled; `upstream_call` adds to it."""
    clock = UpstreamClock()
    _clock.set(clock)
    return clock


@contextmanager
def upstream_call(endpoint: str) -> Iterator[dict[str, str]]:
    """Time one Talon.One call. Set ``outcome["status"]`` inside; an exception counts as ``error``.

    The histogram gets the call, and the clock of the text being handled (if any) its time.
    """
    outcome = {"status": "error"}
    started = time.perf_counter()
    try:
        yield outcome
    finally:
        seconds = time.perf_counter() - started
        UPSTREAM_SECONDS.labels(endpoint=endpoint, status=outcome["status"]).observe(seconds)
        clock = _clock.get()
        if clock is not None:
            clock.calls += 1
            clock.seconds += seconds


# -- exposition


def multiprocess_dir() -> str | None:
    """The folder of multiprocess mode, when prometheus_client runs in it."""
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> tuple[bytes, str]:
    """The Prometheus text format for `GET /metrics`: every worker's values in multiprocess mode."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
