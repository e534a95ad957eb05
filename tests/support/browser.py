"""Real headless Chromium (Debian's package) through Playwright, and the app on a real loopback server."""

from __future__ import annotations

import shutil
import threading

import pytest
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import make_server

#: The User-Agents a landing page tells apart (iOS reads "&body=", Android "?body=").
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
          " Version/17.4 Mobile/15E148 Safari/604.1")
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko)"
           " Chrome/125.0.0.0 Mobile Safari/537.36")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def launch(playwright):
    if not shutil.which(CHROMIUM):
        pytest.fail("Debian's chromium is not installed: run `make test` (installs it with apt-get when root)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


class LiveServer:
    """The Flask app served by werkzeug on 127.0.0.1 and a free port, in a thread."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def denied(context, url: str) -> bool:
    """Chromium shows the 401, or gives up on a 401 it cannot answer (ERR_INVALID_AUTH_CREDENTIALS)."""
    try:
        response = context.new_page().goto(url)
    except PlaywrightError as exc:
        return "ERR_INVALID_AUTH_CREDENTIALS" in str(exc)
    return response.status == 401 and response.headers["www-authenticate"].startswith("Basic")
