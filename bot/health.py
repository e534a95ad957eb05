"""Operational routes: liveness, readiness, metrics."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from flask import Blueprint, Response, jsonify, request

from .campaign_file import load_campaigns
from .errors import ConfigError, StoreUnavailable
from .metrics import BREAKER, BREAKER_STATES, QUEUED, exposition
from .services import services_of

bp = Blueprint("health", __name__)

#: campaign file -> ((mtime_ns, size), whether it loads): the readiness probe's memory.
_campaign_checks: dict[str, tuple[tuple[int, int], bool]] = {}


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


def campaign_file_usable(path: Path) -> bool:
    """Whether the campaign file a restart would read is still there and still loads.

    Loaded again only when its size or modification time changed, so a probe stays cheap.
    """
    try:
        stat = os.stat(path)
    except OSError:
        return False
    signature = (stat.st_mtime_ns, stat.st_size)
    known = _campaign_checks.get(str(path))
    if known is None or known[0] != signature:
        try:
            usable = bool(load_campaigns(path).campaigns)
        except (ConfigError, OSError):
            usable = False
        known = _campaign_checks[str(path)] = (signature, usable)
    return known[1]


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    services = services_of()
    checks = {
        "store": services.store.ping(),
        "campaigns": bool(services.book.campaigns) and campaign_file_usable(services.settings.campaigns_file),
    }
    ready = all(checks.values())
    # An open breaker does not make the bot unready: it still answers and queues codes.
    try:
        upstream = services.store.breaker_state()
    except StoreUnavailable:
        upstream = "unknown"
    body = jsonify(status="ready" if ready else "not ready", checks=checks, upstream=upstream,
                   mode="demo" if services.settings.demo_mode else "production")
    return body, 200 if ready else 503


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def metrics_allowed(token: str | None) -> bool:
    """No METRICS_TOKEN: public. Otherwise `Authorization: Bearer <token>`, compared as digests."""
    if not token:
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(_digest(given.strip()), _digest(token))


@bp.get("/metrics")
def metrics() -> Response:
    services = services_of()
    if not metrics_allowed(services.settings.metrics_token):
        return Response("GET /metrics needs Authorization: Bearer <METRICS_TOKEN>.\n", 401,
                        {"WWW-Authenticate": 'Bearer realm="metrics"'}, mimetype="text/plain")
    try:
        state = services.store.breaker_state()
        QUEUED.set(services.store.queued())
    except StoreUnavailable:
        state = None
    for name in BREAKER_STATES:
        BREAKER.labels(state=name).set(1 if name == state else 0)
    body, content_type = exposition()
    return Response(body, content_type=content_type)
