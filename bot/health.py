"""Operational routes: liveness, readiness, metrics."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from .app import services_of
from .errors import StoreUnavailable

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    services = services_of(current_app)
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


BREAKER_STATES = ("closed", "half-open", "open")
BREAKER = Gauge("kcb_upstream_breaker_state", "Talon.One circuit breaker (shared in Redis): 1 for the current state",
                ["state"], multiprocess_mode="livemax")
QUEUED = Gauge("kcb_late_jobs_queued", "Codes waiting to be texted late (shared in Redis)", multiprocess_mode="livemax")


@bp.get("/metrics")
def metrics() -> Response:
    services = services_of(current_app)
    try:
        state = services.store.breaker_state()
        QUEUED.set(services.store.queued())
    except StoreUnavailable:
        state = None
    for name in BREAKER_STATES:
        BREAKER.labels(state=name).set(1 if name == state else 0)
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)
