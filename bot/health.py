"""Operational routes: liveness, readiness, metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from .errors import StoreUnavailable
from .metrics import BREAKER, BREAKER_STATES, QUEUED, exposition
from .services import services_of

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    services = services_of()
    checks = {
        "store": services.store.ping(),
        "campaigns": bool(services.book.campaigns),
    }
    ready = all(checks.values())
    # An open breaker does not make the bot unready: it still answers and queues codes.
    try:
        upstream = services.store.breaker_state()
    except StoreUnavailable:
        upstream = "unknown"
    body = jsonify(status="ready" if ready else "not ready", checks=checks, upstream=upstream)
    return body, 200 if ready else 503


@bp.get("/metrics")
def metrics() -> Response:
    services = services_of()
    try:
        state = services.store.breaker_state()
        QUEUED.set(services.store.queued())
    except StoreUnavailable:
        state = None
    for name in BREAKER_STATES:
        BREAKER.labels(state=name).set(1 if name == state else 0)
    body, content_type = exposition()
    return Response(body, content_type=content_type)
