"""What every browser-facing page shares: the client's address, the form secret, the security headers."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Request, Response, current_app, request

from .services import services_of


def form_secret(app: Flask | None = None) -> str:
    """BOT_SECRET; in the all-embedded demo (no secret) a random one for this process."""
    app = app or current_app
    settings = services_of(app).settings
    if settings.bot_secret:
        return settings.bot_secret
    return app.extensions.setdefault("landing_demo_secret", secrets.token_hex(32))


def client_address() -> str:
    """The client's IP: behind TRUSTED_PROXY_HOPS proxies, the address the nearest trusted one saw."""
    hops = services_of().settings.trusted_proxy_hops
    if hops:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.remote_addr or ""


def client_hash(secret: str, address: str) -> str:
    """A salted hash of a client's address: rate limits key on it, and no address is stored."""
    return hmac.new(secret.encode(), f"web-client:{address}".encode(), hashlib.sha256).hexdigest()[:20]


def client_network(address: str) -> str:
    """What one client is for a limit: an IPv4 address, or an IPv6 /64 (one subscriber's whole prefix)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_key() -> str:
    """The key a per-client limit counts this request under: a salted hash of its network."""
    return client_hash(form_secret(), client_network(client_address()))


class BotRequest(Request):
    """Flask's request, reading a body the server already bounds without werkzeug's `LimitedStream`.

    With MAX_CONTENT_LENGTH set, werkzeug wraps every body in a pure-Python
    `LimitedStream`, even when the WSGI server stops the stream at the
    Content-Length itself (`wsgi.input_terminated`, as gunicorn does): 4 % of
    a gunicorn worker's Python time under `make bench`'s repeat texters. A body whose length is
    declared and within the limit is read from the server's stream directly;
    one over the limit is still refused (413) before it is read, and a body of
    undeclared length (chunked) still goes through the limited stream.
    """

    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        limit = super().max_content_length
        length = self.content_length
        if limit is not None and length is not None and length <= limit and "wsgi.input_terminated" in self.environ:
            return None
        return limit

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        Request.max_content_length.fset(self, value)  # Flask's own per-request limit


class NoSniff:
    """WSGI middleware: `X-Content-Type-Options: nosniff` on every response, error pages and
    text/plain answers included.

    Around the app rather than an `after_request` hook: Flask runs a hook through
    `ensure_sync`'s coroutine check on every request, and that hook was a
    twentieth of a repeat texter's instructions beyond the one-round-trip floor
    (`make bench-instructions`).
    """

    HEADER = ("X-Content-Type-Options", "nosniff")

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]):
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def start_with_nosniff(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append(self.HEADER)
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start_with_nosniff)


def init_app(app: Flask) -> None:
    """The request class, and the headers every response carries."""
    app.request_class = BotRequest
    app.wsgi_app = NoSniff(app.wsgi_app)  # type: ignore[method-assign]


def private_page(response: Response, *, images: bool = False) -> Response:
    """The headers of every page: never cached (repeat scans stay visible, forms carry a token),
    never indexed, no referrer, and nothing loaded but inline styles (and our own images if `images`)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    response.headers["Referrer-Policy"] = "no-referrer"
    img_src = "img-src 'self'; " if images else ""
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'unsafe-inline'; {img_src}form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    return response
