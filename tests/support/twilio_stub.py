"""A loopback stand-in for Twilio's REST API (reference/twilio_sms.md §6): messages, the account
and its phone numbers.

`POST /2010-04-01/Accounts/<AccountSid>/Messages.json` records a message and
answers 201 with Twilio's JSON; `GET …/Messages.json` lists them, filtered by
To, From and DateSent> like Twilio does. Tests can script error answers
(e.g. 21610) or stall a send.

`GET /2010-04-01/Accounts/<AccountSid>.json` and `GET …/IncomingPhoneNumbers.json?PhoneNumber=`
answer for the accounts a test adds (`add_account`, `add_number`), with HTTP Basic
credentials checked as Twilio does (401, code 20003, on a wrong SID or token).

Status callbacks: each message keeps the `StatusCallback` its create call
asked for. `callbacks(message, "sent", ("undelivered", "30006"), ...)` makes
the callbacks Twilio would post for it, in the order given (out of order and
repeated as a test likes), each signed with twilio's RequestValidator and the
auth token over the StatusCallback URL, as Twilio signs them. A test hands
them to Flask's test client (`Callback.post_to(client)`), or the stand-in
posts them itself to a bot on loopback (`post_callbacks`): the URL signed is
the public one, the URL posted to the bot's, as behind a proxy.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import httpx
from twilio.request_validator import RequestValidator

from tests.support.http import LoopbackStub


@dataclass(frozen=True)
class SentMessage:
    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    sent_at: dt.datetime
    auth_user: str
    status_callback: str = ""
    #: A template send's ContentSid and ContentVariables (JSON text); "" for a plain text.
    content_sid: str = ""
    content_variables: str = ""


@dataclass(frozen=True)
class Callback:
    """One status callback as Twilio posts it: to `url`, this form, this X-Twilio-Signature."""

    url: str
    form: dict[str, str] = field(hash=False)
    signature: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def headers(self) -> dict[str, str]:
        return {"X-Twilio-Signature": self.signature}

    def post_to(self, client):
        """Post through Flask's test client."""
        return client.post(self.path, data=self.form, headers=self.headers)


