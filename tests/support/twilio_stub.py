"""A loopback HTTP server standing in for Twilio's REST API Messages resource.

POST /2010-04-01/Accounts/<AccountSid>/Messages.json (form: To, From, Body),
HTTP Basic auth with the account SID and auth token, answers 201 with a JSON
Message resource, or a scripted Twilio error body. Every request is recorded.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

_PATH = re.compile(r"^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$")


@dataclass(frozen=True)
class SentMessage:
    account_sid: str
    to: str
    from_: str
    body: str
    authorization: tuple[str, str]


class TwilioStub:
    def __init__(self) -> None:
        self.messages: list[SentMessage] = []
        self.failures: list[tuple[int, int, str]] = []  # queued (status, twilio code, message)
        self._changed = threading.Condition()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(), keep_blank_values=True).items()}
                match = _PATH.match(self.path)
                if not match:
                    return self._json(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
                user, _, password = base64.b64decode(self.headers.get("Authorization", "Basic ")[6:]).decode().partition(":")
                if user != match.group(1):
                    return self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
                if stub.failures:
                    status, code, message = stub.failures.pop(0)
                    return self._json(status, {"code": code, "message": message, "status": status})
                sent = SentMessage(match.group(1), form.get("To", ""), form.get("From", ""), form.get("Body", ""), (user, password))
                sid = "SM" + uuid.uuid4().hex
                self._json(201, {
                    "sid": sid, "account_sid": sent.account_sid, "to": sent.to, "from": sent.from_, "body": sent.body,
                    "status": "queued", "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
                    "uri": f"/2010-04-01/Accounts/{sent.account_sid}/Messages/{sid}.json",
                })
                with stub._changed:
                    stub.messages.append(sent)
                    stub._changed.notify_all()

            def _json(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "TwilioStub":
        self.thread.start()
        return self

    def reset(self) -> None:
        with self._changed:
            self.messages.clear()
            self.failures.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[SentMessage]:
        """The messages once at least `count` arrived (a condition with a deadline, not a sleep)."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} message(s) at the Twilio stand-in, got {len(self.messages)}")
            return list(self.messages)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
