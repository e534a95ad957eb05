"""QR scans and poster attribution: who counts, how a visitor is pseudonymised, the counters.

A scan counts on GET only, never from a crawler or link-preview fetcher (a
missing user agent counts as one), and at most `SCAN_LIMIT` per client (an
IPv4 address or IPv6 /64): past it the visitor gets the polite refusal.
Unique visitors are counted in fixed space, a HyperLogLog per day and poster,
so no flood of user agents grows the store. A visitor is an HMAC of IP, user agent and
slug under a salt derived from BOT_SECRET and the day: unlinkable across days,
and neither the IP nor the salt is stored. Counts live in Redis, in the results
funnel's hourly buckets (`Store.count_scan`; a poster's texts are counted there
with the text's outcome, see results.py), read by the results page and `bot scans`,
and in Prometheus counters for GET /metrics.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re

from prometheus_client import Counter

from .campaigns import REF_RE, Campaign, CampaignBook
from .errors import StoreUnavailable
from .limits import RateLimit
from .store import NO_POSTER, Store  # noqa: F401  (NO_POSTER: the landing page names it from here)

log = logging.getLogger(__name__)

#: The `poster` label for a ref that looks like one ("SAVE Q9") but is not declared.
UNLISTED = "unlisted"

SCANS = Counter("kcb_scans", "QR scans counted (GET, crawlers excluded)", ["campaign", "poster"])
UNIQUE_SCANS = Counter("kcb_unique_scans", "First scan of a visitor in a day", ["campaign", "poster"])
CRAWLER_HITS = Counter("kcb_scan_crawler_hits", "Scan URLs fetched by crawlers or link previews (not counted)",
                       ["campaign"])
POSTER_TEXTS = Counter("kcb_poster_texts", "Keyword texts carrying a poster's reference", ["campaign", "poster"])
LANDING_FORMS = Counter("kcb_landing_forms", "Landing-page 'text me my code' submissions", ["outcome"])
FORM_LIMITED = Counter("kcb_form_limited", "Landing-form posts refused by a limit (client, number, country, budget)",
                       ["limit"])
SCANS_LIMITED = Counter("kcb_scans_limited", "Scan URL requests refused by the per-client scan limit")

#: Scan-page requests one client may make: 30 at once, then one every 10 s on average.
SCAN_LIMIT = RateLimit(rate=60, per_seconds=600, burst=30)

_CRAWLERS = re.compile(
    r"bot|crawl|spider|slurp|preview|facebookexternalhit|facebookcatalog|whatsapp|telegram|slack|discord|"
    r"skype|embedly|pinterest|vkshare|w3c_validator|headlesschrome|lighthouse|curl|wget|python-|httpx|"
    r"go-http-client|okhttp|java/|libwww|axios|node-fetch|scrapy|feedfetcher|mediapartners|google-read-aloud|"
    r"bingpreview|quora link preview|outbrain|nuzzel|redditbot|applebot|iframely|mastodon|snapchat",
    re.IGNORECASE,
)


def is_crawler(user_agent: str | None) -> bool:
    return not user_agent or not user_agent.strip() or bool(_CRAWLERS.search(user_agent))


def today() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")


def visitor_hash(secret: str, day: str, client_ip: str, user_agent: str, slug: str) -> str:
    salt = hmac.new(secret.encode(), f"scan-salt:{day}".encode(), hashlib.sha256).digest()
    return hmac.new(salt, f"{client_ip}\n{user_agent}\n{slug}".encode(), hashlib.sha256).hexdigest()[:20]


def record_scan(store: Store, secret: str, campaign: Campaign, poster_label: str,
                client_ip: str, user_agent: str | None, slug: str) -> bool | None:
    """Count one scan. Returns whether it was counted as unique; None when not counted (a crawler)."""
    if is_crawler(user_agent):
        CRAWLER_HITS.labels(campaign.slug).inc()
        return None
    SCANS.labels(campaign.slug, poster_label).inc()
    day = today()
    try:
        visitor = visitor_hash(secret, day, client_ip, user_agent or "", slug)
        unique = store.count_scan(campaign.slug, poster_label, visitor, day)
    except StoreUnavailable as exc:
        log.error("scan of %s not stored: %s", slug, exc)
        return False
    if unique:
        UNIQUE_SCANS.labels(campaign.slug, poster_label).inc()
    return unique


def attribute_text(book: CampaignBook, campaign: Campaign, rest: tuple[str, ...]) -> str | None:
    """The poster a keyword text came from ("SAVE P7"), for the text's funnel count and its log line;
    None when the text names no ref."""
    if not rest or not REF_RE.match(rest[0]):
        return None
    poster = book.poster_for(campaign, rest)
    label = poster.slug if poster else UNLISTED
    POSTER_TEXTS.labels(campaign.slug, label).inc()
    return label