def twilio_error(status: int, code: int, message: str) -> bytes:
    return json.dumps({"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                       "status": status}).encode()


class TwilioStub(LoopbackStub):
    def __init__(self, auth_token: str = "") -> None:
        #: Signs the status callbacks, as Twilio does with the account's auth token.
        self.auth_token = auth_token
        self.messages: list[SentMessage] = []
        #: AccountSid -> (auth token, status, friendly name), for the account and number endpoints.
        self.accounts: dict[str, tuple[str, str, str]] = {}
        self.numbers: list[dict[str, str | None]] = []
        self.scripted: list[tuple[int, bytes]] = []
        self.stall = threading.Event()   # set() to make sends hang until release
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _account(self) -> str | None:
                parts = urlsplit(self.path).path.strip("/").split("/")
                if len(parts) == 4 and parts[:2] == ["2010-04-01", "Accounts"] and parts[3] == "Messages.json":
                    return parts[2]
                return None

            def do_POST(self) -> None:  # noqa: N802
                account = self._account()
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if account is None:
                    return self._answer(404, twilio_error(404, 20404, "not found"))
                auth = base64.b64decode(self.headers.get("Authorization", "Basic ").split(" ", 1)[1] or b"").decode()
                with stub._lock:
                    scripted = stub.scripted.pop(0) if stub.scripted else None
                    if scripted is None:
                        message = SentMessage(
                            "SM" + uuid.uuid4().hex, account, form.get("To", ""),
                            form.get("From") or form.get("MessagingServiceSid", ""),
                            form.get("Body", ""), dt.datetime.now(dt.UTC), auth.split(":")[0],
                            status_callback=form.get("StatusCallback", ""), content_sid=form.get("ContentSid", ""),
                            content_variables=form.get("ContentVariables", ""),
                        )
                        stub.messages.append(message)
                if stub.stall.is_set():
                    stub.release.wait(timeout=120)  # the message is recorded: it "went out"
                if scripted is not None:
                    return self._answer(*scripted)
                self._answer(201, json.dumps(stub._json(message)).encode())

            def _credentials(self) -> tuple[str, str]:
                auth = self.headers.get("Authorization", "Basic ").split(" ", 1)[1]
                user, _, password = base64.b64decode(auth or b"").decode().partition(":")
                return user, password

            def _authenticated(self, account: str) -> bool:
                known = stub.accounts.get(account)
                if known is None or self._credentials() != (account, known[0]):
                    self._answer(401, twilio_error(401, 20003, "Authenticate"))
                    return False
                return True

            def do_GET(self) -> None:  # noqa: N802
                parts = urlsplit(self.path).path.strip("/").split("/")
                if parts[:2] == ["2010-04-01", "Accounts"] and len(parts) == 3 and parts[2].endswith(".json"):
                    return self._get_account(parts[2].removesuffix(".json"))
                if parts[:2] == ["2010-04-01", "Accounts"] and parts[3:] == ["IncomingPhoneNumbers.json"]:
                    return self._list_numbers(parts[2])
                account = self._account()
                if account is None:
                    return self._answer(404, twilio_error(404, 20404, "not found"))
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                after = query.get("DateSent>")
                after_dt = dt.datetime.fromisoformat(after.replace("Z", "+00:00")) if after else None
                with stub._lock:
                    found = [
                        m for m in stub.messages
                        if m.account_sid == account
                        and ("To" not in query or m.to == query["To"])
                        and ("From" not in query or m.from_ == query["From"])
                        and (after_dt is None or m.sent_at >= after_dt)
                    ]
                page = {"messages": [stub._json(m) for m in found], "next_page_uri": None, "page": 0,
                        "page_size": 50, "uri": urlsplit(self.path).path, "first_page_uri": urlsplit(self.path).path}
                self._answer(200, json.dumps(page).encode())

            def _get_account(self, account: str) -> None:
                if self._authenticated(account):
                    _, status, name = stub.accounts[account]
                    body = {"sid": account, "friendly_name": name, "status": status, "type": "Full",
                            "auth_token": stub.accounts[account][0], "uri": f"/2010-04-01/Accounts/{account}.json"}
                    self._answer(200, json.dumps(body).encode())

            def _list_numbers(self, account: str) -> None:
                if not self._authenticated(account):
                    return
                wanted = parse_qs(urlsplit(self.path).query).get("PhoneNumber", [None])[0]
                with stub._lock:
                    found = [n for n in stub.numbers if n["account_sid"] == account
                             and (wanted is None or n["phone_number"] == wanted)]
                uri = urlsplit(self.path).path
                page = {"incoming_phone_numbers": found, "next_page_uri": None, "page": 0, "page_size": 50,
                        "uri": uri, "first_page_uri": uri}
                self._answer(200, json.dumps(page).encode())

            def log_message(self, *args) -> None:
                pass

        super().__init__(Handler)

    def add_account(self, sid: str, token: str, *, status: str = "active", name: str = "Acme") -> None:
        with self._lock:
            self.accounts[sid] = (token, status, name)

    def add_number(self, account: str, phone_number: str, *, sms_url: str | None, sms_method: str = "POST",
                   sms_application_sid: str | None = None) -> None:
        """A number of `account`, with the webhook Twilio posts its incoming texts to."""
        with self._lock:
            self.numbers.append({
                "sid": "PN" + uuid.uuid4().hex, "account_sid": account, "phone_number": phone_number,
                "friendly_name": phone_number, "sms_url": sms_url, "sms_method": sms_method,
                "sms_application_sid": sms_application_sid, "sms_fallback_url": "", "voice_url": "",
                "capabilities": {"sms": True, "mms": False, "voice": True},
                "uri": f"/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/PN.json",
            })

    def _json(self, m: SentMessage) -> dict:
        return {"sid": m.sid, "account_sid": m.account_sid, "to": m.to, "from": m.from_, "body": m.body,
                "status": "queued", "num_segments": "1", "direction": "outbound-api",
                "date_created": format_datetime(m.sent_at, usegmt=True),
                "date_sent": format_datetime(m.sent_at, usegmt=True), "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{m.account_sid}/Messages/{m.sid}.json"}

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.scripted.clear()
            self.accounts.clear()
            self.numbers.clear()
        self.stall.clear()
        self.release.clear()

    def script(self, *responses: tuple[int, bytes]) -> None:
        with self._lock:
            self.scripted.extend(responses)

    def sent(self, to: str | None = None) -> list[SentMessage]:
        with self._lock:
            return [m for m in self.messages if to is None or m.to == to]

    # -- status callbacks

    def callback(self, message: SentMessage, status: str, error_code: str | None = None, *,
                 token: str | None = None) -> Callback:
        """The status callback Twilio would post for `message` reaching `status` (with ErrorCode)."""
        if not message.status_callback:
            raise AssertionError(f"{message.sid} was created without a StatusCallback")
        form = {
            "SmsSid": message.sid, "SmsStatus": status, "MessageStatus": status, "To": message.to,
            "MessageSid": message.sid, "AccountSid": message.account_sid, "From": message.from_,
            "ApiVersion": "2010-04-01",
        }
        if error_code:
            form["ErrorCode"] = error_code
        if status == "delivered":
            form["RawDlrDoneDate"] = message.sent_at.strftime("%y%m%d%H%M")
        signature = RequestValidator(token or self.auth_token).compute_signature(message.status_callback, form)
        return Callback(message.status_callback, form, signature)

    def callbacks(self, message: SentMessage, *steps: str | tuple[str, str]) -> list[Callback]:
        """One callback per step, in the order given: "sent", or ("undelivered", "30006")."""
        return [self.callback(message, *((step,) if isinstance(step, str) else step)) for step in steps]

    def post_callbacks(self, callbacks: Iterable[Callback], base_url: str) -> list[int]:
        """Post each callback to the bot at `base_url` (its StatusCallback's path), as Twilio would; the statuses."""
        with httpx.Client(base_url=base_url, timeout=10) as client:
            return [client.post(c.path, data=c.form, headers=c.headers).status_code for c in callbacks]
