"""The loop every part of `bot worker` runs: take the next piece of work, rest when there is none,
and wait out a Redis that cannot be reached (it is the queue: nothing can be done without it)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .errors import StoreUnavailable

log = logging.getLogger(__name__)


def serve(name: str, run_once: Callable[[], bool], stop: threading.Event, *, idle_poll_s: float) -> None:
    """Call `run_once` (True: it did something) until `stop` is set."""
    log.info("%s started", name)
    while not stop.is_set():
        try:
            worked = run_once()
        except StoreUnavailable as exc:
            log.warning("%s: store unavailable: %s", name, exc)
            worked = False
            stop.wait(1.0)
        if not worked:
            stop.wait(idle_poll_s)
    log.info("%s stopped", name)
