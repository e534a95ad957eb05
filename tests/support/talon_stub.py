"""A loopback HTTP server standing in for Talon.One's customer-engagement API.

Written from reference/talon_one.md §1: GET /customer_engagement/{coupon,
referral,loyalty}, PascalCase coupon responses with the code in `Value`,
camelCase referral/loyalty responses, errors as {StatusCode, Error, RequestUUID}.
By default it keeps Talon.One's create-or-retrieve promise for `identifier`;
tests can queue scripted responses or add latency.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from tests.support.http import LoopbackStub


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


Response = tuple[int, bytes]


def error_body(status: int, message: str) -> bytes:
    return json.dumps({"StatusCode": status, "Error": message, "RequestUUID": str(uuid.uuid4())}).encode()


class TalonStub(LoopbackStub):
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.scripted: list[Response] = []
        self.latency = 0.0
        self.stall = False
        #: Random faults for soak runs: (probability, kind) with kind in 500, 429, garbage, slow.
        self.chaos: list[tuple[float, str]] = []
        self.chaos_slow_s = 3.0
        self._random = random.Random(7)
        self._codes: dict[tuple[str, str, str], str] = {}
        #: Counts resets: a request still waiting out its latency when its test ended (a client that timed
        #: out) must not create a coupon in the next test's numbering.
        self._generation = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without TCP_NODELAY, Nagle plus the
            # client's delayed ACK add 40 ms to every keep-alive response.
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes; without NODELAY, Nagle plus
                # the client's delayed ACK add ~40 ms to every keep-alive request.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path)
                received = Received(
                    "GET", parts.path, parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                status, body = stub._respond(received)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        super().__init__(Handler)

    def reset(self) -> None:
        with self._lock:
            self._generation += 1
            self.requests.clear()
            self.scripted.clear()
            self._codes.clear()
        self.latency = 0.0
        self.stall = False
        self.chaos = []
        self.release.clear()

    def calls(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if path is None or r.path == path]

    def coupons_created(self) -> int:
        """How many distinct coupons this stand-in of Talon.One has created."""
        with self._lock:
            return sum(1 for key in self._codes if key[0] != "referral")

    def script(self, *responses: Response) -> None:
        """Answer the next requests with these (status, body) pairs, then behave normally."""
        with self._lock:
            self.scripted.extend(responses)

    # -- behaviour

    def _respond(self, received: Received) -> Response:
        with self._lock:
            self.requests.append(received)
            scripted = self.scripted.pop(0) if self.scripted else None
            generation = self._generation
        fault = self._roll()
        if fault == "slow":
            threading.Event().wait(self.chaos_slow_s)
        elif fault == "500":
            return 500, error_body(500, "Internal Server Error")
        elif fault == "429":
            return 429, error_body(429, "Too many requests")
        elif fault == "garbage":
            return 200, b"<html>upstream proxy error</html>"
        if self.stall:
            self.release.wait(timeout=120)
        elif self.latency:
            threading.Event().wait(self.latency)  # simulated upstream latency
        if scripted is not None:
            return scripted
        if generation != self._generation:  # its test is over; nobody reads the answer
            return 503, error_body(503, "Service Unavailable")
        routes: dict[str, Callable[[Received], Response]] = {
            "/customer_engagement/coupon": self._coupon,
            "/customer_engagement/referral": self._referral,
            "/customer_engagement/loyalty": self._loyalty,
        }
        route = routes.get(received.path)
        if route is None:
            return 404, error_body(404, "Not Found")
        if not received.headers.get("authorization", "").startswith("ApiKey-v1 "):
            return 401, error_body(401, "Missing Session Token")
        if not received.headers.get("destination-hostname"):
            return 400, error_body(400, "No Deployment URL specified")
        return route(received)

    def _roll(self) -> str | None:
        with self._lock:
            draw = self._random.random()
        for probability, kind in self.chaos:
            if draw < probability:
                return kind
            draw -= probability
        return None

    def _coupon(self, r: Received) -> Response:
        for name in ("applicationId", "campaignId", "externalCampaignId"):
            if not r.param(name):
                return 400, error_body(400, f"missing {name}")
        key = (r.param("applicationId"), r.param("campaignId"), r.param("identifier") or str(uuid.uuid4()))
        with self._lock:
            code = self._codes.setdefault(key, f"T1-{len(self._codes) + 1:05d}")
        body = {
            "ID": 5000 + int(code[3:]),
            "ApplicationID": int(key[0]),
            "CampaignID": int(key[1]),
            "Value": code,
            "UsageLimit": 1,
            "Attributes": {},
        }
        return 200, json.dumps(body).encode()

    def _referral(self, r: Received) -> Response:
        if not r.param("campaignId") or not r.param("advocateProfileIntegrationId"):
            return 400, error_body(400, "missing campaignId or advocateProfileIntegrationId")
        key = ("referral", r.param("campaignId"), r.param("advocateProfileIntegrationId"))
        with self._lock:
            code = self._codes.setdefault(key, f"REF{len(self._codes) + 1:04d}")
        body = {"id": 77, "created": "2026-11-26T10:00:00Z", "campaignId": int(key[1]),
                "advocateProfileIntegrationId": key[2], "code": code, "usageCounter": 0, "usageLimit": 0}
        return 200, json.dumps(body).encode()

    def _loyalty(self, r: Received) -> Response:
        if not r.param("profileIntegrationId") or not r.param("loyaltyProgramId"):
            return 400, error_body(400, "missing profileIntegrationId or loyaltyProgramId")
        body = {
            "id": int(r.param("loyaltyProgramId")), "title": "Club", "name": "club",
            "ledger": {"currentBalance": 120, "pendingBalance": 0, "expiredBalance": 0, "spentBalance": 30,
                       "tentativeCurrentBalance": 120, "pointsToNextTier": 80,
                       "currentTier": {"id": 2, "name": "silver"}},
            "subLedgers": {},
        }
        return 200, json.dumps(body).encode()
